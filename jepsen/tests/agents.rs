//! End-to-end run of the agents workload: real masters and real agents
//! (release build, built by the harness) on loopback, an agent killed and
//! restarted and the leader killed and restarted, and the agents checker
//! must pass. The namespace run with every agent nemesis is a manual one:
//! `cargo run --release -p jepsen -- test --workload agents --nemesis
//! agent-partition,agent-pause,agent-kill,partition,kill-leader
//! --time-limit 120` (as root).

use jepsen::checker::Validity;
use jepsen::cluster::binaries;
use jepsen::net::NetWant;
use jepsen::results::Verdict;
use jepsen::runner::{run_test, TestOpts};
use jepsen::schedule::Timing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_survive_agent_kills_and_leader_kills() {
    let bins = binaries::real(None, false).expect("building and finding mesoraft and raftctl");
    let mut o = TestOpts::new("agents", &["agent-kill", "kill-leader"], bins);
    o.spec.agents = 3;
    o.spec.time_limit_s = 25;
    o.spec.seed = 3;
    o.spec.net = NetWant::Loopback;
    o.spec.timing = Timing {
        fault_min_ms: 500,
        fault_max_ms: 4000,
        quiet_min_ms: 2000,
        quiet_max_ms: 4000,
        overlap: 0.3,
    };
    o.store = jepsen::default_store().join("cargo-test");
    let out = run_test(&o).await.expect("run");
    let pretty = serde_json::to_string_pretty(&out.results).unwrap_or_default();
    assert_eq!(out.verdict(), Verdict::Pass, "{pretty}");
    for (name, inj) in &out.results.injections {
        assert!(inj.injected > 0, "{name} never injected: {inj:?}");
    }
    let agents = out
        .results
        .all_checkers()
        .find(|c| c.checker == "agents")
        .expect("the agents checker ran");
    assert_eq!(agents.valid, Validity::True, "{agents:#?}");
    let met = agents.details["windows_met"].as_u64().unwrap_or(0);
    assert!(met > 0, "no re-registration window judged: {agents:#?}");
    assert!(
        agents.details["after_failover"]["n"].as_u64().unwrap_or(0) > 0,
        "the leader kill gave no failover to judge: {agents:#?}"
    );
    // Every agent process is gone after the run.
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(" agent ") && c.contains(&out.dir.display().to_string()))
        .collect();
    assert!(left.is_empty(), "agents left running: {left:?}");
}
