//! Election safety and the survival of acknowledged writes across terms.
//!
//! History shape (written by the election workload):
//! - `status`: node = the polled master, value = its `/raft/status` subset
//!   (`id`, `role`, `term`, `leader_id`, ...);
//! - `write`: key = a role written exactly once, value = its weight;
//! - `read` / `final-read`: value = `{role: weight}` for the workload's roles.
//!
//! Properties:
//! 1. at most one node ever reports itself leader in a given term, and all
//!    nodes that name a leader for a term name the same one;
//! 2. a node's term never decreases (terms are persisted with the vote);
//! 3. every read, in particular the final one taken after healing (in a
//!    later term), contains every write acknowledged before the read began,
//!    with its value, and nothing that was never written or definitely
//!    failed. An unknown-outcome write some read showed counts as
//!    acknowledged from that read's completion.
//!
//! A property the history did not exercise makes the verdict `unknown`:
//! no successful poll, no poll that saw a leader, no final read, or no
//! acknowledged write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Completed, Op, OpType, Process};
use crate::nemesis_record::NemesisRecord;

pub struct ElectionChecker;

/// `{role: weight}` of a read's value.
pub fn weights_of(v: &Value) -> BTreeMap<String, f64> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_f64().map(|w| (k.clone(), w)))
                .collect()
        })
        .unwrap_or_default()
}

