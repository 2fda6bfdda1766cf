//! `jepsen check`: the checkers of a stored run again, on its recorded
//! history, judged with the run's stored findings (harness error,
//! injections, unexpected exits), so a run that broke or tested nothing is
//! never rewritten into a pass.

use std::path::Path;
use std::time::Duration;

use super::{judge_parts, rejudge};
use crate::history::{self, Op};
use crate::results::RunResults;
use crate::spec::RunSpec;
use crate::{convergence, figures, workload};

/// The stored run in `dir` re-checked: its results with fresh checker
/// verdicts, figures and verdict, and the history they were computed on.
/// `workload` overrides the stored one; without a readable results.json
/// it is required, and the run counts as one that did not finish.
pub fn recheck(
    dir: &Path,
    workload: Option<String>,
    budget: Duration,
) -> anyhow::Result<(RunResults, Vec<Op>)> {
    let history = history::read_jsonl(&dir.join("history.jsonl"))?;
    let results_path = dir.join("results.json");
    let mut results = match RunResults::read(&results_path) {
        Ok(r) => r,
        Err(e) => {
            let Some(w) = &workload else {
                return Err(e.context("give --workload to re-check this history"));
            };
            let spec = RunSpec {
                workload: w.clone(),
                ..RunSpec::default()
            };
            let mut r = RunResults::empty(&dir.display().to_string(), spec);
            r.error = Some(format!(
                "no usable results.json ({e:#}): the run did not finish"
            ));
            r
        }
    };
    if let Some(w) = workload {
        results.spec.workload = w;
    }
    let parts = workload::by_name(&results.spec.workload, &results.spec.workload_opts())?
        .checkers_by_part(budget);
    let mut checked = Vec::new();
    for (name, checkers) in parts {
        let own: Vec<_> = checkers.iter().map(|c| c.check(&history)).collect();
        checked.push((name, own));
    }
    if results.recovered_after_heal && results.error.is_none() {
        results.run_checks = vec![convergence::check(&history)];
    }
    results.stats = figures::stats(&history, results.spec.concurrency as u64);
    results.workloads = judge_parts(&results, &history, checked);
    rejudge(&mut results);
    Ok((results, history))
}
