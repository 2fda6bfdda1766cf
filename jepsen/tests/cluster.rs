//! End-to-end runs of the harness.
//!
//! - Against the built-in fake master (fast, always available): the whole
//!   pipeline works, passes a correct system and catches a broken one.
//! - Against the real masters (release build, built by the harness): the CI
//!   smoke run (register workload, two nemeses, ~60 s) and the deliberately
//!   broken setting (`--debug-unsafe-stale-reads`) that the checker must
//!   catch.
//! - The full matrix (every nemesis pairing, all workloads composed) is
//!   behind a flag:
//!   `cargo test -p jepsen --release --test cluster -- --ignored full_matrix`.
//!
//! Every test uses network namespaces when run as root with `ip netns`
//! working, else loopback with process faults only. Runs are serialized:
//! two clusters at once on a 2-core machine would make each other slow.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jepsen::checker::Validity;
use jepsen::cluster::binaries;
use jepsen::net::{namespaces_unusable, MethodWant, NetWant};
use jepsen::runner::{run_test, RunOutcome, TestOpts};
use jepsen::schedule::Timing;
use serde_json::Value;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fake() -> binaries::Binaries {
    binaries::fake(Path::new(env!("CARGO_BIN_EXE_jepsen")))
}

fn store() -> PathBuf {
    jepsen::default_store().join("cargo-test")
}

fn namespaces_available() -> bool {
    match namespaces_unusable(99) {
        None => true,
        Some(reason) => {
            eprintln!("network namespaces unavailable ({reason}): loopback, process faults only");
            false
        }
    }
}

fn short_timing() -> Timing {
    Timing {
        fault_min: Duration::from_secs(2),
        fault_max: Duration::from_secs(4),
        quiet_min: Duration::from_secs(1),
        quiet_max: Duration::from_secs(2),
    }
}

fn checker<'a>(out: &'a RunOutcome, name: &str) -> &'a Value {
    out.results["checkers"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["checker"] == name))
        .unwrap_or_else(|| panic!("no {name} checker in {}", out.results))
}

fn assert_run_dir(out: &RunOutcome) {
    for f in [
        "history.jsonl",
        "schedule.json",
        "results.json",
        "report.html",
    ] {
        assert!(
            out.dir.join(f).is_file(),
            "{f} missing in {}",
            out.dir.display()
        );
    }
    let logs = std::fs::read_dir(out.dir.join("nodes")).unwrap().count();
    assert!(logs >= 3, "node logs missing");
    let page = std::fs::read_to_string(out.dir.join("report.html")).unwrap();
    assert!(page.contains("<svg"), "report has plots");
}