impl Checker for ElectionChecker {
    fn name(&self) -> &str {
        "election"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let ops = pair(history);
        let mut problems: Vec<Value> = Vec::new();

        // 1. One leader per term.
        let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut named: BTreeMap<u64, BTreeMap<u64, BTreeSet<u64>>> = BTreeMap::new();
        // 2. Terms per node, in poll order. A node whose disk a nemesis
        // wiped starts again from term 0: a regression is excused when the
        // wipe (from when the nemesis action began to when it was recorded
        // done) may fall between the two polls.
        let mut wipes: Vec<(u64, u64, u64)> = Vec::new();
        // Nemesis actions run one after another, so without `began_ns`
        // (histories of older harnesses) an action began no earlier than
        // the record before it.
        let mut previous_record = 0;
        for op in history.iter().filter(|op| op.process == Process::Nemesis) {
            let record = NemesisRecord::of(&op.value);
            let began = record.began_ns.unwrap_or(previous_record);
            previous_record = op.time;
            for id in record.value["wiped"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
            {
                wipes.push((id, began, op.time));
            }
        }
        let mut status_polls: Vec<(&Op, &Op)> = ops
            .iter()
            .filter_map(|c| Some((c.invoke, c.complete?)))
            .filter(|(_, done)| done.f == "status" && done.kind == OpType::Ok)
            .collect();
        status_polls.sort_by_key(|(_, done)| done.time);
        // node -> (term, invoke time, completion time) of its last poll
        let mut last_term: HashMap<u64, (u64, u64, u64)> = HashMap::new();
        let mut polls = 0usize;
        for (invoke, done) in status_polls {
            let v = &done.value;
            let (Some(id), Some(term)) = (v["id"].as_u64(), v["term"].as_u64()) else {
                continue;
            };
            polls += 1;
            if v["role"] == "leader" {
                leaders.entry(term).or_default().insert(id);
            }
            if let Some(leader) = v["leader_id"].as_u64() {
                named
                    .entry(term)
                    .or_default()
                    .entry(leader)
                    .or_default()
                    .insert(id);
            }
            if let Some((prev, prev_invoked, prev_done)) = last_term.get(&id) {
                let wiped_between = wipes.iter().any(|(node, began, recorded)| {
                    *node == id && *began < done.time && *recorded > *prev_invoked
                });
                if term < *prev && !wiped_between {
                    problems.push(json!({
                        "problem": "term went backwards",
                        "node": id, "term_before": prev, "term_after": term,
                        "before_ms": *prev_done as f64 / 1e6, "after_ms": done.time as f64 / 1e6,
                    }));
                }
            }
            last_term.insert(id, (term, invoke.time, done.time));
        }
        for (term, ids) in &leaders {
            if ids.len() > 1 {
                problems.push(json!({
                    "problem": "two leaders in one term", "term": term, "leaders": ids,
                }));
            }
        }
        for (term, by_leader) in &named {
            let mut all: BTreeSet<u64> = by_leader.keys().copied().collect();
            all.extend(leaders.get(term).into_iter().flatten().copied());
            if all.len() > 1 {
                problems.push(json!({
                    "problem": "nodes name different leaders for one term",
                    "term": term, "leader_claims": by_leader, "self_reported_leaders": leaders.get(term),
                }));
            }
        }

        // 3. Acknowledged writes survive.
        let acked = acknowledged_writes(&ops);
        let mut attempted: HashMap<String, (f64, OpType)> = HashMap::new();
        for c in ops.iter().filter(|c| c.invoke.f == "write") {
            let (Some(key), Some(w)) = (&c.invoke.key, c.invoke.value.as_f64()) else {
                continue;
            };
            attempted.insert(key.clone(), (w, c.kind()));
        }
        let mut reads = 0usize;
        let mut final_reads = 0usize;
        for c in ops.iter().filter(|c| is_read(c) && c.kind() == OpType::Ok) {
            let Some(done) = c.complete else { continue };
            reads += 1;
            let is_final = c.invoke.f == "final-read";
            final_reads += usize::from(is_final);
            let seen = weights_of(&done.value);
            let missing: Vec<Value> = acked
                .iter()
                .filter(|a| a.since < c.invoke.time && seen.get(&a.role) != Some(&a.weight))
                .map(|a| {
                    json!({"role": a.role, "weight": a.weight, "acked_ms": a.since as f64 / 1e6,
                           "acked_by": a.by, "read_value": seen.get(&a.role)})
                })
                .collect();
            if !missing.is_empty() {
                problems.push(json!({
                    "problem": if is_final { "acknowledged writes missing from the final read" }
                               else { "acknowledged writes missing from a later read" },
                    "read_index": c.invoke.index, "read_node": done.node,
                    "read_invoke_ms": c.invoke.time as f64 / 1e6,
                    "count": missing.len(),
                    "missing": missing.into_iter().take(20).collect::<Vec<_>>(),
                }));
            }
            let bogus: Vec<Value> = seen
                .iter()
                .filter(|(k, w)| match attempted.get(*k) {
                    None => true,
                    Some((aw, kind)) => aw != *w || *kind == OpType::Fail,
                })
                .map(|(k, w)| json!({"role": k, "weight": w, "attempt": attempted.get(k).map(|a| json!({"weight": a.0, "type": a.1}))}))
                .collect();
            if !bogus.is_empty() {
                problems.push(json!({
                    "problem": "read shows values never written or definitely failed",
                    "read_index": c.invoke.index,
                    "values": bogus.into_iter().take(20).collect::<Vec<_>>(),
                }));
            }
        }

        let terms_seen = leaders.len();
        // A property nothing in the history exercised is not shown to hold.
        let unexercised = if polls == 0 {
            Some("no status poll succeeded")
        } else if terms_seen == 0 {
            Some("no poll saw a leader: one leader per term was not tested")
        } else if final_reads == 0 {
            Some("no final read succeeded: cannot tell whether acknowledged writes survived")
        } else if acked.is_empty() {
            Some("no write was acknowledged: their survival was not tested")
        } else {
            None
        };
        let (valid, summary) = match (problems.is_empty(), unexercised) {
            (false, _) => (
                Validity::False,
                format!("{} problems (see details)", problems.len()),
            ),
            (true, Some(why)) => (Validity::Unknown, why.to_string()),
            (true, None) => (
                Validity::True,
                format!(
                    "{polls} status polls, {terms_seen} terms with a leader, at most one leader \
                     each; {} acknowledged writes all present in {reads} reads",
                    acked.len()
                ),
            ),
        };
        CheckResult {
            checker: self.name().into(),
            valid,
            summary,
            details: json!({
                "problems": problems,
                "leaders_by_term": leaders,
                "status_polls": polls,
                "acknowledged_writes": acked.iter().filter(|a| a.by == AckedBy::Client).count(),
                "unknown_writes_seen_by_reads": acked.iter().filter(|a| a.by == AckedBy::Read).count(),
                "reads_checked": reads,
                "final_reads": final_reads,
            }),
        }
    }
}

/// How a write became one every later read must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum AckedBy {
    /// The write itself ended `ok`.
    Client,
    /// Its outcome was unknown, but a read showed it.
    Read,
}

