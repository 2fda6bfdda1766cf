//! Durability across a restart of every master.
//!
//! History shape (written by the durability workload): each client `w`
//! issues sequential `write`s with key = `du-<w>` and value = a sequence
//! number `s` (1, 2, ...); one write is a single UPDATE_WEIGHTS that sets
//! both role `du-<w>-<s>` = s (a record of this write) and role `du-<w>` = s
//! (a per-client counter, the last write applied). After the last kill-all
//! and restart, `final-read` records `{role: weight}`.
//!
//! Properties of the final read, per client:
//! - every acknowledged write is present (nothing lost);
//! - nothing definitely failed or never attempted is present;
//! - each record has its own value (nothing corrupted);
//! - the counter names a present record (the two roles of one command were
//!   applied together);
//! - the counter is not an acknowledged write older than the newest
//!   acknowledged write: the client issued them one after the other, so
//!   that would mean an old command was applied again (duplicated) or
//!   after a newer one (reordered). An unknown-outcome write may
//!   legitimately land late, so it is allowed to be the counter.
//!
//! A clean final read is `unknown`, not a pass, when the restart of every
//! master is not recorded as ready before it (nothing was restarted) or
//! no write was acknowledged (nothing could be lost).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::election::weights_of;
use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType, Process};
use crate::nemesis_record::NemesisRecord;

pub struct DurabilityChecker;

#[derive(Default)]
struct Client {
    acked: BTreeSet<u64>,
    failed: BTreeSet<u64>,
    unknown: BTreeSet<u64>,
}

/// `du-<w>` -> Some(w); `du-<w>-<s>` -> Some((w, s)) via the second function.
fn counter_client(role: &str) -> Option<&str> {
    let rest = role.strip_prefix("du-")?;
    (!rest.contains('-')).then_some(rest)
}

fn record_of(role: &str) -> Option<(&str, u64)> {
    let rest = role.strip_prefix("du-")?;
    let (w, s) = rest.rsplit_once('-')?;
    Some((w, s.parse().ok()?))
}

impl Checker for DurabilityChecker {
    fn name(&self) -> &str {
        "durability"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let ops = pair(history);
        let mut clients: BTreeMap<String, Client> = BTreeMap::new();
        for c in ops.iter().filter(|c| c.invoke.f == "write") {
            let (Some(key), Some(s)) = (&c.invoke.key, c.invoke.value.as_u64()) else {
                continue;
            };
            let Some(w) = counter_client(key) else {
                continue;
            };
            let client = clients.entry(w.to_string()).or_default();
            match c.kind() {
                OpType::Ok => client.acked.insert(s),
                OpType::Fail => client.failed.insert(s),
                _ => client.unknown.insert(s),
            };
        }
        let Some((final_invoked, final_read)) = ops
            .iter()
            .rev()
            .find(|c| c.invoke.f == "final-read" && c.kind() == OpType::Ok)
            .and_then(|c| Some((c.invoke.time, c.complete?)))
        else {
            return CheckResult {
                checker: self.name().into(),
                valid: Validity::Unknown,
                summary: "no final read after the restart succeeded".into(),
                details: json!({}),
            };
        };
        let seen = weights_of(&final_read.value);
        let mut present: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        let mut problems: Vec<Value> = Vec::new();
        for (role, weight) in &seen {
            if let Some((w, s)) = record_of(role) {
                present.entry(w.to_string()).or_default().insert(s);
                if *weight != s as f64 {
                    problems.push(
                        json!({"problem": "corrupted record", "role": role, "weight": weight}),
                    );
                }
            }
        }
        let mut total_acked = 0;
        for (w, client) in &clients {
            total_acked += client.acked.len();
            let empty = BTreeSet::new();
            let here = present.get(w).unwrap_or(&empty);
            let lost: Vec<u64> = client.acked.difference(here).copied().collect();
            if !lost.is_empty() {
                problems.push(
                    json!({"problem": "acknowledged writes lost", "client": w, "count": lost.len(),
                                     "seqs": lost.iter().take(30).collect::<Vec<_>>()}),
                );
            }
            let resurrected: Vec<u64> = client.failed.intersection(here).copied().collect();
            if !resurrected.is_empty() {
                problems.push(json!({"problem": "definitely failed writes present", "client": w, "seqs": resurrected}));
            }
            let phantom: Vec<u64> = here
                .iter()
                .filter(|s| {
                    !client.acked.contains(s)
                        && !client.unknown.contains(s)
                        && !client.failed.contains(s)
                })
                .copied()
                .collect();
            if !phantom.is_empty() {
                problems.push(json!({"problem": "writes never attempted are present", "client": w, "seqs": phantom}));
            }
            let counter = seen.get(&format!("du-{w}")).copied();
            match counter {
                None if !here.is_empty() => problems.push(json!({
                    "problem": "records present but the counter role is missing (commands split)", "client": w})),
                None => {}
                Some(c) => {
                    let c = c as u64;
                    if !here.contains(&c) {
                        problems.push(json!({"problem": "counter names an absent record (commands split)",
                                             "client": w, "counter": c}));
                    }
                    if let Some(newest) = client.acked.last() {
                        if client.acked.contains(&c) && c < *newest {
                            problems.push(json!({
                                "problem": "an older acknowledged write was applied after a newer one (duplicated or reordered)",
                                "client": w, "counter": c, "newest_acknowledged": newest}));
                        }
                    }
                }
            }
        }
        for w in present.keys() {
            if !clients.contains_key(w) {
                problems.push(json!({"problem": "records of an unknown client", "client": w}));
            }
        }
        let restarted = restarted_before(history, final_invoked);
        // Lost or phantom writes fail even without a recorded restart; a
        // clean final read shows durability only if writes were
        // acknowledged and every master was restarted before it.
        let unexercised = if !restarted {
            Some("no restart of every master became ready before the final read: survival across a restart was not tested")
        } else if total_acked == 0 {
            Some("no write was acknowledged: nothing could be lost")
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
                    "all {total_acked} acknowledged writes of {} clients survived the restart, in order",
                    clients.len()
                ),
            ),
        };
        CheckResult {
            checker: self.name().into(),
            valid,
            summary,
            details: json!({
                "problems": problems,
                "acknowledged": total_acked,
                "restart_before_final_read": restarted,
                "final_read_node": final_read.node,
                "roles_read": seen.len(),
            }),
        }
    }
}