fn nemeses_for_fake() -> Vec<&'static str> {
    if namespaces_available() {
        vec!["partition", "kill", "pause"]
    } else {
        vec!["kill", "pause"]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_register_passes_under_faults() {
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("register", &nemeses_for_fake(), fake());
    o.time_limit = Duration::from_secs(12);
    o.timing = short_timing();
    o.seed = 11;
    o.store = store();
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.valid, Validity::True, "{:#}", out.results);
    // Faults really happened and were logged in the history.
    let history = std::fs::read_to_string(out.dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"process\":\"nemesis\""));
    let ops = &out.results["stats"]["operations"];
    assert!(ops["read"]["ok"].as_u64().unwrap_or(0) > 50, "{ops}");
    assert!(ops["write"]["ok"].as_u64().unwrap_or(0) > 50, "{ops}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_stale_reads_are_caught() {
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("register", &["kill"], fake());
    o.time_limit = Duration::from_secs(6);
    o.timing = short_timing();
    o.seed = 12;
    o.store = store();
    o.stale_reads = true;
    let out = run_test(&o).await.expect("run");
    assert_eq!(out.valid, Validity::False);
    let c = checker(&out, "linearizable-register");
    assert_eq!(c["valid"], "false");
    let failure = &c["details"]["failures"][0];
    assert!(
        failure["window"].as_array().is_some_and(|w| !w.is_empty()),
        "a failing window is reported: {failure:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_election_and_durability_pass() {
    let _serial = SERIAL.lock().await;
    for (workload, nemeses) in [
        ("election", vec!["kill", "pause"]),
        ("durability", vec!["kill-all"]),
    ] {
        let mut o = TestOpts::new(workload, &nemeses, fake());
        o.time_limit = Duration::from_secs(6);
        o.timing = short_timing();
        o.seed = 13;
        o.store = store();
        let out = run_test(&o).await.expect("run");
        assert_run_dir(&out);
        assert_eq!(out.valid, Validity::True, "{workload}: {:#}", out.results);
    }
}

/// All workloads against one cluster: each part is checked on its own
/// operations and reported on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_composed_workloads_pass_each_on_its_own() {
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("all", &["kill", "pause"], fake());
    o.time_limit = Duration::from_secs(6);
    o.timing = short_timing();
    o.seed = 17;
    o.store = store();
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.valid, Validity::True, "{:#}", out.results);
    let parts = out.results["workloads"].as_array().expect("workloads");
    let names: Vec<&str> = parts
        .iter()
        .map(|w| w["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["register", "multi-register", "election", "durability"]
    );
    for w in parts {
        assert_eq!(w["valid"], true, "{w:#}");
        let writes = &w["stats"]["operations"]["write"];
        assert!(writes["ok"].as_u64().unwrap_or(0) > 0, "{w:#}");
    }
    let rows = jepsen::matrix::rows("kill+pause", &out.results, &out.dir);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.verdict == "true" && r.attempted > 0));
}

/// Multi-key writes and whole-map reads: a correct system passes, stale
/// reads are caught by the map checker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_multi_register_passes_and_stale_reads_are_caught() {
    let _serial = SERIAL.lock().await;
    for stale_reads in [false, true] {
        let mut o = TestOpts::new("multi-register", &["kill"], fake());
        o.time_limit = Duration::from_secs(6);
        o.timing = short_timing();
        o.seed = 18;
        o.store = store();
        o.stale_reads = stale_reads;
        let out = run_test(&o).await.expect("run");
        let c = checker(&out, "linearizable-map");
        if stale_reads {
            assert_eq!(out.valid, Validity::False, "{:#}", out.results);
            assert_eq!(c["valid"], "false", "{c:#}");
            let window = &c["details"]["failures"][0]["window"];
            assert!(window.as_array().is_some_and(|w| !w.is_empty()), "{c:#}");
        } else {
            assert_run_dir(&out);
            assert_eq!(out.valid, Validity::True, "{:#}", out.results);
            assert!(
                c["details"]["final_reads"].as_u64().unwrap_or(0) >= 1,
                "{c:#}"
            );
        }
    }
}

/// The stale-reads system under every workload at once: a verdict (never
/// a harness error), and each failure names only operations of its own
/// part, with their recorded times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_composed_stale_reads_fail_with_each_parts_operations() {
    use jepsen::workload::PROCESS_SPAN;
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("all", &["kill"], fake());
    o.time_limit = Duration::from_secs(6);
    o.timing = short_timing();
    o.seed = 19;
    o.store = store();
    o.stale_reads = true;
    let out = run_test(&o).await.expect("run");
    assert!(out.results["error"].is_null(), "{:#}", out.results);
    assert_eq!(out.valid, Validity::False, "{:#}", out.results);
    let history = jepsen::history::read_jsonl(&out.dir.join("history.jsonl")).unwrap();
    for (name, part) in [("linearizable-register", 0u64), ("linearizable-map", 1)] {
        let c = checker(&out, name);
        assert_eq!(c["valid"], "false", "{c:#}");
        let failure = &c["details"]["failures"][0];
        let window = failure["window"].as_array().expect("window");
        assert!(!window.is_empty(), "{failure:#}");
        for op in window.iter().chain([&failure["stuck_op"]]) {
            let index = op["index"].as_u64().expect("index") as usize;
            let inv = &history[index];
            assert_eq!(inv.index, index);
            let jepsen::history::Process::Client(p) = inv.process else {
                panic!("{op:#} is a nemesis record");
            };
            assert_eq!(p / PROCESS_SPAN, part, "{name}: {op:#} is another part's");
            assert_eq!(
                op["invoke_ms"],
                serde_json::json!(inv.time as f64 / 1e6),
                "{op:#}"
            );
            if let Some(key) = failure["key"].as_str() {
                let of_key = inv.key.as_deref() == Some(key) || inv.key.is_none();
                assert!(of_key, "{op:#} is not an operation on {key}");
            }
        }
    }
}

