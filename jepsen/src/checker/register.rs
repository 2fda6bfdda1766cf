//! Linearizability of a set of registers (one per role weight), checked
//! per key: a history of independent registers is linearizable exactly when
//! each key's sub-history is (P-compositionality), and small sub-histories
//! are far cheaper to search.
//!
//! History shape (written by the register workload):
//! - `write`, key = role, value = weight (a number, unique per key);
//! - `read`, no key, value on completion = `{role: weight | null, ...}` (one
//!   GET_WEIGHTS answers every key; `null` = never written), or a single-key
//!   read with key = role and value = weight | null.
//!
//! `fail` operations did not happen and are dropped; failed or unknown reads
//! have no effect and are dropped; unknown writes may take effect at any time
//! after their invocation, or never.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::wgl::{self, Budget, Model, Operation, Outcome};
use super::{CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType, Process};

/// A register value: the bits of an `f64` weight, or None (never written).
pub type RegValue = Option<u64>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegInput {
    Read,
    Write(u64),
}

pub struct RegisterModel;

impl Model for RegisterModel {
    type State = RegValue;
    type Input = RegInput;
    /// For reads, the value read; ignored for writes.
    type Output = RegValue;

    fn step(
        &self,
        state: &RegValue,
        input: &RegInput,
        output: Option<&RegValue>,
    ) -> Option<RegValue> {
        match input {
            RegInput::Write(v) => Some(Some(*v)),
            RegInput::Read => match output {
                None => Some(*state),
                Some(seen) if seen == state => Some(*state),
                Some(_) => None,
            },
        }
    }

    fn is_read_only(&self, input: &RegInput) -> bool {
        *input == RegInput::Read
    }
}

pub type RegOp = Operation<RegInput, RegValue>;

fn to_reg(v: &Value) -> Option<RegValue> {
    match v {
        Value::Null => Some(None),
        Value::Number(n) => n.as_f64().map(|f| Some(f.to_bits())),
        _ => None,
    }
}

pub fn show(v: RegValue) -> Value {
    match v {
        None => Value::Null,
        Some(bits) => json!(f64::from_bits(bits)),
    }
}