/// Whether the workload's final kill-all (every master killed and
/// restarted, see `workload::durability`) was recorded as ready before
/// `t`.
fn restarted_before(history: &[Op], t: u64) -> bool {
    history.iter().any(|op| {
        op.process == Process::Nemesis && op.f == "stop" && op.time <= t && op.error.is_none() && {
            let record = NemesisRecord::of(&op.value);
            record.nemesis == "kill-all" && record.final_phase && record.value["ready"] != false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Process, Recorder};
    use std::time::Instant;

    fn write(rec: &Recorder, w: u64, s: u64, kind: OpType) {
        let inv = rec.invoke(
            Process::Client(w),
            "write",
            Some(&format!("du-{w}")),
            json!(s),
        );
        rec.complete(inv, kind, Value::Null, None, None);
    }

    fn final_read(rec: &Recorder, seen: Value) -> Validity {
        restart(rec);
        let inv = rec.invoke(Process::Client(99), "final-read", None, Value::Null);
        rec.complete(inv, OpType::Ok, seen, None, None);
        DurabilityChecker.check(&rec.snapshot()).valid
    }

    fn base() -> Recorder {
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, 1, OpType::Ok);
        write(&rec, 0, 2, OpType::Info);
        write(&rec, 0, 3, OpType::Ok);
        write(&rec, 0, 4, OpType::Fail);
        rec
    }

    #[test]
    fn complete_state_passes() {
        let v = final_read(&base(), json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0": 3.0}));
        assert_eq!(v, Validity::True);
        // The unknown write applied (even late) is fine.
        let v = final_read(
            &base(),
            json!({"du-0-1": 1.0, "du-0-2": 2.0, "du-0-3": 3.0, "du-0": 2.0}),
        );
        assert_eq!(v, Validity::True);
    }

    #[test]
    fn anomalies_fail() {
        // lost
        assert_eq!(
            final_read(&base(), json!({"du-0-1": 1.0, "du-0": 1.0})),
            Validity::False
        );
        // failed one present
        assert_eq!(
            final_read(
                &base(),
                json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0-4": 4.0, "du-0": 4.0})
            ),
            Validity::False
        );
        // reordered / duplicated: counter is an older acked write
        assert_eq!(
            final_read(&base(), json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0": 1.0})),
            Validity::False
        );
        // split command
        assert_eq!(
            final_read(&base(), json!({"du-0-1": 1.0, "du-0-3": 3.0})),
            Validity::False
        );
        // corrupted
        assert_eq!(
            final_read(&base(), json!({"du-0-1": 1.0, "du-0-3": 7.0, "du-0": 3.0})),
            Validity::False
        );
        // phantom
        assert_eq!(
            final_read(
                &base(),
                json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0-9": 9.0, "du-0": 3.0})
            ),
            Validity::False
        );
    }

    #[test]
    fn missing_final_read_is_unknown() {
        assert_eq!(
            DurabilityChecker.check(&base().snapshot()).valid,
            Validity::Unknown
        );
    }

    fn restart(rec: &Recorder) {
        rec.nemesis(
            "start",
            &NemesisRecord::new("kill-all")
                .final_phase()
                .with_value(json!({"killed": [1, 2, 3]})),
            None,
        );
        rec.nemesis(
            "stop",
            &NemesisRecord::new("kill-all")
                .final_phase()
                .with_value(json!({"restarted": [1, 2, 3], "ready": true})),
            None,
        );
    }

    #[test]
    fn no_acknowledged_write_is_unknown() {
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, 1, OpType::Info);
        write(&rec, 0, 2, OpType::Fail);
        restart(&rec);
        let r = {
            let inv = rec.invoke(Process::Client(99), "final-read", None, Value::Null);
            rec.complete(inv, OpType::Ok, json!({}), None, None);
            DurabilityChecker.check(&rec.snapshot())
        };
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    }

    #[test]
    fn a_final_read_without_a_restart_before_it_is_unknown() {
        // No kill-all record at all.
        let rec = base();
        let inv = rec.invoke(Process::Client(99), "final-read", None, Value::Null);
        rec.complete(
            inv,
            OpType::Ok,
            json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0": 3.0}),
            None,
            None,
        );
        let r = DurabilityChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
        // A restart that never became ready.
        let rec = base();
        rec.nemesis(
            "stop",
            &NemesisRecord::new("kill-all")
                .final_phase()
                .with_value(json!({"ready": false})),
            Some("no leader".into()),
        );
        let inv = rec.invoke(Process::Client(99), "final-read", None, Value::Null);
        rec.complete(
            inv,
            OpType::Ok,
            json!({"du-0-1": 1.0, "du-0-3": 3.0, "du-0": 3.0}),
            None,
            None,
        );
        let r = DurabilityChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
        // Lost writes fail whether or not the restart is recorded.
        let rec = base();
        let inv = rec.invoke(Process::Client(99), "final-read", None, Value::Null);
        rec.complete(
            inv,
            OpType::Ok,
            json!({"du-0-1": 1.0, "du-0": 1.0}),
            None,
            None,
        );
        assert_eq!(
            DurabilityChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
    }
}
