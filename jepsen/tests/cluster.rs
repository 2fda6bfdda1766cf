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

use jepsen::checker::{CheckResult, Validity};
use jepsen::cluster::binaries;
use jepsen::net::{namespaces_unusable, MethodWant, NetWant};
use jepsen::results::Verdict;
use jepsen::runner::{run_test, RunOutcome, TestOpts};
use jepsen::schedule::Timing;

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
        fault_min_ms: 300,
        fault_max_ms: 2000,
        quiet_min_ms: 500,
        quiet_max_ms: 1500,
        overlap: 0.3,
    }
}

fn checker<'a>(out: &'a RunOutcome, name: &str) -> &'a CheckResult {
    out.results
        .all_checkers()
        .find(|c| c.checker == name)
        .unwrap_or_else(|| panic!("no {name} checker in {:#?}", out.results))
}

fn pretty(out: &RunOutcome) -> String {
    serde_json::to_string_pretty(&out.results).unwrap_or_default()
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

/// A short run against the fake masters.
fn fake_opts(workload: &str, nemeses: &[&str], seconds: u64, seed: u64) -> TestOpts {
    let mut o = TestOpts::new(workload, nemeses, fake());
    o.spec.time_limit_s = seconds;
    o.spec.timing = short_timing();
    o.spec.seed = seed;
    o.store = store();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_register_passes_under_faults() {
    let _serial = SERIAL.lock().await;
    let o = fake_opts("register", &nemeses_for_fake(), 12, 11);
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.verdict(), Verdict::Pass, "{}", pretty(&out));
    // Faults really happened, were counted and logged in the history.
    let history = std::fs::read_to_string(out.dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"process\":\"nemesis\""));
    for (name, inj) in &out.results.injections {
        assert!(inj.injected > 0, "{name}: {inj:?}");
    }
    let ops = &out.results.stats.operations;
    assert!(ops["read"].ok > 50, "{ops:?}");
    assert!(ops["write"].ok > 50, "{ops:?}");
    let convergence = checker(&out, "convergence");
    assert_eq!(convergence.valid, Validity::True, "{convergence:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_stale_reads_are_caught() {
    let _serial = SERIAL.lock().await;
    let mut o = fake_opts("register", &["kill"], 6, 12);
    o.spec.stale_reads = true;
    let out = run_test(&o).await.expect("run");
    assert_eq!(out.verdict(), Verdict::Fail);
    let c = checker(&out, "linearizable-register");
    assert_eq!(c.valid, Validity::False);
    let failure = &c.details["failures"][0];
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
        let o = fake_opts(workload, &nemeses, 8, 13);
        let out = run_test(&o).await.expect("run");
        assert_run_dir(&out);
        assert_eq!(out.verdict(), Verdict::Pass, "{workload}: {}", pretty(&out));
    }
}

/// All workloads against one cluster: each part is checked on its own
/// operations and reported on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_composed_workloads_pass_each_on_its_own() {
    let _serial = SERIAL.lock().await;
    let o = fake_opts("all", &["kill", "pause"], 8, 17);
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.verdict(), Verdict::Pass, "{}", pretty(&out));
    let names: Vec<&str> = out
        .results
        .workloads
        .iter()
        .map(|w| w.workload.as_str())
        .collect();
    assert_eq!(names, jepsen::workload::ALL);
    for w in &out.results.workloads {
        assert_eq!(w.verdict, Verdict::Pass, "{w:#?}");
        assert!(w.stats.operations["write"].ok > 0, "{w:#?}");
    }
    let rows = jepsen::matrix::rows("kill+pause", &out.results, &out.dir);
    assert_eq!(rows.len(), jepsen::workload::ALL.len());
    assert!(rows
        .iter()
        .all(|r| r.verdict == Verdict::Pass && r.counts.attempted() > 0));
}

