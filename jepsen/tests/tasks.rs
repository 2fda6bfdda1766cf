//! End-to-end runs of the tasks workload: real masters and real agents
//! (release build, built by the harness) on loopback, frameworks of the
//! client library launching and killing tasks. With agents killed and
//! paused and the leader killed, the tasks checker must pass; with masters
//! that forget the tasks of agents they mark unreachable, it must fail.
//! The namespace run with the agent partitions is a manual one:
//! `cargo run --release -p jepsen -- test --workload tasks --nemesis
//! agent-partition,agent-pause,agent-kill,partition,kill-leader
//! --time-limit 120` (as root).

use jepsen::checker::{CheckResult, Validity};
use jepsen::cluster::binaries;
use jepsen::net::NetWant;
use jepsen::results::Verdict;
use jepsen::runner::{run_test, RunOutcome, TestOpts};
use jepsen::schedule::Timing;
use tokio::sync::Mutex;

/// One run at a time: each starts three masters and three agents.
static SERIAL: Mutex<()> = Mutex::const_new(());

fn opts(nemeses: &[&str], seed: u64, timing: Timing) -> TestOpts {
    let bins = binaries::real(None, false).expect("building and finding mesoraft and raftctl");
    let mut o = TestOpts::new("tasks", nemeses, bins);
    o.spec.agents = 3;
    o.spec.time_limit_s = 30;
    o.spec.seed = seed;
    o.spec.net = NetWant::Loopback;
    o.spec.timing = timing;
    o.store = jepsen::default_store().join("cargo-test");
    o
}

fn tasks_checker(out: &RunOutcome) -> &CheckResult {
    out.results
        .all_checkers()
        .find(|c| c.checker == "tasks")
        .expect("the tasks checker ran")
}

fn count(c: &CheckResult, name: &str) -> u64 {
    c.details["counts"][name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_once_and_end_once_through_agent_and_leader_faults() {
    let _serial = SERIAL.lock().await;
    let o = opts(
        &["agent-kill", "agent-pause", "kill-leader"],
        11,
        Timing {
            fault_min_ms: 1_000,
            fault_max_ms: 6_000,
            quiet_min_ms: 2_000,
            quiet_max_ms: 4_000,
            overlap: 0.3,
        },
    );
    let out = run_test(&o).await.expect("run");
    let pretty = serde_json::to_string_pretty(&out.results).unwrap_or_default();
    assert_eq!(out.verdict(), Verdict::Pass, "{pretty}");
    for (name, inj) in &out.results.injections {
        assert!(inj.injected > 0, "{name} never injected: {inj:?}");
    }
    let tasks = tasks_checker(&out);
    assert_eq!(tasks.valid, Validity::True, "{tasks:#?}");
    assert!(count(tasks, "launches_taken") >= 20, "{}", tasks.summary);
    assert!(count(tasks, "markers") >= 20, "{}", tasks.summary);
    assert!(count(tasks, "acks") > 0, "{}", tasks.summary);
}

/// Agents paused for longer than the masters' ping budget (3 x 1 s) are
/// marked unreachable; a master that ends their tasks then, and takes
/// them back when the agents return, must be caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_that_forgets_unreachable_tasks_fails_the_tasks_checker() {
    let _serial = SERIAL.lock().await;
    let mut o = opts(
        &["agent-pause"],
        12,
        Timing {
            fault_min_ms: 6_000,
            fault_max_ms: 8_000,
            quiet_min_ms: 2_000,
            quiet_max_ms: 3_000,
            overlap: 0.0,
        },
    );
    o.spec.forget_unreachable_tasks = true;
    let out = run_test(&o).await.expect("run");
    let tasks = tasks_checker(&out);
    assert_eq!(tasks.valid, Validity::False, "{tasks:#?}");
    assert_eq!(out.verdict(), Verdict::Fail);
    let rules: Vec<&str> = tasks.details["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["rule"].as_str())
        .collect();
    assert!(
        rules
            .iter()
            .all(|r| ["back-after-end", "two-endings"].contains(r)),
        "only the forgotten tasks' returns are problems: {rules:?}"
    );
}
