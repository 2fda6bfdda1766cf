//! Linearizability of a set of registers (one per role weight), checked
//! per key: a history of independent registers is linearizable exactly when
//! each key's sub-history is (P-compositionality), and small sub-histories
//! are far cheaper to search.
//!
//! History shape (written by the register workload):
//! - `write`, key = role, value = weight (a number, unique per key);
//! - `read`, no key, value on completion = `{role: weight | null, ...}` (one
//!   GET_WEIGHTS answers every key; `null` = never written), or a single-key
//!   read with key = role and value = weight | null;
//! - `final-read`: a read of every key after the faults were healed, checked
//!   like any read (older histories recorded it as a `read` by the part's
//!   final process, see `checker::is_final_read`).
//!
//! `fail` operations did not happen and are dropped; failed or unknown reads
//! have no effect and are dropped; unknown writes may take effect at any time
//! after their invocation, or never.
//!
//! A linearizable history passes only when a final read succeeded and showed
//! every written key, and some write was acknowledged: otherwise a write lost
//! at the end, or every write, could go unseen, and the verdict is
//! `unknown`. Failures are explained with operations looked up by their
//! history `index` (`catalog`), so they are right for the part of a
//! composed run too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::catalog::{Catalog, ShownOp};
use super::wgl::{self, Budget, Model, Operation, Outcome};
use super::window::{self, Explain, Failure};
use super::{final_reads, CheckResult, Checker, Validity};
use crate::history::{pair, Completed, Op, OpType, Process};

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
            "read" | "final-read" if kind == OpType::Ok => {
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
    Illegal(Box<Failure>),
}

/// The evidence of the register checker (its `details`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegisterDetails {
    /// The search's verdict alone (the checker's is also `unknown` when
    /// no final read shows the registers).
    pub linearizable: Validity,
    pub final_reads: usize,
    pub acknowledged_writes: usize,
    pub keys: BTreeMap<String, KeyFigures>,
    pub failures: Vec<Failure>,
}

/// One register's operations and verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyFigures {
    pub operations: usize,
    pub reads_ok: usize,
    pub writes_ok: usize,
    pub writes_unknown: usize,
    pub final_reads: usize,
    pub valid: Validity,
    /// Why the search could not decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn check_key(
    key: &str,
    ops: Vec<RegOp>,
    catalog: &Catalog,
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
        Outcome::Illegal(cx) => KeyVerdict::Illegal(Box::new(explain(key, &ops, &cx, catalog))),
    }
}

/// A report entry for one operation on this register (a multi-key read
/// shows the value it returned for this key).
fn describe(op: &RegOp, catalog: &Catalog) -> ShownOp {
    let (f, value) = match (op.input, op.output) {
        (RegInput::Write(v), _) => ("write", show(Some(v))),
        (RegInput::Read, Some(v)) => ("read", show(v)),
        (RegInput::Read, None) => ("read", Value::Null),
    };
    catalog.describe(op.id, value, f, op.call)
}

/// A register whose value at the start of a window may be any of
/// `initial` (the initial None, or anything written before the window).
pub struct WindowModel {
    initial: HashSet<RegValue>,
}

impl Model for WindowModel {
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

impl Explain for RegisterModel {
    type Open = WindowModel;

    const START_STATES: &'static str = "nothing, or any value a write called before wrote";

    fn open(&self, written_before: &[&RegInput]) -> (WindowModel, Option<RegValue>) {
        let mut initial = HashSet::from([None]);
        for input in written_before {
            if let RegInput::Write(v) = input {
                initial.insert(Some(*v));
            }
        }
        (WindowModel { initial }, None)
    }