/// Leaves nothing behind: no namespace or bridge of ours, no master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_leaves_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("register", &["kill"], fake());
    o.time_limit = Duration::from_secs(2);
    o.seed = 14;
    o.store = store();
    o.net = if namespaces_available() {
        NetWant::Namespaces
    } else {
        NetWant::Loopback
    };
    let out = run_test(&o).await.expect("run");
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("fake-master") && c.contains(&out.dir.display().to_string()))
        .collect();
    assert!(pids.is_empty(), "masters left running: {pids:?}");
    if o.net == NetWant::Namespaces {
        // "network namespaces on bridge jepKbr (...)": this run's slot.
        let network = out.results["network"].as_str().unwrap_or("");
        let bridge = network
            .split_whitespace()
            .find(|w| w.starts_with("jep") && w.ends_with("br"))
            .expect("bridge named in results");
        assert!(
            jepsen::net::ip(&["link", "show", bridge]).is_err(),
            "bridge {bridge} left"
        );
        let prefix = format!("{}n", bridge.trim_end_matches("br"));
        let list = jepsen::net::ip(&["netns", "list"]).unwrap();
        assert!(
            !list.lines().any(|l| l.starts_with(&prefix)),
            "namespaces left: {list}"
        );
    }
}

/// The real masters, in release mode, built by the harness.
fn real() -> binaries::Binaries {
    binaries::real(None, false).expect("building and finding mesoraft and raftctl")
}

/// The CI smoke run: register workload, two nemeses, about a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_register_with_two_nemeses() {
    let bins = real();
    let _serial = SERIAL.lock().await;
    let nemeses = if namespaces_available() {
        vec!["partition", "kill"]
    } else {
        vec!["kill", "pause"]
    };
    let mut o = TestOpts::new("register", &nemeses, bins);
    o.time_limit = Duration::from_secs(45);
    o.seed = 7;
    o.store = store();
    o.partition_method = MethodWant::Auto;
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.valid, Validity::True, "{:#}", out.results);
}

/// The deliberately broken setting: every master answers GET_WEIGHTS from
/// its local copy. Stale reads must be caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_on_the_real_cluster_are_caught() {
    let bins = real();
    let _serial = SERIAL.lock().await;
    // Partitions and pauses leave a follower behind while the majority moves
    // on; without namespaces, pause and kill/restart do.
    let nemeses = if namespaces_available() {
        vec!["partition", "partition-leader", "pause"]
    } else {
        vec!["pause", "kill"]
    };
    let mut o = TestOpts::new("register", &nemeses, bins);
    o.time_limit = Duration::from_secs(45);
    o.seed = 8;
    o.store = store();
    o.stale_reads = true;
    o.concurrency = 6;
    o.workload_opts.read_ratio = 0.7;
    let out = run_test(&o).await.expect("run");
    let c = checker(&out, "linearizable-register");
    assert_eq!(
        c["valid"], "false",
        "stale reads went unnoticed: {:#}",
        out.results
    );
}

/// Every nemesis pairing with all workloads composed, 60 s per run (about
/// 15 minutes). Longer runs: `cargo run --release -p jepsen -- test --all
/// --time-limit 300 [--masters 5]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full matrix: cargo test -p jepsen --release --test cluster -- --ignored full_matrix"]
async fn full_matrix() {
    let bins = real();
    let _serial = SERIAL.lock().await;
    let mut o = TestOpts::new("all", &[], bins);
    o.seed = 1;
    o.store = store();
    let passed = jepsen::matrix::run_all(&o).await.expect("matrix");
    assert!(
        passed,
        "see the table above and in {}/matrix",
        store().display()
    );
}