/// A write every read invoked after `since` must show.
struct Acked {
    role: String,
    weight: f64,
    since: u64,
    by: AckedBy,
}

/// The writes acknowledged to their client (from their completion), and
/// the unknown-outcome writes some read showed (from the completion of the
/// earliest such read: the write was applied by then, so a linearizable
/// system shows it to every read that begins afterwards, exactly as if it
/// had been acknowledged).
fn acknowledged_writes(ops: &[Completed]) -> Vec<Acked> {
    let mut first_seen: HashMap<(&str, u64), u64> = HashMap::new();
    for c in ops.iter().filter(|c| is_read(c) && c.kind() == OpType::Ok) {
        let Some(done) = c.complete else { continue };
        for (role, w) in done.value.as_object().into_iter().flatten() {
            if let Some(w) = w.as_f64() {
                let t = first_seen
                    .entry((role.as_str(), w.to_bits()))
                    .or_insert(done.time);
                *t = (*t).min(done.time);
            }
        }
    }
    let mut acked = Vec::new();
    for c in ops.iter().filter(|c| c.invoke.f == "write") {
        let (Some(role), Some(weight)) = (&c.invoke.key, c.invoke.value.as_f64()) else {
            continue;
        };
        let (since, by) = match (c.kind(), c.return_time()) {
            (OpType::Ok, Some(t)) => (t, AckedBy::Client),
            (OpType::Info, _) => match first_seen.get(&(role.as_str(), weight.to_bits())) {
                Some(t) => (*t, AckedBy::Read),
                None => continue,
            },
            _ => continue,
        };
        acked.push(Acked {
            role: role.clone(),
            weight,
            since,
            by,
        });
    }
    acked
}