/// A fault that cannot be injected makes the run `untested`, never a pass;
/// a master that exits by itself fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_untested_faults_and_crashed_masters_are_not_a_pass() {
    let _serial = SERIAL.lock().await;
    // The fake has no raftctl: the membership nemesis is skipped.
    let o = fake_opts("register", &["membership", "kill"], 5, 21);
    let out = run_test(&o).await.expect("run");
    assert_eq!(out.verdict(), Verdict::Untested, "{}", pretty(&out));
    let skipped = &out.results.injections["membership"];
    assert!(skipped.skipped.is_some(), "{skipped:?}");
    assert!(out.results.reasons.iter().any(|r| r.contains("membership")));
    let rows = jepsen::matrix::rows("membership+kill", &out.results, &out.dir);
    let table = jepsen::matrix::render(&rows);
    assert!(table.contains("untested"), "{table}");
    assert!(table.contains("membership skipped"), "{table}");

    // A master that dies on its own is a failure of the system.
    let mut o = fake_opts("register", &[], 6, 22);
    o.binaries
        .master_prefix
        .extend(["--debug-exit-after-ms".into(), "2500".into()]);
    let out = run_test(&o).await.expect("run");
    assert_eq!(out.verdict(), Verdict::Fail, "{}", pretty(&out));
    assert!(!out.results.unexpected_exits.is_empty(), "{}", pretty(&out));
}

