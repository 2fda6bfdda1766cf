//! Never two masters answering as leader at once.
//!
//! History shape: `get-master` operations, node = the polled master, value
//! on completion `{"leader": true}` when that master answered GET_MASTER
//! itself (HTTP 200) and `{"leader": false}` when it redirected or had no
//! leader. A leader answer was produced at some instant within its
//! operation's interval. Two answers from different masters whose
//! intervals overlap in real time mean two masters acted as leader at
//! overlapping times: a master must stop answering as leader (its lease
//! must run out) before another can be elected, with a margin larger than
//! an answer takes, so in a correct system such intervals never overlap.

use serde_json::{json, Value};

use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType};

pub struct LeadershipChecker;

/// `f` of the operations this checker reads.
pub const GET_MASTER: &str = "get-master";

struct Claim<'a> {
    node: &'a str,
    invoke: u64,
    complete: u64,
    index: usize,
}

impl Checker for LeadershipChecker {
    fn name(&self) -> &str {
        "one-leader-at-a-time"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let mut claims: Vec<Claim> = pair(history)
            .into_iter()
            .filter(|c| c.invoke.f == GET_MASTER && c.kind() == OpType::Ok)
            .filter_map(|c| {
                let done = c.complete?;
                (done.value["leader"] == true).then_some(Claim {
                    node: done.node.as_deref().unwrap_or("?"),
                    invoke: c.invoke.time,
                    complete: done.time,
                    index: c.invoke.index,
                })
            })
            .collect();
        let polls = pair(history)
            .iter()
            .filter(|c| c.invoke.f == GET_MASTER && c.kind() == OpType::Ok)
            .count();
        // Claims answered by the same master never conflict.
        claims.sort_by_key(|c| c.invoke);
        // Sweep in invocation order, keeping the claims still open.
        let mut problems: Vec<Value> = Vec::new();
        let mut open: Vec<&Claim> = Vec::new();
        for c in &claims {
            open.retain(|o| o.complete >= c.invoke);
            if let Some(other) = open.iter().find(|o| o.node != c.node) {
                problems.push(json!({
                    "problem": "two masters answered as leader at overlapping times",
                    "first": {"node": other.node, "index": other.index,
                              "invoke_ms": other.invoke as f64 / 1e6, "complete_ms": other.complete as f64 / 1e6},
                    "second": {"node": c.node, "index": c.index,
                               "invoke_ms": c.invoke as f64 / 1e6, "complete_ms": c.complete as f64 / 1e6},
                }));
            }
            open.push(c);
        }
        let valid = if !problems.is_empty() {
            Validity::False
        } else if claims.is_empty() {
            Validity::Unknown
        } else {
            Validity::True
        };
        let summary = match valid {
            Validity::True => format!(
                "{} leader answers in {polls} GET_MASTER polls, never two masters at once",
                claims.len()
            ),
            Validity::False => format!(
                "{} times two masters answered as leader at overlapping times",
                problems.len()
            ),
            Validity::Unknown => "no master ever answered GET_MASTER as leader".into(),
        };
        CheckResult {
            checker: self.name().into(),
            valid,
            summary,
            details: json!({
                "problems": problems.into_iter().take(50).collect::<Vec<_>>(),
                "leader_answers": claims.len(),
                "polls": polls,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Process, Recorder};
    use std::time::Instant;

    fn poll(rec: &Recorder, p: u64) -> crate::history::Pending {
        rec.invoke(Process::Client(p), GET_MASTER, None, Value::Null)
    }

    fn answer(rec: &Recorder, pending: crate::history::Pending, node: &str, leader: bool) {
        rec.complete(
            pending,
            OpType::Ok,
            json!({"leader": leader}),
            Some(node.into()),
            None,
        );
    }

    #[test]
    fn leadership_moving_cleanly_passes() {
        let rec = Recorder::new(Instant::now());
        let a = poll(&rec, 1);
        answer(&rec, a, "a", true);
        let b = poll(&rec, 2);
        answer(&rec, b, "b", false);
        let b = poll(&rec, 2);
        answer(&rec, b, "b", true);
        let a = poll(&rec, 1);
        answer(&rec, a, "a", false);
        let r = LeadershipChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn a_paused_leader_answering_a_queued_request_fails() {
        let rec = Recorder::new(Instant::now());
        // Sent to the old leader while it is paused; answered after it
        // resumed, while the new leader answers too.
        let queued = poll(&rec, 1);
        let b = poll(&rec, 2);
        answer(&rec, b, "b", true);
        answer(&rec, queued, "a", true);
        let r = LeadershipChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("overlapping"));
    }

    #[test]
    fn no_leader_answer_is_unknown() {
        let rec = Recorder::new(Instant::now());
        let a = poll(&rec, 1);
        answer(&rec, a, "a", false);
        assert_eq!(
            LeadershipChecker.check(&rec.snapshot()).valid,
            Validity::Unknown
        );
    }
}
