//! Never two masters answering as leader at once.
//!
//! History shape: `get-master` operations, node = the polled master, value
//! on completion `{"leader": true, "term": T}` when that master answered
//! GET_MASTER itself (HTTP 200, naming the term it leads) and
//! `{"leader": false}` when it redirected or had no leader.
//!
//! A leader answer was produced at some instant within its operation's
//! interval, so overlapping intervals alone prove nothing: a master stopped
//! between its lease check and its reply answers late, correctly. The
//! terms order the answers instead. A violation is
//! * two masters answering as leader of the same term (two leaders in one
//!   term), or
//! * an answer of term t asked after an answer of a newer term had
//!   arrived: the newer leader was elected before that request reached the
//!   old one, which still acted as leader (its lease did not run out
//!   before another leader could be elected).
//!
//! Histories whose leader answers do not name a term (masters that did not
//! send it) are checked by the stricter interval rule: two leader answers
//! from different masters must not overlap in time.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType};

pub struct LeadershipChecker;

/// `f` of the operations this checker reads.
pub const GET_MASTER: &str = "get-master";

#[derive(Clone, Copy)]
struct Claim<'a> {
    node: &'a str,
    term: Option<u64>,
    invoke: u64,
    complete: u64,
    index: usize,
}

impl Claim<'_> {
    fn view(&self) -> Value {
        json!({"node": self.node, "term": self.term, "index": self.index,
               "invoke_ms": self.invoke as f64 / 1e6, "complete_ms": self.complete as f64 / 1e6})
    }
}

/// Two masters leading one term, or an old term acting after a newer
/// term's answer arrived.
fn term_problems(claims: &[Claim]) -> Vec<Value> {
    let mut problems = Vec::new();
    // Per term: the first master seen, and the earliest-arriving answer.
    let mut first: BTreeMap<u64, Claim> = BTreeMap::new();
    for c in claims {
        let Some(term) = c.term else { continue };
        let entry = first.entry(term).or_insert(*c);
        if entry.node != c.node {
            problems.push(json!({
                "problem": format!("two masters answered as leader of term {term}"),
                "first": entry.view(), "second": c.view(),
            }));
        }
        if c.complete < entry.complete {
            *entry = *c;
        }
    }
    // Earliest arrival among all terms newer than each term.
    let mut newer: BTreeMap<u64, Claim> = BTreeMap::new();
    let mut best: Option<Claim> = None;
    for (term, c) in first.iter().rev() {
        if let Some(b) = best {
            newer.insert(*term, b);
        }
        if best.is_none_or(|b| c.complete < b.complete) {
            best = Some(*c);
        }
    }
    for c in claims {
        let Some(term) = c.term else { continue };
        if let Some(n) = newer.get(&term).filter(|n| n.complete < c.invoke) {
            problems.push(json!({
                "problem": format!(
                    "{} answered as leader of term {term} to a request asked after {} had \
                     answered as leader of term {}",
                    c.node, n.node, n.term.unwrap_or_default()
                ),
                "newer": n.view(), "older": c.view(),
            }));
        }
    }
    problems
}

/// Leader answers of different masters whose intervals overlap.
fn overlap_problems(claims: &[Claim]) -> Vec<Value> {
    let mut sorted: Vec<&Claim> = claims.iter().collect();
    sorted.sort_by_key(|c| c.invoke);
    let mut problems = Vec::new();
    let mut open: Vec<&Claim> = Vec::new();
    for c in sorted {
        open.retain(|o| o.complete >= c.invoke);
        if let Some(other) = open.iter().find(|o| o.node != c.node) {
            problems.push(json!({
                "problem": "two masters answered as leader at overlapping times",
                "first": other.view(), "second": c.view(),
            }));
        }
        open.push(c);
    }
    problems
}

