//! The third phase of a run: every workload's checkers on its own
//! operations, the run-level checks, and the verdicts under the run's
//! findings. `check --rewrite` re-judges stored results with the same
//! functions, so a re-check reaches the verdict a run would have.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::drive::Driven;
use super::TestOpts;
use crate::checker::CheckResult;
use crate::convergence;
use crate::figures;
use crate::history::Op;
use crate::results::{
    judge, Injections, RunFindings, RunResults, UnexpectedExit, Verdict, WorkloadResults, FORMAT,
};
use crate::workload::{self, composed::Composed};

/// What the run found outside the history, judged with the checkers.
pub(super) struct CheckInputs {
    pub(super) driven: Driven,
    pub(super) exits: Vec<UnexpectedExit>,
    pub(super) injections: BTreeMap<String, Injections>,
    pub(super) network: String,
    pub(super) duration_s: f64,
}

/// Every workload's checkers on its own operations, the run-level checks,
/// and the verdicts. A checker that panics is reported as an error of the
/// harness, never as a pass and never as a crash of the run.
pub(super) async fn check(
    opts: &TestOpts,
    workload: &Composed,
    shared: Arc<Vec<Op>>,
    inputs: CheckInputs,
) -> anyhow::Result<RunResults> {
    let budget = Duration::from_secs(opts.spec.check_budget_s);
    let mut parts: Vec<(String, Vec<CheckResult>)> = Vec::new();
    for (name, checkers) in workload.checkers_by_part(budget) {
        let mut own = Vec::new();
        for checker in checkers {
            let h = shared.clone();
            let checker_name = checker.name().to_string();
            let r = tokio::task::spawn_blocking(move || checker.check(&h))
                .await
                .unwrap_or_else(|e| crate::results::checker_crashed(&checker_name, &e.to_string()));
            eprintln!(
                "jepsen:   {name:<14} {:<24} {:?}: {}",
                r.checker, r.valid, r.summary
            );
            own.push(r);
        }
        parts.push((name, own));
    }
    let run_checks = if inputs.driven.recovered_after_heal && inputs.driven.error.is_none() {
        let h = shared.clone();
        vec![tokio::task::spawn_blocking(move || convergence::check(&h))
            .await
            .unwrap_or_else(|e| crate::results::checker_crashed("convergence", &e.to_string()))]
    } else {
        Vec::new()
    };
    let mut results = RunResults {
        format: FORMAT,
        test: opts.test_name(),
        verdict: Verdict::Pass,
        reasons: Vec::new(),
        spec: opts.spec.clone(),
        reproduce: opts.reproduce(),
        network: inputs.network,
        binaries: opts.binaries.describe.clone(),
        duration_s: inputs.duration_s,
        error: inputs.driven.error,
        heal_problems: inputs.driven.heal_problems,
        recovered_after_heal: inputs.driven.recovered_after_heal,
        unexpected_exits: inputs.exits,
        injections: inputs.injections,
        run_checks,
        workloads: Vec::new(),
        stats: figures::stats(&shared, opts.spec.concurrency as u64),
    };
    results.workloads = judge_parts(&results, &shared, parts);
    rejudge(&mut results);
    Ok(results)
}

/// Each workload's results: its checkers, its figures, its verdict under
/// the run's findings.
pub fn judge_parts(
    results: &RunResults,
    history: &[Op],
    parts: Vec<(String, Vec<CheckResult>)>,
) -> Vec<WorkloadResults> {
    let findings = findings(results);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (workload, checkers))| {
            let ops = workload::composed::part_history(history, i);
            let (verdict, _) = judge(&checkers, &findings);
            WorkloadResults {
                workload,
                verdict,
                stats: figures::stats(&ops, results.spec.concurrency as u64),
                checkers,
            }
        })
        .collect()
}

fn findings(results: &RunResults) -> RunFindings<'_> {
    RunFindings {
        error: results.error.as_deref(),
        heal_problems: &results.heal_problems,
        recovered_after_heal: results.recovered_after_heal,
        unexpected_exits: &results.unexpected_exits,
        injections: Some(&results.injections),
        run_checks: &results.run_checks,
    }
}

/// The run's verdict and reasons from its workloads' checkers and its
/// findings (also used by `check --rewrite`, so a stored error is never
/// rewritten into a pass).
pub fn rejudge(results: &mut RunResults) {
    let checkers: Vec<CheckResult> = results
        .workloads
        .iter()
        .flat_map(|w| w.checkers.iter().cloned())
        .collect();
    let (verdict, reasons) = judge(&checkers, &findings(results));
    results.verdict = verdict;
    results.reasons = reasons;
}