    fn observes(&self, read: &RegOp, write: &RegInput) -> bool {
        match write {
            RegInput::Write(v) => read.input == RegInput::Read && read.output == Some(Some(*v)),
            RegInput::Read => false,
        }
    }
}

/// The failure report of one key (see `window::report`).
fn explain(
    key: &str,
    ops: &[RegOp],
    cx: &wgl::Counterexample<RegValue>,
    catalog: &Catalog,
) -> Failure {
    let mut failure = window::report(
        &RegisterModel,
        "register",
        ops,
        cx,
        |op| describe(op, catalog),
        |state| show(*state),
    );
    failure.key = Some(key.to_string());
    failure
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
        let catalog = Catalog::new(history);
        let finals = final_reads(history);
        let mut linearizable = Validity::True;
        let mut per_key = BTreeMap::new();
        let mut failures = Vec::new();
        let mut acknowledged = 0;
        let mut keys_without_final_read = Vec::new();
        for (key, ops) in partition(history) {
            let counts = KeyCounts::of(&ops);
            acknowledged += counts.writes_ok;
            let in_final = finals.iter().filter(|c| shows_key(c, &key)).count();
            if in_final == 0 && counts.writes_ok + counts.writes_unknown > 0 {
                keys_without_final_read.push(key.clone());
            }
            let mut entry = KeyFigures {
                operations: ops.len(),
                reads_ok: counts.reads_ok,
                writes_ok: counts.writes_ok,
                writes_unknown: counts.writes_unknown,
                final_reads: in_final,
                valid: Validity::True,
                reason: None,
            };
            match check_key(&key, ops, &catalog, Some(deadline)) {
                KeyVerdict::Ok => {}
                KeyVerdict::Unknown(why) => {
                    linearizable = linearizable.and(Validity::Unknown);
                    entry.valid = Validity::Unknown;
                    entry.reason = Some(why);
                }
                KeyVerdict::Illegal(failure) => {
                    linearizable = linearizable.and(Validity::False);
                    failures.push(*failure);
                    entry.valid = Validity::False;
                }
            }
            per_key.insert(key, entry);
        }
        let unexercised = super::unexercised(finals.len(), &keys_without_final_read, acknowledged);
        let (valid, summary) = match (linearizable, unexercised) {
            (Validity::False, _) => (
                Validity::False,
                format!(
                    "{} of {} registers NOT linearizable (see failures)",
                    failures.len(),
                    per_key.len()
                ),
            ),
            (Validity::Unknown, _) => (
                Validity::Unknown,
                "search budget exhausted on some register".to_string(),
            ),
            (_, Some(why)) => (Validity::Unknown, why),
            (_, None) => (
                Validity::True,
                format!(
                    "all {} registers linearizable ({acknowledged} acknowledged writes, {} final \
                     reads)",
                    per_key.len(),
                    finals.len()
                ),
            ),
        };
        CheckResult {
            checker: self.name().to_string(),
            valid,
            summary,
            details: super::details(&RegisterDetails {
                linearizable,
                final_reads: finals.len(),
                acknowledged_writes: acknowledged,
                keys: per_key,
                failures,
            }),
        }
    }
}

/// Operations of one register, by kind and outcome.
#[derive(Default)]
struct KeyCounts {
    reads_ok: usize,
    writes_ok: usize,
    writes_unknown: usize,
}

impl KeyCounts {
    fn of(ops: &[RegOp]) -> Self {
        let mut counts = KeyCounts::default();
        for op in ops {
            match (op.input, &op.output) {
                (RegInput::Read, _) => counts.reads_ok += 1,
                (RegInput::Write(_), Some(_)) => counts.writes_ok += 1,
                (RegInput::Write(_), None) => counts.writes_unknown += 1,
            }
        }
        counts
    }
}

/// Whether a successful read showed `key` (a multi-key read, or a read of
/// that one key).
fn shows_key(read: &Completed, key: &str) -> bool {
    match &read.invoke.key {
        Some(k) => k == key,
        None => read.complete.is_some_and(|d| d.value.get(key).is_some()),
    }
}

#[cfg(test)]
mod tests;
