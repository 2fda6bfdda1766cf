//! Sequence registers never go back: catches a write applied twice, or
//! applied after a definite failure.
//!
//! History shape (written by the sequence workload): `write` with key =
//! `sq-<w>-<e>` and value = s; one client writes 1, 2, 3, ... to a key,
//! s+1 only after s was acknowledged, resending s after a definite failure;
//! an unknown outcome ends the key. `read` / `final-read` record
//! `{key: value}` for every key.
//!
//! Properties, per key (a key never read is 0):
//! 1. reads never go back: if read A completed before read B began, B
//!    shows at least what A showed (the writes of a key are issued in
//!    value order, so any linearization of them only grows the value; a
//!    value going back means an old command was applied again, late);
//! 2. a read that began after write s was acknowledged shows at least s;
//! 3. a read never shows a value that was not written to that key.
//!
//! Unknown when no final read succeeded or no write was acknowledged: then
//! nothing was exercised.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::election::weights_of;
use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType};

/// Role names of the workload's registers start with this.
pub const PREFIX: &str = "sq-";

pub struct SequenceChecker;

/// One successful read: its interval and what it showed.
struct Read {
    index: usize,
    invoke: u64,
    complete: u64,
    seen: BTreeMap<String, f64>,
    is_final: bool,
}

/// Per key: the highest value invoked and the acknowledged writes.
#[derive(Default)]
struct Writes {
    max_invoked: f64,
    acked: Vec<(f64, u64)>,
}

impl Checker for SequenceChecker {
    fn name(&self) -> &str {
        "sequence"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let ops = pair(history);
        let mut writes: BTreeMap<String, Writes> = BTreeMap::new();
        let mut reads: Vec<Read> = Vec::new();
        for c in &ops {
            match c.invoke.f.as_str() {
                "write" => {
                    let (Some(key), Some(v)) = (&c.invoke.key, c.invoke.value.as_f64()) else {
                        continue;
                    };
                    let w = writes.entry(key.clone()).or_default();
                    w.max_invoked = w.max_invoked.max(v);
                    if let (OpType::Ok, Some(t)) = (c.kind(), c.return_time()) {
                        w.acked.push((v, t));
                    }
                }
                "read" | "final-read" if c.kind() == OpType::Ok => {
                    let Some(done) = c.complete else { continue };
                    reads.push(Read {
                        index: c.invoke.index,
                        invoke: c.invoke.time,
                        complete: done.time,
                        seen: weights_of(&done.value)
                            .into_iter()
                            .filter(|(k, _)| k.starts_with(PREFIX))
                            .collect(),
                        is_final: c.invoke.f == "final-read",
                    });
                }
                _ => {}
            }
        }
        let problems = violations(&writes, &mut reads);
        let acked: usize = writes.values().map(|w| w.acked.len()).sum();
        let final_reads = reads.iter().filter(|r| r.is_final).count();
        let valid = if !problems.is_empty() {
            Validity::False
        } else if final_reads == 0 || acked == 0 {
            Validity::Unknown
        } else {
            Validity::True
        };
        let summary = match valid {
            Validity::True => format!(
                "{} registers, {acked} acknowledged writes, {} reads: never went back",
                writes.len(),
                reads.len()
            ),
            Validity::False => format!("{} problems (see details)", problems.len()),
            Validity::Unknown if acked == 0 => "no write was acknowledged".into(),
            Validity::Unknown => "no final read succeeded".into(),
        };
        CheckResult {
            checker: self.name().into(),
            valid,
            summary,
            details: json!({
                "problems": problems.into_iter().take(50).collect::<Vec<_>>(),
                "registers": writes.len(),
                "acknowledged_writes": acked,
                "reads": reads.len(),
                "final_reads": final_reads,
            }),
        }
    }
}