fn is_read(c: &Completed) -> bool {
    c.invoke.f == "read" || c.invoke.f == "final-read"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Recorder;
    use std::time::Instant;

    fn status(rec: &Recorder, p: u64, id: u64, role: &str, term: u64, leader: Option<u64>) {
        let inv = rec.invoke(Process::Client(p), "status", None, Value::Null);
        rec.complete(
            inv,
            OpType::Ok,
            json!({"id": id, "role": role, "term": term, "leader_id": leader}),
            Some(format!("n{id}")),
            None,
        );
    }

    fn write(rec: &Recorder, p: u64, key: &str, w: f64, kind: OpType) {
        let inv = rec.invoke(Process::Client(p), "write", Some(key), json!(w));
        rec.complete(inv, kind, Value::Null, None, None);
    }

    fn read(rec: &Recorder, f: &str, seen: Value) {
        let inv = rec.invoke(Process::Client(50), f, None, Value::Null);
        rec.complete(inv, OpType::Ok, seen, None, None);
    }

    fn base() -> Recorder {
        let rec = Recorder::new(Instant::now());
        status(&rec, 10, 1, "leader", 1, Some(1));
        status(&rec, 11, 2, "follower", 1, Some(1));
        write(&rec, 0, "e1", 1.0, OpType::Ok);
        write(&rec, 0, "e2", 2.0, OpType::Info);
        write(&rec, 0, "e3", 3.0, OpType::Fail);
        status(&rec, 11, 2, "leader", 2, Some(2));
        status(&rec, 10, 1, "follower", 2, Some(2));
        rec
    }

    #[test]
    fn clean_history_passes() {
        let rec = base();
        read(&rec, "final-read", json!({"e1": 1.0, "e2": 2.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn two_leaders_in_a_term_fail() {
        let rec = base();
        status(&rec, 12, 3, "leader", 2, Some(3));
        read(&rec, "final-read", json!({"e1": 1.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("two leaders in one term"));
    }

    #[test]
    fn conflicting_leader_claims_fail() {
        let rec = base();
        status(&rec, 12, 3, "follower", 2, Some(3));
        read(&rec, "final-read", json!({"e1": 1.0}));
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
    }

    #[test]
    fn term_regression_fails() {
        let rec = base();
        status(&rec, 10, 1, "follower", 1, None);
        read(&rec, "final-read", json!({"e1": 1.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("term went backwards"));
    }

    #[test]
    fn wiped_node_may_restart_from_term_zero() {
        let rec = base();
        rec.nemesis(
            "start",
            &NemesisRecord::new("membership").with_value(json!({"removed": 1, "wiped": [1]})),
            None,
        );
        status(&rec, 10, 1, "learner", 0, None);
        read(&rec, "final-read", json!({"e1": 1.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    /// A poll of `polled` answering term 0, then the record of a nemesis
    /// that wiped node 1 (the record is written when the action is done).
    fn poll_then_wipe_of_node_1(polled: u64) -> Validity {
        let rec = base();
        let began = rec.now();
        status(&rec, 9 + polled, polled, "learner", 0, None);
        rec.nemesis(
            "start",
            &NemesisRecord::new("membership")
                .began_at(began)
                .with_value(json!({"removed": 1, "wiped": [1]})),
            None,
        );
        read(&rec, "final-read", json!({"e1": 1.0}));
        ElectionChecker.check(&rec.snapshot()).valid
    }

    /// The membership nemesis records its start only when it is done
    /// (remove, wipe, restart): a poll of the wiped node can come back with
    /// term 0 before that record.
    #[test]
    fn wipe_seen_before_the_nemesis_record_is_excused_but_not_other_regressions() {
        assert_eq!(poll_then_wipe_of_node_1(1), Validity::True);
        // The same regression on a node that was not wiped still fails.
        assert_eq!(poll_then_wipe_of_node_1(2), Validity::False);
    }

    #[test]
    fn lost_or_failed_writes_fail() {
        let rec = base();
        read(&rec, "final-read", json!({"e2": 2.0}));
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
        let rec = base();
        read(&rec, "final-read", json!({"e1": 1.0, "e3": 3.0}));
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
        let rec = base();
        read(&rec, "read", json!({}));
        read(&rec, "final-read", json!({"e1": 1.0}));
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
    }

    #[test]
    fn no_final_read_is_unknown() {
        let rec = base();
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::Unknown
        );
    }

    /// e2's write timed out, but a read saw it: from that read's completion
    /// on it is as good as acknowledged.
    #[test]
    fn unknown_write_seen_by_a_read_must_stay() {
        let rec = base();
        read(&rec, "read", json!({"e1": 1.0, "e2": 2.0}));
        read(&rec, "read", json!({"e1": 1.0}));
        read(&rec, "final-read", json!({"e1": 1.0, "e2": 2.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::False, "{}", r.details);
        assert!(r.details.to_string().contains("e2"), "{}", r.details);

        let rec = base();
        read(&rec, "read", json!({"e1": 1.0, "e2": 2.0}));
        read(&rec, "final-read", json!({"e1": 1.0}));
        assert_eq!(
            ElectionChecker.check(&rec.snapshot()).valid,
            Validity::False
        );

        // Not seen by any read: it may never have been applied.
        let rec = base();
        read(&rec, "read", json!({"e1": 1.0}));
        read(&rec, "final-read", json!({"e1": 1.0}));
        assert_eq!(ElectionChecker.check(&rec.snapshot()).valid, Validity::True);
    }

    /// A read concurrent with the one that first saw the unknown write may
    /// still miss it: only reads invoked after that completion must show it.
    #[test]
    fn unknown_write_binds_reads_invoked_after_the_first_sighting() {
        let rec = base();
        let early = rec.invoke(Process::Client(51), "read", None, Value::Null);
        read(&rec, "read", json!({"e1": 1.0, "e2": 2.0}));
        rec.complete(early, OpType::Ok, json!({"e1": 1.0}), None, None);
        read(&rec, "final-read", json!({"e1": 1.0, "e2": 2.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn without_acknowledged_writes_or_a_leader_it_is_unknown() {
        // No write acknowledged: "acknowledged writes survive" was not tested.
        let rec = Recorder::new(Instant::now());
        status(&rec, 10, 1, "leader", 1, Some(1));
        status(&rec, 11, 2, "follower", 1, Some(1));
        write(&rec, 0, "e1", 1.0, OpType::Info);
        read(&rec, "final-read", json!({}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
        // No poll saw a leader: "one leader per term" was not tested.
        let rec = Recorder::new(Instant::now());
        status(&rec, 10, 1, "candidate", 1, None);
        status(&rec, 11, 2, "follower", 1, None);
        write(&rec, 0, "e1", 1.0, OpType::Ok);
        read(&rec, "final-read", json!({"e1": 1.0}));
        let r = ElectionChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    }
}