/// Splits a history into per-key register operations. Ops keep the history
/// index of their invocation as `id`.
pub fn partition(history: &[Op]) -> BTreeMap<String, Vec<RegOp>> {
    let mut keys: BTreeMap<String, Vec<RegOp>> = BTreeMap::new();
    for c in pair(history) {
        let Process::Client(_) = c.invoke.process else {
            continue;
        };
        let kind = c.kind();
        let call = c.invoke_time();
        let ret = c.return_time();
        match c.invoke.f.as_str() {
            "write" => {
                let (Some(key), Some(Some(v))) = (&c.invoke.key, to_reg(&c.invoke.value)) else {
                    continue;
                };
                if kind == OpType::Fail {
                    continue;
                }
                keys.entry(key.clone()).or_default().push(RegOp {
                    id: c.invoke.index,
                    input: RegInput::Write(v),
                    output: if kind == OpType::Ok { Some(None) } else { None },
                    call,
                    ret,
                });
            }
            "read" if kind == OpType::Ok => {
                let Some(done) = c.complete else { continue };
                let mut push = |key: &str, v: &Value| {
                    if let Some(seen) = to_reg(v) {
                        keys.entry(key.to_string()).or_default().push(RegOp {
                            id: c.invoke.index,
                            input: RegInput::Read,
                            output: Some(seen),
                            call,
                            ret,
                        });
                    }
                };
                match (&c.invoke.key, &done.value) {
                    (Some(key), v) => push(key, v),
                    (None, Value::Object(map)) => {
                        for (key, v) in map {
                            push(key, v);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    keys
}

/// Sound simplifications of unknown-outcome writes, valid when every write
/// value of the key is unique (otherwise nothing is changed):
/// - a write nobody ever read can be taken as never applied: no read is
///   linearized between it and the next write, so dropping it changes no
///   read's result;
/// - a write somebody read must have been applied before the earliest
///   return of such a read, so that return is a valid latest return time.
///
/// Both shrink the search a lot: otherwise every unknown write stays
/// concurrent with the whole rest of the history.
pub fn simplify_unknown_writes(ops: Vec<RegOp>) -> Vec<RegOp> {
    let mut writers: HashMap<u64, usize> = HashMap::new();
    for op in &ops {
        if let RegInput::Write(v) = op.input {
            *writers.entry(v).or_default() += 1;
        }
    }
    if writers.values().any(|n| *n > 1) {
        return ops;
    }
    let mut first_seen: HashMap<u64, u64> = HashMap::new();
    for op in &ops {
        if let (RegInput::Read, Some(Some(v)), Some(ret)) = (op.input, op.output, op.ret) {
            let t = first_seen.entry(v).or_insert(ret);
            *t = (*t).min(ret);
        }
    }
    ops.into_iter()
        .filter_map(|mut op| {
            if let (RegInput::Write(v), None) = (op.input, op.ret) {
                match first_seen.get(&v) {
                    None => return None,
                    Some(&t) if t >= op.call => op.ret = Some(t),
                    Some(_) => {}
                }
            }
            Some(op)
        })
        .collect()
}

/// The result for one key.
pub enum KeyVerdict {
    Ok,
    Unknown(String),
    Illegal(Value),
}

pub fn check_key(
    key: &str,
    ops: Vec<RegOp>,
    history: &[Op],
    deadline: Option<Instant>,
) -> KeyVerdict {
    let ops = simplify_unknown_writes(ops);
    let budget = Budget {
        deadline,
        ..Budget::default()
    };
    match wgl::check(&RegisterModel, None, &ops, &budget) {
        Outcome::Linearizable(_) => KeyVerdict::Ok,
        Outcome::Unknown(why) => KeyVerdict::Unknown(why),
        Outcome::Illegal(cx) => KeyVerdict::Illegal(explain(key, &ops, cx, history)),
    }
}

fn describe(op: &RegOp, history: &[Op]) -> Value {
    let inv = &history[op.id];
    let done = history[op.id + 1..]
        .iter()
        .find(|o| o.process == inv.process && o.kind != OpType::Invoke);
    json!({
        "index": op.id,
        "process": inv.process,
        "f": match op.input { RegInput::Read => "read", RegInput::Write(_) => "write" },
        "value": match (op.input, op.output) {
            (RegInput::Write(v), _) => show(Some(v)),
            (RegInput::Read, Some(v)) => show(v),
            (RegInput::Read, None) => Value::Null,
        },
        "type": done.map_or(OpType::Info, |d| d.kind),
        "invoke_ms": inv.time as f64 / 1e6,
        "complete_ms": done.map(|d| d.time as f64 / 1e6),
        "node": done.and_then(|d| d.node.clone()),
    })
}

/// A register whose value at the start of a window may be any of
/// `initial` (the initial None, or anything written before the window).
struct WindowModel<'a> {
    initial: &'a HashSet<RegValue>,
}

impl Model for WindowModel<'_> {
    /// None: the value is not pinned down yet.
    type State = Option<RegValue>;
    type Input = RegInput;
    type Output = RegValue;

    fn step(
        &self,
        state: &Self::State,
        input: &RegInput,
        output: Option<&RegValue>,
    ) -> Option<Self::State> {
        match (state, input) {
            (_, RegInput::Write(v)) => Some(Some(Some(*v))),
            (None, RegInput::Read) => match output {
                None => Some(None),
                Some(seen) if self.initial.contains(seen) => Some(Some(*seen)),
                Some(_) => None,
            },
            (Some(current), RegInput::Read) => RegisterModel.step(current, input, output).map(Some),
        }
    }

    // Not read-only: the first read pins the value down.
}

/// Shrinks a failure to a small, self-contained counterexample: the latest
/// start time `t0` such that the operations still running at or after `t0`
/// (up to the stuck operation's return) cannot be linearized *whatever* the
/// register held at `t0`, then greedily drops operations that are not
/// needed (never a write whose value a remaining read returns, so the
/// window never "fails" just because a write was cut out).
/// Returns (window, t0, number of possible values at t0).
fn self_contained_window(
    ops: &[RegOp],
    stuck: usize,
    deadline: Instant,
) -> Option<(Vec<usize>, u64, usize)> {
    let stuck_ret = ops[stuck].ret?;
    let base: Vec<usize> = (0..ops.len())
        .filter(|i| ops[*i].call <= stuck_ret)
        .collect();
    let window_at = |t0: u64| -> (Vec<usize>, HashSet<RegValue>) {
        let idx = base
            .iter()
            .copied()
            .filter(|i| ops[*i].ret.is_none_or(|r| r >= t0))
            .collect();
        let mut initial = HashSet::from([None]);
        for i in &base {
            if let RegInput::Write(v) = ops[*i].input {
                if ops[*i].call < t0 {
                    initial.insert(Some(v));
                }
            }
        }
        (idx, initial)
    };
    let illegal = |idx: &[usize], initial: &HashSet<RegValue>| {
        if Instant::now() >= deadline {
            return false;
        }
        let sub: Vec<RegOp> = idx.iter().map(|i| ops[*i].clone()).collect();
        let budget = Budget {
            deadline: Some(deadline.min(Instant::now() + Duration::from_secs(2))),
            max_cache: 300_000,
            ..Budget::default()
        };
        matches!(
            wgl::check(&WindowModel { initial }, None, &sub, &budget),
            Outcome::Illegal(_)
        )
    };
    let mut times: Vec<u64> = base.iter().filter_map(|i| ops[*i].ret).collect();
    times.push(0);
    times.sort_unstable();
    times.dedup();
    let (w, init) = window_at(0);
    if !illegal(&w, &init) {
        return None;
    }
    // Binary search for the latest start that still fails (failing is
    // close to monotone in t0: a later start leaves fewer constraints).
    let (mut lo, mut hi) = (0usize, times.len());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let (w, init) = window_at(times[mid]);
        if illegal(&w, &init) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t0 = times[lo];
    let (mut window, initial) = window_at(t0);
    if window.len() <= 150 {
        let mut i = 0;
        while i < window.len() {
            let victim = window[i];
            let observed = match ops[victim].input {
                RegInput::Write(v) => window
                    .iter()
                    .any(|j| ops[*j].input == RegInput::Read && ops[*j].output == Some(Some(v))),
                RegInput::Read => false,
            };
            if victim == stuck || observed {
                i += 1;
                continue;
            }
            let mut candidate = window.clone();
            candidate.remove(i);
            if illegal(&candidate, &initial) {
                window = candidate;
            } else {
                i += 1;
            }
        }
    }
    window.sort_by_key(|i| (ops[*i].call, *i));
    Some((window, t0, initial.len()))
}

/// The failure report: the longest linearizable prefix the search found,
/// the operation that could not be placed after it, and the smallest
/// failing window: self-contained when one is found (see
/// `self_contained_window`), else the operations that could have been
/// placed before the stuck one returned, shrunk while they stay
/// non-linearizable from the prefix's final state.
fn explain(key: &str, ops: &[RegOp], cx: wgl::Counterexample<RegValue>, history: &[Op]) -> Value {
    let stuck = &ops[cx.stuck];
    let deadline = Instant::now() + Duration::from_secs(10);
    let last_write = cx
        .prefix
        .iter()
        .rev()
        .find(|i| matches!(ops[**i].input, RegInput::Write(_)));
    let mut report = json!({
        "key": key,
        "operations": ops.len(),
        "linearizable_prefix_len": cx.prefix.len(),
        "state_after_prefix": show(cx.state),
        "last_write_in_prefix": last_write.map(|i| describe(&ops[*i], history)),
        "stuck_op": describe(stuck, history),
    });
    if let Some((window, t0, possible)) = self_contained_window(ops, cx.stuck, deadline) {
        report["window"] = window.iter().map(|i| describe(&ops[*i], history)).collect();
        report["window_kind"] = json!("self-contained");
        report["window_start_ms"] = json!(t0 as f64 / 1e6);
        report["window_is_minimal"] = json!(true);
        report["explanation"] = json!(format!(
            "whatever the register held at {:.3} ms (initially nothing, or any of the {} values \
             written before), these {} operations cannot be linearized",
            t0 as f64 / 1e6,
            possible - 1,
            window.len()
        ));
        return report;
    }

    let stuck_ret = stuck.ret.unwrap_or(u64::MAX);
    let in_prefix: HashSet<usize> = cx.prefix.iter().copied().collect();
    let mut window: Vec<usize> = (0..ops.len())
        .filter(|i| !in_prefix.contains(i) && ops[*i].call <= stuck_ret)
        .collect();
    // Keep the window readable: the operations closest in time to the stuck one.
    const MAX_WINDOW: usize = 40;
    if window.len() > MAX_WINDOW {
        window.sort_by_key(|i| std::cmp::Reverse(ops[*i].call));
        window.truncate(MAX_WINDOW);
        if !window.contains(&cx.stuck) {
            window.pop();
            window.push(cx.stuck);
        }
    }
    window.sort_by_key(|i| (ops[*i].call, *i));
    let illegal = |idx: &[usize]| {
        let sub: Vec<RegOp> = idx.iter().map(|i| ops[*i].clone()).collect();
        let budget = Budget {
            deadline: Some(deadline.max(Instant::now() + Duration::from_millis(500))),
            max_cache: 200_000,
            ..Budget::default()
        };
        matches!(
            wgl::check(&RegisterModel, cx.state, &sub, &budget),
            Outcome::Illegal(_)
        )
    };
    let minimal = illegal(&window);
    if minimal {
        let mut i = 0;
        while i < window.len() && Instant::now() < deadline {
            if window[i] == cx.stuck {
                i += 1;
                continue;
            }
            let mut candidate = window.clone();
            candidate.remove(i);
            if illegal(&candidate) {
                window = candidate;
            } else {
                i += 1;
            }
        }
    }
    report["window"] = window.iter().map(|i| describe(&ops[*i], history)).collect();
    report["window_kind"] = json!("after-prefix");
    report["window_is_minimal"] = json!(minimal);
    report["explanation"] = json!(format!(
        "starting from value {} (after the longest linearizable prefix of {} operations), the {} \
         operations of `window` cannot all be linearized before the stuck operation returns",
        show(cx.state),
        cx.prefix.len(),
        window.len()
    ));
    report
}

/// Linearizability of every register in the history.
pub struct RegisterChecker {
    /// Time budget for the whole search (all keys).
    pub time_budget: Duration,
}

impl Default for RegisterChecker {
    fn default() -> Self {
        Self {
            time_budget: Duration::from_secs(120),
        }
    }
}

impl Checker for RegisterChecker {
    fn name(&self) -> &str {
        "linearizable-register"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let deadline = Instant::now() + self.time_budget;
        let mut valid = Validity::True;
        let mut per_key = serde_json::Map::new();
        let mut failures = Vec::new();
        for (key, ops) in partition(history) {
            let n = ops.len();
            let verdict = check_key(&key, ops, history, Some(deadline));
            let entry = match verdict {
                KeyVerdict::Ok => json!({"valid": true, "operations": n}),
                KeyVerdict::Unknown(why) => {
                    valid = valid.and(Validity::Unknown);
                    json!({"valid": "unknown", "operations": n, "reason": why})
                }
                KeyVerdict::Illegal(report) => {
                    valid = valid.and(Validity::False);
                    failures.push(report);
                    json!({"valid": false, "operations": n})
                }
            };
            per_key.insert(key, entry);
        }
        let summary = match valid {
            Validity::True => format!("all {} registers linearizable", per_key.len()),
            Validity::False => format!(
                "{} of {} registers NOT linearizable (see failures)",
                failures.len(),
                per_key.len()
            ),
            Validity::Unknown => "search budget exhausted on some register".to_string(),
        };
        CheckResult {
            checker: self.name().to_string(),
            valid,
            summary,
            details: json!({"keys": per_key, "failures": failures}),
        }
    }
}

#[cfg(test)]
mod tests;
