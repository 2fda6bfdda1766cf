//! Checkers: each looks at a finished history and says whether it satisfies
//! one property. Workloads own the checkers that fit the operations they
//! generate.

pub mod agents;
pub mod catalog;
pub mod durability;
pub mod election;
pub mod leadership;
pub mod map;
pub mod register;
pub mod sequence;
pub mod tasks;
pub mod wgl;
pub mod window;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{pair, Completed, Op, OpType, Process};
use crate::workload::{FINAL_PROCESS, PROCESS_SPAN};

/// A checker's verdict. `Unknown` (e.g. the search ran out of its time
/// budget) is not a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    True,
    False,
    Unknown,
}

impl Validity {
    /// Combines verdicts of independent parts: any failure fails the whole,
    /// otherwise any unknown makes it unknown.
    pub fn and(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (False, _) | (_, False) => False,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => True,
        }
    }

    pub fn is_pass(self) -> bool {
        self == Validity::True
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub checker: String,
    pub valid: Validity,
    /// One line for humans.
    pub summary: String,
    /// Checker-specific evidence (counterexamples, counts).
    pub details: Value,
}

/// A checker's typed evidence as the `details` of its result. Evidence
/// types serialize into JSON objects; were one ever to fail, the result
/// says so instead of losing the verdict.
pub fn details<T: Serialize>(evidence: &T) -> Value {
    serde_json::to_value(evidence)
        .unwrap_or_else(|e| serde_json::json!({"evidence_not_serializable": e.to_string()}))
}

/// The evidence of a failed checker that the HTML report draws: the
/// linearizability failures of the register and map checkers, the
/// problems other checkers list. Other checkers' details lack both.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub failures: Vec<window::Failure>,
    /// Checker-specific, shown as they are.
    #[serde(default)]
    pub problems: Vec<Value>,
}

impl Evidence {
    /// The evidence in `details`; details of another shape have none.
    pub fn of(result: &CheckResult) -> Evidence {
        Evidence::deserialize(&result.details).unwrap_or_default()
    }
}

pub trait Checker: Send + Sync {
    fn name(&self) -> &str;
    fn check(&self, history: &[Op]) -> CheckResult;
}

/// Reads a weight from JSON; roles absent from a read are `None`.
pub fn as_weight(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Whether an invocation is a workload's final read, taken after the faults
/// were healed: `final-read`, or a `read` by a part's final process (how
/// the register workload recorded it before final reads had their own
/// name).
pub fn is_final_read(invoke: &Op) -> bool {
    match (invoke.f.as_str(), invoke.process) {
        ("final-read", _) => true,
        ("read", Process::Client(p)) => p % PROCESS_SPAN == FINAL_PROCESS,
        _ => false,
    }
}

/// The final reads that succeeded.
pub fn final_reads(history: &[Op]) -> Vec<Completed<'_>> {
    pair(history)
        .into_iter()
        .filter(|c| is_final_read(c.invoke) && c.kind() == OpType::Ok && c.complete.is_some())
        .collect()
}

/// Why a register history that broke no rule still does not show that
/// the registers kept their writes (None: it does). Without a final read
/// after healing, a write lost at the end goes unseen; without an
/// acknowledged write there was nothing to lose.
pub fn unexercised(
    final_reads: usize,
    written_keys_missing_from_final_reads: &[String],
    acknowledged_writes: usize,
) -> Option<String> {
    if final_reads == 0 {
        Some("no final read succeeded: a write lost at the end would go unseen".into())
    } else if !written_keys_missing_from_final_reads.is_empty() {
        Some(format!(
            "no final read showed {}: a write lost at the end would go unseen",
            written_keys_missing_from_final_reads.join(", ")
        ))
    } else if acknowledged_writes == 0 {
        Some("no write was acknowledged: nothing was tested".into())
    } else {
        None
    }
}

#[cfg(test)]
mod malformed_tests;
#[cfg(test)]
pub(crate) mod testing;
