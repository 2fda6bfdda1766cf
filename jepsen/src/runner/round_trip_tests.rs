//! `results.json` round trip: what the runner writes is exactly what the
//! HTML report, the matrix table and `check --rewrite` read back, and each
//! of them shows the verdicts the run reached (a violation stays a
//! failure, an untested fault stays untested).

use crate::figures;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::recheck::recheck;
use super::{judge_parts, rejudge, write_results};
use crate::checker::testing::Builder;
use crate::checker::{Evidence, Validity};
use crate::convergence::{self, CONVERGENCE_PART};
use crate::history::{self, Op, OpType};
use crate::results::{Injections, RunResults, UnexpectedExit, Verdict, FORMAT};
use crate::spec::RunSpec;
use crate::workload::PROCESS_SPAN;
use crate::{matrix, report, workload};

const BUDGET: Duration = Duration::from_secs(30);

/// A register history (`stale`: a read returns an overwritten value) that
/// ends with a final read and one converged convergence round.
fn history(stale: bool) -> Vec<Op> {
    let mut b = Builder::default();
    b.write(0, "a", 1.0, 0, 1, OpType::Ok)
        .write(0, "a", 2.0, 2, 3, OpType::Ok)
        .read(1, "a", Some(if stale { 1.0 } else { 2.0 }), 4, 5)
        .final_read(json!({"a": 2.0}), 6, 7);
    for id in 1..=3 {
        let report = json!({"id": id, "role": if id == 1 { "leader" } else { "follower" },
                            "round": 0, "applied_index": 5, "applied_term": 1,
                            "crc32": "aa", "members": [1, 2, 3]});
        b.op(
            CONVERGENCE_PART * PROCESS_SPAN + id,
            "status",
            None,
            json!(null),
            8,
            OpType::Ok,
            report,
            Some(9),
        );
    }
    b.build()
}

/// The results the runner's check phase reaches on `history` with these
/// findings.
fn judged(history: &[Op], edit: impl FnOnce(&mut RunResults)) -> RunResults {
    let spec = RunSpec {
        workload: "register".into(),
        nemeses: vec!["kill".into()],
        ..RunSpec::default()
    };
    let mut results = RunResults::empty("register-kill", spec);
    results.injections.insert(
        "kill".into(),
        Injections {
            attempted: 2,
            injected: 2,
            ..Default::default()
        },
    );
    edit(&mut results);
    let parts = workload::by_name(&results.spec.workload, &results.spec.workload_opts())
        .expect("register workload")
        .checkers_by_part(BUDGET)
        .into_iter()
        .map(|(name, checkers)| (name, checkers.iter().map(|c| c.check(history)).collect()))
        .collect();
    if results.recovered_after_heal && results.error.is_none() {
        results.run_checks = vec![convergence::check(history)];
    }
    results.stats = figures::stats(history, results.spec.concurrency as u64);
    results.workloads = judge_parts(&results, history, parts);
    rejudge(&mut results);
    results
}

/// Writes the run as the persist phase does and checks that every reader
/// gets back what was written.
fn round_trip(dir: &Path, results: &RunResults, history: &[Op]) -> RunResults {
    history::write_jsonl(&dir.join("history.jsonl"), history).expect("history");
    write_results(dir, results, history).expect("write");
    let read = RunResults::read(&dir.join("results.json")).expect("read back");
    assert_eq!(&read, results, "results.json changed on the way");

    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert_eq!(html, report::html::render(&read, history));

    let table = matrix::render(&matrix::rows("kill", &read, dir));
    assert_eq!(table, matrix::render(&matrix::rows("kill", results, dir)));

    let (rechecked, _) = recheck(dir, None, BUDGET).expect("recheck");
    assert_eq!(&rechecked, results, "check --rewrite would change the run");
    read
}

#[test]
fn a_violation_in_a_run_that_broke_reads_back_as_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = history(true);
    let results = judged(&h, |r| {
        r.error = Some("workload: connection refused".into());
        r.unexpected_exits.push(UnexpectedExit {
            node: 2,
            status: "exit status: 1".into(),
        });
    });
    assert_eq!(results.verdict, Verdict::Fail, "{:?}", results.reasons);
    let read = round_trip(dir.path(), &results, &h);

    assert_eq!(read.workloads[0].verdict, Verdict::Fail);
    let register = read
        .all_checkers()
        .find(|c| c.checker == "linearizable-register")
        .expect("register checker");
    assert_eq!(register.valid, Validity::False);
    let failure = &Evidence::of(register).failures[0];
    assert_eq!(failure.key.as_deref(), Some("a"));
    assert!(!failure.window.is_empty());

    let html = report::html::render(&read, &h);
    assert!(html.contains("FAIL"), "{html}");
    assert!(html.contains(&failure.explanation), "the failure is drawn");
    let table = matrix::render(&matrix::rows("kill", &read, dir.path()));
    assert!(table.contains("| FAIL |"), "{table}");
    assert!(!table.contains("ERROR"), "{table}");
}

#[test]
fn an_untested_fault_reads_back_as_untested_and_a_clean_run_as_a_pass() {
    let h = history(false);
    let clean = judged(&h, |_| {});
    assert_eq!(clean.verdict, Verdict::Pass, "{:?}", clean.reasons);
    let dir = tempfile::tempdir().expect("tempdir");
    let read = round_trip(dir.path(), &clean, &h);
    assert!(matrix::render(&matrix::rows("kill", &read, dir.path())).contains("| pass |"));

    let untested = judged(&h, |r| {
        r.injections.insert(
            "kill".into(),
            Injections {
                skipped: Some("no namespaces".into()),
                ..Default::default()
            },
        );
    });
    assert_eq!(untested.verdict, Verdict::Untested);
    let dir = tempfile::tempdir().expect("tempdir");
    let read = round_trip(dir.path(), &untested, &h);
    assert_eq!(read.workloads[0].verdict, Verdict::Untested);
    let table = matrix::render(&matrix::rows("kill", &read, dir.path()));
    assert!(
        table.contains("| kill skipped (no namespaces) |") && table.contains("| untested |"),
        "{table}"
    );
}

#[test]
fn every_verdict_keeps_its_spelling_on_disk() {
    for (v, word) in [
        (Verdict::Pass, "pass"),
        (Verdict::Fail, "fail"),
        (Verdict::Error, "error"),
        (Verdict::Unknown, "unknown"),
        (Verdict::Untested, "untested"),
    ] {
        assert_eq!(serde_json::to_value(v).expect("verdict"), json!(word));
        assert_eq!(serde_json::from_value::<Verdict>(json!(word)).ok(), Some(v));
    }
}

#[test]
fn results_of_another_format_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("results.json");
    let mut old = serde_json::to_value(RunResults::empty("t", RunSpec::default())).expect("json");
    old["format"] = json!(1);
    std::fs::write(&path, old.to_string()).expect("write");
    let err = format!("{:#}", RunResults::read(&path).expect_err("format 1"));
    assert!(
        err.contains(&path.display().to_string())
            && err.contains(&format!("format {FORMAT}"))
            && err.contains("jepsen check"),
        "{err}"
    );
    // The layout of the old harness (a bool `valid` at the top).
    std::fs::write(&path, r#"{"valid": true, "results": {}}"#).expect("write");
    let err = format!("{:#}", RunResults::read(&path).expect_err("old layout"));
    assert!(
        err.contains("format none") && err.contains("re-run"),
        "{err}"
    );
}