fn violations(writes: &BTreeMap<String, Writes>, reads: &mut [Read]) -> Vec<Value> {
    let mut problems = Vec::new();
    let value_of = |r: &Read, key: &str| r.seen.get(key).copied().unwrap_or(0.0);
    // 3. Nothing that was never written.
    for r in reads.iter() {
        for (key, v) in &r.seen {
            let written = writes.get(key).map_or(0.0, |w| w.max_invoked);
            if *v > written || v.fract() != 0.0 || *v < 1.0 {
                problems.push(json!({
                    "problem": "read shows a value never written to the register",
                    "key": key, "value": v, "read_index": r.index,
                }));
            }
        }
    }
    // 2. Acknowledged writes are seen by later reads.
    for (key, w) in writes {
        for (v, acked_at) in &w.acked {
            if let Some(r) = reads
                .iter()
                .find(|r| r.invoke > *acked_at && value_of(r, key) < *v)
            {
                problems.push(json!({
                    "problem": "a read that began after a write was acknowledged does not show it",
                    "key": key, "acknowledged": v, "acknowledged_ms": *acked_at as f64 / 1e6,
                    "read_index": r.index, "read_value": value_of(r, key),
                }));
            }
        }
    }
    // 1. Never back: compare each read with the largest value shown by any
    // read that completed before it began.
    reads.sort_by_key(|r| r.invoke);
    let mut by_completion: Vec<&Read> = reads.iter().collect();
    by_completion.sort_by_key(|r| r.complete);
    let keys: Vec<&String> = writes.keys().collect();
    for key in keys {
        let mut best: Option<(f64, usize, u64)> = None;
        let mut done = 0;
        for r in reads.iter() {
            while done < by_completion.len() && by_completion[done].complete < r.invoke {
                let earlier = by_completion[done];
                let v = value_of(earlier, key);
                if best.is_none_or(|(b, _, _)| v > b) {
                    best = Some((v, earlier.index, earlier.complete));
                }
                done += 1;
            }
            if let Some((b, earlier, earlier_done)) = best {
                if value_of(r, key) < b {
                    problems.push(json!({
                        "problem": "the register went back: an old write was applied again after newer ones",
                        "key": key, "earlier_read_index": earlier, "earlier_value": b,
                        "earlier_completed_ms": earlier_done as f64 / 1e6,
                        "read_index": r.index, "value": value_of(r, key),
                        "read_invoked_ms": r.invoke as f64 / 1e6,
                    }));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::history::{Process, Recorder};

    fn write(rec: &Recorder, p: u64, key: &str, v: u64, kind: OpType) {
        let inv = rec.invoke(Process::Client(p), "write", Some(key), json!(v));
        rec.complete(inv, kind, Value::Null, None, None);
    }

    fn read(rec: &Recorder, f: &str, seen: Value) {
        let inv = rec.invoke(Process::Client(50), f, None, Value::Null);
        rec.complete(inv, OpType::Ok, seen, None, None);
    }

    #[test]
    fn growing_registers_pass() {
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Ok);
        write(&rec, 0, "sq-0-0", 2, OpType::Fail);
        read(&rec, "read", json!({"sq-0-0": 1.0}));
        write(&rec, 0, "sq-0-0", 2, OpType::Ok);
        write(&rec, 0, "sq-0-0", 3, OpType::Info);
        read(&rec, "read", json!({"sq-0-0": 2.0}));
        read(&rec, "final-read", json!({"sq-0-0": 3.0}));
        let r = SequenceChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::True, "{}", r.details);
    }

    #[test]
    fn a_failed_write_applied_late_fails() {
        // 2 failed (but committed later), was resent and acknowledged, then
        // 3 acknowledged; the late copy of 2 takes the register back.
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Ok);
        write(&rec, 0, "sq-0-0", 2, OpType::Fail);
        write(&rec, 0, "sq-0-0", 2, OpType::Ok);
        write(&rec, 0, "sq-0-0", 3, OpType::Ok);
        read(&rec, "read", json!({"sq-0-0": 3.0}));
        read(&rec, "final-read", json!({"sq-0-0": 2.0}));
        let r = SequenceChecker.check(&rec.snapshot());
        assert_eq!(r.valid, Validity::False);
        assert!(r.details.to_string().contains("went back"), "{}", r.details);
    }

    #[test]
    fn lost_acknowledged_or_invented_values_fail() {
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Ok);
        read(&rec, "final-read", json!({}));
        assert_eq!(
            SequenceChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Ok);
        read(&rec, "final-read", json!({"sq-0-0": 7.0}));
        assert_eq!(
            SequenceChecker.check(&rec.snapshot()).valid,
            Validity::False
        );
    }

    #[test]
    fn nothing_exercised_is_unknown() {
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Ok);
        read(&rec, "read", json!({"sq-0-0": 1.0}));
        assert_eq!(
            SequenceChecker.check(&rec.snapshot()).valid,
            Validity::Unknown
        );
        let rec = Recorder::new(Instant::now());
        write(&rec, 0, "sq-0-0", 1, OpType::Fail);
        read(&rec, "final-read", json!({}));
        assert_eq!(
            SequenceChecker.check(&rec.snapshot()).valid,
            Validity::Unknown
        );
    }
}