impl Checker for LeadershipChecker {
    fn name(&self) -> &str {
        "one-leader-at-a-time"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let pairs = pair(history);
        let answered: Vec<_> = pairs
            .iter()
            .filter(|c| c.invoke.f == GET_MASTER && c.kind() == OpType::Ok)
            .collect();
        let polls = answered.len();
        let claims: Vec<Claim> = answered
            .iter()
            .filter_map(|c| {
                let done = c.complete?;
                (done.value["leader"] == true).then(|| Claim {
                    node: done.node.as_deref().unwrap_or("?"),
                    term: done.value["term"].as_u64(),
                    invoke: c.invoke.time,
                    complete: done.time,
                    index: c.invoke.index,
                })
            })
            .collect();
        let by_term = claims.iter().all(|c| c.term.is_some());
        let problems = if by_term {
            term_problems(&claims)
        } else {
            overlap_problems(&claims)
        };
        let valid = if !problems.is_empty() {
            Validity::False
        } else if claims.is_empty() {
            Validity::Unknown
        } else {
            Validity::True
        };
        let rule = if by_term {
            "by term"
        } else {
            "by interval (answers name no term)"
        };
        let summary = match valid {
            Validity::True => format!(
                "{} leader answers in {polls} GET_MASTER polls, never two leaders at once ({rule})",
                claims.len()
            ),
            Validity::False => format!(
                "{} leader answers prove two leaders at once ({rule})",
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
                "rule": rule,
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

    /// `term` None: not the leader.
    fn answer(rec: &Recorder, pending: crate::history::Pending, node: &str, term: Option<u64>) {
        let value = match term {
            Some(t) => json!({"leader": true, "term": t}),
            None => json!({"leader": false}),
        };
        rec.complete(pending, OpType::Ok, value, Some(node.into()), None);
    }

    fn verdict(rec: &Recorder) -> CheckResult {
        LeadershipChecker.check(&rec.snapshot())
    }

    #[test]
    fn leadership_moving_cleanly_passes() {
        let rec = Recorder::new(Instant::now());
        let a = poll(&rec, 1);
        answer(&rec, a, "a", Some(3));
        let b = poll(&rec, 2);
        answer(&rec, b, "b", None);
        let b = poll(&rec, 2);
        answer(&rec, b, "b", Some(4));
        let a = poll(&rec, 1);
        answer(&rec, a, "a", None);
        let r = verdict(&rec);
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn a_late_answer_asked_before_the_new_leader_answered_passes() {
        // Asked of the old leader before it was paused, answered after it
        // resumed: it may have checked its lease before the pause.
        let rec = Recorder::new(Instant::now());
        let queued = poll(&rec, 1);
        let b = poll(&rec, 2);
        answer(&rec, b, "b", Some(4));
        answer(&rec, queued, "a", Some(3));
        let r = verdict(&rec);
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn an_old_leader_answering_a_request_asked_after_the_new_one_answered_fails() {
        let rec = Recorder::new(Instant::now());
        let b = poll(&rec, 2);
        answer(&rec, b, "b", Some(4));
        // Asked after term 4's answer arrived: a must not lead term 3 now.
        let late = poll(&rec, 1);
        answer(&rec, late, "a", Some(3));
        let r = verdict(&rec);
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("term 3"), "{}", r.details);
    }

    #[test]
    fn two_masters_leading_one_term_fail() {
        let rec = Recorder::new(Instant::now());
        let a = poll(&rec, 1);
        answer(&rec, a, "a", Some(5));
        let b = poll(&rec, 2);
        answer(&rec, b, "b", Some(5));
        let r = verdict(&rec);
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("of term 5"), "{}", r.details);
    }

    #[test]
    fn answers_without_terms_must_not_overlap() {
        let rec = Recorder::new(Instant::now());
        let queued = poll(&rec, 1);
        let b = poll(&rec, 2);
        rec.complete(
            b,
            OpType::Ok,
            json!({"leader": true}),
            Some("b".into()),
            None,
        );
        rec.complete(
            queued,
            OpType::Ok,
            json!({"leader": true}),
            Some("a".into()),
            None,
        );
        let r = verdict(&rec);
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("overlapping"));
    }

    #[test]
    fn no_leader_answer_is_unknown() {
        let rec = Recorder::new(Instant::now());
        let a = poll(&rec, 1);
        answer(&rec, a, "a", None);
        assert_eq!(verdict(&rec).valid, Validity::Unknown);
    }
}
