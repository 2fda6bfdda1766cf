//! Several workloads against one cluster under one fault schedule.
//!
//! Each part runs with its own clients in its own process-number range
//! ([`PROCESS_SPAN`]) and its own keys, so the parts do not see each
//! other's operations; each part's checkers get the history restricted to
//! that part's operations plus every nemesis event. One run then checks
//! registers, elections and durability under the same faults, which is
//! what makes a matrix of long runs affordable.

use std::time::Duration;

use futures::future::BoxFuture;

use super::{Workload, WorkloadCtx, PROCESS_SPAN};
use crate::checker::{CheckResult, Checker};
use crate::history::{Op, Process};

pub struct Composed {
    name: String,
    parts: Vec<Box<dyn Workload>>,
}

impl Composed {
    pub fn new(parts: Vec<Box<dyn Workload>>) -> Self {
        let name = parts.iter().map(|p| p.name()).collect::<Vec<_>>().join("+");
        Self { name, parts }
    }
}

/// The context part `i` runs with.
fn part_ctx(ctx: &WorkloadCtx, i: usize) -> WorkloadCtx {
    let mut part = ctx.clone();
    part.process_base = ctx.process_base + i as u64 * PROCESS_SPAN;
    part
}

/// The operations of part `i` (by process range) and all nemesis events.
pub fn part_history(history: &[Op], i: usize) -> Vec<Op> {
    history
        .iter()
        .filter(|op| match op.process {
            Process::Nemesis => true,
            Process::Client(p) => p / PROCESS_SPAN == i as u64,
        })
        .cloned()
        .collect()
}

impl Workload for Composed {
    fn name(&self) -> &str {
        &self.name
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let ctxs: Vec<WorkloadCtx> = (0..self.parts.len()).map(|i| part_ctx(ctx, i)).collect();
            let runs = self.parts.iter().zip(&ctxs).map(|(p, c)| p.run(c));
            for result in futures::future::join_all(runs).await {
                result?;
            }
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // In order: a part's final phase may restart the cluster
            // (durability's kill-all), which the parts before it must not
            // overlap with.
            for (i, part) in self.parts.iter().enumerate() {
                part.finish(&part_ctx(ctx, i)).await?;
            }
            Ok(())
        })
    }

    fn checkers(&self, check_budget: Duration) -> Vec<Box<dyn Checker>> {
        self.checkers_by_part(check_budget)
            .into_iter()
            .flat_map(|(_, checkers)| checkers)
            .collect()
    }
}

/// A workload's name and the checkers of its operations.
pub type PartCheckers = (String, Vec<Box<dyn Checker>>);

impl Composed {
    /// Each part with the checkers of its own operations.
    pub fn checkers_by_part(&self, check_budget: Duration) -> Vec<PartCheckers> {
        self.parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let checkers = part
                    .checkers(check_budget)
                    .into_iter()
                    .map(|inner| Box::new(PartChecker { part: i, inner }) as Box<dyn Checker>)
                    .collect();
                (part.name().to_string(), checkers)
            })
            .collect()
    }
}

/// A part's checker, fed only that part's operations.
struct PartChecker {
    part: usize,
    inner: Box<dyn Checker>,
}

impl Checker for PartChecker {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        self.inner.check(&part_history(history, self.part))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::history::{OpType, Recorder};
    use crate::nemesis_record::NemesisRecord;

    #[test]
    fn each_part_sees_its_own_operations_and_every_fault() {
        let rec = Recorder::new(std::time::Instant::now());
        let a = rec.invoke(Process::Client(3), "write", Some("k"), json!(1));
        rec.complete(a, OpType::Ok, json!(null), None, None);
        rec.nemesis("start", &NemesisRecord::new("kill"), None);
        let b = rec.invoke(Process::Client(PROCESS_SPAN + 3), "read", None, json!(null));
        rec.complete(b, OpType::Ok, json!({}), None, None);
        let history = rec.snapshot();

        let first = part_history(&history, 0);
        assert_eq!(first.len(), 3);
        assert!(first
            .iter()
            .all(|op| op.process != Process::Client(PROCESS_SPAN + 3)));
        let second = part_history(&history, 1);
        assert_eq!(second.len(), 3);
        assert!(second.iter().all(|op| op.process != Process::Client(3)));
        // Indexes stay those of the full history (reports point into it).
        assert_eq!(second.last().unwrap().index, history.len() - 1);
    }
}
