//! What failure reports say about an operation, looked up by the `index`
//! field of its invocation.
//!
//! Checkers often see a sub-history (a composed run gives each part only its
//! own operations, which keep their positions in the full history as
//! `index`), so a position in the slice a checker got and an `index` are
//! different numbers. Reports name operations by `index` (the HTML report
//! and readers of `history.jsonl` find them by it); the catalog is the one
//! place that maps an `index` back to the invocation and its completion,
//! and it answers for any history, malformed ones included.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{pair, Completed, Op, OpType, Process};

/// One operation as a failure report shows it (and the HTML report draws
/// it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownOp {
    /// `index` of the invocation in the full history.
    pub index: usize,
    /// None when the history has no invocation with that index.
    pub process: Option<Process>,
    pub f: String,
    /// As the checker understood it (e.g. the one register a multi-key
    /// read showed).
    pub value: Value,
    /// The outcome; `info` when the operation never completed.
    #[serde(rename = "type")]
    pub kind: OpType,
    pub invoke_ms: f64,
    /// None while the outcome is unknown.
    pub complete_ms: Option<f64>,
    /// The master that answered.
    pub node: Option<String>,
}

pub struct Catalog<'a> {
    by_index: HashMap<usize, Completed<'a>>,
}

impl<'a> Catalog<'a> {
    pub fn new(history: &'a [Op]) -> Self {
        let mut by_index = HashMap::new();
        for c in pair(history) {
            // A malformed history may repeat an index: the first one wins,
            // which keeps reports deterministic.
            by_index.entry(c.invoke.index).or_insert(c);
        }
        Self { by_index }
    }

    pub fn get(&self, index: usize) -> Option<&Completed<'a>> {
        self.by_index.get(&index)
    }

    /// One operation of a failure report: `value` as the checker
    /// understood it (e.g. the one register a multi-key read showed), `f`,
    /// process, outcome, times and node from the history. `fallback_f` and
    /// `fallback_call` are used only when the history has no invocation
    /// with that index.
    pub fn describe(
        &self,
        index: usize,
        value: Value,
        fallback_f: &str,
        fallback_call: u64,
    ) -> ShownOp {
        let found = self.get(index);
        let done = found.and_then(|c| c.complete);
        ShownOp {
            index,
            process: found.map(|c| c.invoke.process),
            f: found
                .map_or(fallback_f, |c| c.invoke.f.as_str())
                .to_string(),
            value,
            kind: done.map_or(OpType::Info, |d| d.kind),
            invoke_ms: found.map_or(fallback_call, |c| c.invoke.time) as f64 / 1e6,
            complete_ms: done.map(|d| d.time as f64 / 1e6),
            node: done.and_then(|d| d.node.clone()),
        }
    }
}