/// Multi-key writes and whole-map reads: a correct system passes, stale
/// reads are caught by the map checker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_cluster_multi_register_passes_and_stale_reads_are_caught() {
    let _serial = SERIAL.lock().await;
    for stale_reads in [false, true] {
        let mut o = fake_opts("multi-register", &["kill"], 6, 18);
        o.spec.stale_reads = stale_reads;
        let out = run_test(&o).await.expect("run");
        let c = checker(&out, "linearizable-map");
        if stale_reads {
            assert_eq!(out.verdict(), Verdict::Fail, "{}", pretty(&out));
            assert_eq!(c.valid, Validity::False, "{c:#?}");
            let window = &c.details["failures"][0]["window"];
            assert!(window.as_array().is_some_and(|w| !w.is_empty()), "{c:#?}");
        } else {
            assert_run_dir(&out);
            assert_eq!(out.verdict(), Verdict::Pass, "{}", pretty(&out));
            assert!(
                c.details["final_reads"].as_u64().unwrap_or(0) >= 1,
                "{c:#?}"
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
    let mut o = fake_opts("all", &["kill"], 6, 19);
    o.spec.stale_reads = true;
    let out = run_test(&o).await.expect("run");
    assert!(out.results.error.is_none(), "{}", pretty(&out));
    assert_eq!(out.verdict(), Verdict::Fail, "{}", pretty(&out));
    let history = jepsen::history::read_jsonl(&out.dir.join("history.jsonl")).unwrap();
    for (name, part) in [("linearizable-register", 0u64), ("linearizable-map", 1)] {
        let c = checker(&out, name);
        assert_eq!(c.valid, Validity::False, "{c:#?}");
        let failure = &c.details["failures"][0];
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
    let mut o = fake_opts("register", &["kill"], 2, 14);
    o.spec.net = if namespaces_available() {
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
    if o.spec.net == NetWant::Namespaces {
        // "network namespaces on bridge jepKbr (...)": this run's slot.
        let network = &out.results.network;
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
    o.spec.time_limit_s = 45;
    o.spec.seed = 7;
    o.spec.partition_method = MethodWant::Auto;
    o.store = store();
    let out = run_test(&o).await.expect("run");
    assert_run_dir(&out);
    assert_eq!(out.verdict(), Verdict::Pass, "{}", pretty(&out));
}

/// The deliberately broken setting: every master answers GET_WEIGHTS from
/// its local copy. With every workload composed against one cluster, run
/// the way `test --all` runs it, the stale reads must FAIL the register
/// workloads (never an error of the harness), and every operation a
/// failure explanation names must be one of that register's operations,
/// in time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_on_the_real_cluster_fail_composed_runs_of_the_matrix() {
    let bins = real();
    let _serial = SERIAL.lock().await;
    // Partitions and pauses leave a follower behind while the majority moves
    // on; without namespaces, pause and kill/restart do.
    let nemeses: Vec<String> = if namespaces_available() {
        vec![
            "partition".into(),
            "partition-leader".into(),
            "pause".into(),
        ]
    } else {
        vec!["pause".into(), "kill".into()]
    };
    let mut o = TestOpts::new("all", &[], bins);
    o.spec.time_limit_s = 45;
    o.spec.seed = 8;
    o.spec.masters = 3;
    o.spec.stale_reads = true;
    o.spec.concurrency = 6;
    o.spec.read_ratio = 0.7;
    o.store = store();
    let worst = jepsen::matrix::run_pairings(&o, std::slice::from_ref(&nemeses))
        .await
        .expect("matrix");
    assert_eq!(worst, Verdict::Fail, "stale reads went unnoticed");
    // The run directory of that one row.
    let mut named = o.clone();
    named.spec.nemeses = nemeses.clone();
    let runs = store().join(named.test_name());
    let newest = std::fs::read_dir(&runs)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .max()
        .expect("a run directory");
    let results = jepsen::results::RunResults::read(&newest.join("results.json")).unwrap();
    assert!(
        results.error.is_none(),
        "no harness error: {:?}",
        results.error
    );
    let register = results
        .workloads
        .iter()
        .find(|w| w.workload == "register")
        .unwrap();
    assert_eq!(register.verdict, Verdict::Fail);
    let history = jepsen::history::read_jsonl(&newest.join("history.jsonl")).unwrap();
    for c in register
        .checkers
        .iter()
        .filter(|c| c.valid == Validity::False)
    {
        for failure in c.details["failures"].as_array().into_iter().flatten() {
            let key = failure["key"].as_str().unwrap();
            let window = failure["window"].as_array().cloned().unwrap_or_default();
            let mut last_invoke = f64::MIN;
            for op in &window {
                let index = op["index"].as_u64().unwrap() as usize;
                let invoke = &history[index];
                assert_eq!(invoke.kind, jepsen::history::OpType::Invoke, "{op}");
                let concerns_key = invoke.key.as_deref() == Some(key)
                    || (invoke.key.is_none() && invoke.f.contains("read"));
                assert!(concerns_key, "{op} is not an operation on {key}");
                let t = op["invoke_ms"].as_f64().unwrap();
                assert_eq!(t, invoke.time as f64 / 1e6, "{op}: invoke time");
                assert!(t >= last_invoke, "window in time order");
                last_invoke = t;
            }
        }
    }
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
    o.spec.seed = 1;
    o.spec.masters = 5;
    o.store = store();
    let worst = jepsen::matrix::run_all(&o).await.expect("matrix");
    assert_eq!(
        worst,
        Verdict::Pass,
        "see the table above and in {}/matrix",
        store().display()
    );
}

/// The crash nemesis can fail: masters that acknowledge log writes without
/// syncing them (`--debug-unsafe-skip-fsync`) lose acknowledged writes when
/// every master crashes and its unsynced data is dropped, and the
/// durability workload must FAIL. (The same run on the normal build passes;
/// the matrix runs it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_fsyncs_fail_the_lose_unsynced_nemesis() {
    if let Err(why) = jepsen::lazyfs::LazyFs::supported() {
        eprintln!("skipped: lazyfs not available here: {why}");
        return;
    }
    let bins = real();
    let _serial = SERIAL.lock().await;
    let nemeses: Vec<String> = vec!["lose-unsynced-all".into()];
    let mut o = TestOpts::new("durability", &[], bins);
    o.spec.time_limit_s = 30;
    o.spec.seed = 11;
    o.spec.masters = 3;
    o.spec.skip_fsync = true;
    o.store = store();
    let worst = jepsen::matrix::run_pairings(&o, std::slice::from_ref(&nemeses))
        .await
        .expect("matrix");
    assert_eq!(
        worst,
        Verdict::Fail,
        "acknowledged writes lost without notice"
    );
}
