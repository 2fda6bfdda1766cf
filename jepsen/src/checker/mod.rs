//! Checkers: each looks at a finished history and says whether it satisfies
//! one property. Workloads own the checkers that fit the operations they
//! generate.

pub mod durability;
pub mod election;
pub mod leadership;
pub mod register;
pub mod sequence;
pub mod wgl;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::Op;

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

    /// As results.json writes verdicts: `true`, `false` or `"unknown"`.
    pub fn to_json(self) -> Value {
        match self {
            Validity::True => Value::Bool(true),
            Validity::False => Value::Bool(false),
            Validity::Unknown => Value::String("unknown".into()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckResult {
    pub checker: String,
    pub valid: Validity,
    /// One line for humans.
    pub summary: String,
    /// Checker-specific evidence (counterexamples, counts).
    pub details: Value,
}

pub trait Checker: Send + Sync {
    fn name(&self) -> &str;
    fn check(&self, history: &[Op]) -> CheckResult;
}

/// Reads a weight from JSON; roles absent from a read are `None`.
pub fn as_weight(v: &Value) -> Option<f64> {
    v.as_f64()
}
