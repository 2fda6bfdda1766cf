//! Linearizability of a map of registers with multi-key writes and
//! whole-map reads, checked as one object.
//!
//! One UPDATE_WEIGHTS sets several roles at once and one GET_WEIGHTS
//! returns every role, so the system promises more than one linearizable
//! register per role: a read must show the whole map as of one instant. A
//! read that shows half of a write (one role already new, another still
//! old), or roles from different instants, passes every per-role check;
//! against the map model it cannot be linearized.
//!
//! History shape (written by the multi-register workload):
//! - `write`, no key, value = `{role: weight, ...}`: one UPDATE_WEIGHTS that
//!   sets every listed role; the workload sets all roles of one write to
//!   one number no other write uses (a single-role write with key = role
//!   and a number value is read the same way);
//! - `read` / `final-read`, no key, value on completion =
//!   `{role: weight | null, ...}` (`null` = never written).
//!
//! `fail` writes did not happen and are dropped; failed or unknown reads
//! have no effect and are dropped; unknown writes may take effect at any
//! time after their invocation, or never. The search is the same as the
//! register checker's (`wgl`), over the whole map as the state; failures
//! are explained the same way (`window`), with operations named by their
//! history `index`. As for registers, a linearizable history is `unknown`
//! unless a final read showed every written key and some write was
//! acknowledged.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{Catalog, ShownOp};
use super::register::{show, RegValue};
use super::wgl::{self, Budget, Model, Operation, Outcome};
use super::window::{self, Explain, Failure};
use super::{final_reads, CheckResult, Checker, Validity};
use crate::history::{pair, Op, OpType, Process};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapInput {
    Read,
    /// (key position, value) for every key the write sets.
    Write(Box<[(usize, u64)]>),
}

/// What a read returned, per key position: the value, or None when the
/// read did not show that key (no constraint).
pub type Snapshot = Box<[Option<RegValue>]>;

/// The map: one register per key position.
pub type MapState = Box<[RegValue]>;

pub type MapOp = Operation<MapInput, Snapshot>;

pub struct MapModel {
    /// Number of keys (the length of every state).
    pub keys: usize,
}

impl MapModel {
    /// The map before any write: every key unwritten.
    pub fn initial(&self) -> MapState {
        vec![None; self.keys].into()
    }
}

impl Model for MapModel {
    type State = MapState;
    type Input = MapInput;
    /// For reads, the snapshot read; ignored for writes.
    type Output = Snapshot;

    fn step(
        &self,
        state: &MapState,
        input: &MapInput,
        output: Option<&Snapshot>,
    ) -> Option<MapState> {
        match input {
            MapInput::Write(sets) => {
                let mut next = state.clone();
                for (k, v) in sets.iter() {
                    if let Some(slot) = next.get_mut(*k) {
                        *slot = Some(*v);
                    }
                }
                Some(next)
            }
            MapInput::Read => {
                let matches = output.is_none_or(|seen| {
                    seen.iter()
                        .zip(state.iter())
                        .all(|(seen, held)| seen.is_none_or(|s| s == *held))
                });
                matches.then(|| state.clone())
            }
        }
    }

    fn is_read_only(&self, input: &MapInput) -> bool {
        *input == MapInput::Read
    }
}

/// The map at a window's start: each key independently any of `initial`
/// (see `Explain::Open`).
pub struct OpenMapModel {
    initial: Vec<HashSet<RegValue>>,
}

impl Model for OpenMapModel {
    /// Per key: None while the value is not pinned down yet.
    type State = Box<[Option<RegValue>]>;
    type Input = MapInput;
    type Output = Snapshot;

    fn step(
        &self,
        state: &Self::State,
        input: &MapInput,
        output: Option<&Snapshot>,
    ) -> Option<Self::State> {
        let mut next = state.clone();
        match input {
            MapInput::Write(sets) => {
                for (k, v) in sets.iter() {
                    if let Some(slot) = next.get_mut(*k) {
                        *slot = Some(Some(*v));
                    }
                }
            }
            MapInput::Read => {
                let Some(seen) = output else {
                    return Some(next);
                };
                for (k, seen) in seen.iter().enumerate() {
                    let (Some(seen), Some(slot)) = (seen, next.get_mut(k)) else {
                        continue;
                    };
                    match slot {
                        Some(held) if held != seen => return None,
                        Some(_) => {}
                        None if self.initial.get(k).is_some_and(|i| i.contains(seen)) => {
                            *slot = Some(*seen)
                        }
                        None => return None,
                    }
                }
            }
        }
        Some(next)
    }

    // Not read-only: the first read of a key pins it down.
}

impl Explain for MapModel {
    type Open = OpenMapModel;

    const START_STATES: &'static str =
        "for each key independently: nothing, or any value a write called before wrote to it";

    fn open(&self, written_before: &[&MapInput]) -> (OpenMapModel, Box<[Option<RegValue>]>) {
        let mut initial: Vec<HashSet<RegValue>> = vec![HashSet::from([None]); self.keys];
        for input in written_before {
            if let MapInput::Write(sets) = input {
                for (k, v) in sets.iter() {
                    if let Some(values) = initial.get_mut(*k) {
                        values.insert(Some(*v));
                    }
                }
            }
        }
        (OpenMapModel { initial }, vec![None; self.keys].into())
    }

    fn observes(&self, read: &MapOp, write: &MapInput) -> bool {
        let (MapInput::Read, Some(seen), MapInput::Write(sets)) =
            (&read.input, &read.output, write)
        else {
            return false;
        };
        sets.iter()
            .any(|(k, v)| seen.get(*k).is_some_and(|s| *s == Some(Some(*v))))
    }
}

/// The map operations of a history, over the keys it names.
pub struct MapHistory {
    /// Key names in order: key position `i` is `keys[i]`.
    pub keys: Vec<String>,
    /// `id` = the history index of the invocation.
    pub ops: Vec<MapOp>,
}

/// A write's assignments `(role, value bits)`; None when the operation is
/// not a well-formed write (then it cannot be modelled and is skipped).
fn assignments(invoke: &Op) -> Option<Vec<(&str, u64)>> {
    let sets: Vec<(&str, u64)> = match (&invoke.key, &invoke.value) {
        (Some(key), Value::Number(n)) => vec![(key.as_str(), n.as_f64()?.to_bits())],
        (None, Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Some((k.as_str(), v.as_f64()?.to_bits())))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    (!sets.is_empty()).then_some(sets)
}

/// A successful read's `{role: value}`, if it returned an object.
fn read_value<'a>(invoke: &Op, done: Option<&'a Op>) -> Option<&'a serde_json::Map<String, Value>> {
    if invoke.key.is_some() {
        return None;
    }
    done?.value.as_object()
}

pub fn partition(history: &[Op]) -> MapHistory {
    let pairs = pair(history);
    let is_read = |f: &str| f == "read" || f == "final-read";
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for c in &pairs {
        if c.invoke.f == "write" {
            names.extend(assignments(c.invoke).into_iter().flatten().map(|(k, _)| k));
        } else if is_read(&c.invoke.f) && c.kind() == OpType::Ok {
            names.extend(
                read_value(c.invoke, c.complete)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str()),
            );
        }
    }
    let position: HashMap<&str, usize> = names.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut ops = Vec::new();
    for c in &pairs {
        let Process::Client(_) = c.invoke.process else {
            continue;
        };
        let kind = c.kind();
        if c.invoke.f == "write" && kind != OpType::Fail {
            let Some(sets) = assignments(c.invoke) else {
                continue;
            };
            ops.push(MapOp {
                id: c.invoke.index,
                input: MapInput::Write(
                    sets.iter()
                        .filter_map(|(k, v)| Some((*position.get(k)?, *v)))
                        .collect(),
                ),
                output: (kind == OpType::Ok).then(Snapshot::default),
                call: c.invoke_time(),
                ret: c.return_time(),
            });
        } else if is_read(&c.invoke.f) && kind == OpType::Ok {
            let Some(map) = read_value(c.invoke, c.complete) else {
                continue;
            };
            let mut seen: Vec<Option<RegValue>> = vec![None; names.len()];
            for (k, v) in map {
                let Some(slot) = position.get(k.as_str()).and_then(|i| seen.get_mut(*i)) else {
                    continue;
                };
                *slot = match v {
                    Value::Null => Some(None),
                    v => v.as_f64().map(|f| Some(f.to_bits())),
                };
            }
            ops.push(MapOp {
                id: c.invoke.index,
                input: MapInput::Read,
                output: Some(seen.into()),
                call: c.invoke_time(),
                ret: c.return_time(),
            });
        }
    }
    MapHistory {
        keys: names.into_iter().map(str::to_string).collect(),
        ops,
    }
}

/// Sound simplifications of unknown-outcome writes, valid when no
/// (key, value) is written by two writes (otherwise nothing is changed).
///
/// 1. An unknown write W none of whose (key, value) pairs any read showed
///    can be dropped. A linearization without W is one where W never took
///    effect, which an unknown write may do. Conversely, take a
///    linearization L that applies W and remove W: writes are legal in any
///    state; a read before W sees the same map; a read R after W sees the
///    same value for every key W does not set, and for a key k that W sets
///    either R does not show k (no constraint) or R shows a value other
///    than W's (no read shows W's), so the last write to k before R in L
///    is not W and is still the last one without W. Removing an operation
///    keeps the real-time order, so L without W is a linearization.
/// 2. An unknown write W some read showed must take effect before the
///    earliest return `t` of such a read R: in every linearization R shows
///    W's value v at key k, so the last write to k before R is the one
///    writing v to k, which is W alone; R takes effect before `t`, so W
///    does too. Giving W the return time `t` (and requiring it) thus keeps
///    exactly the linearizations there were. If `t` is before W's
///    invocation, no linearization exists and W is left as it is for the
///    search to report.
///
/// Both shrink the search a lot: otherwise every unknown write stays
/// concurrent with the whole rest of the history.
pub fn simplify_unknown_writes(ops: Vec<MapOp>) -> Vec<MapOp> {
    let mut writers: HashMap<(usize, u64), usize> = HashMap::new();
    for op in &ops {
        if let MapInput::Write(sets) = &op.input {
            for kv in sets.iter() {
                *writers.entry(*kv).or_default() += 1;
            }
        }
    }
    if writers.values().any(|n| *n > 1) {
        return ops;
    }
    let mut first_seen: HashMap<(usize, u64), u64> = HashMap::new();
    for op in &ops {
        let (MapInput::Read, Some(seen), Some(ret)) = (&op.input, &op.output, op.ret) else {
            continue;
        };
        for (k, seen) in seen.iter().enumerate() {
            if let Some(Some(v)) = seen {
                let t = first_seen.entry((k, *v)).or_insert(ret);
                *t = (*t).min(ret);
            }
        }
    }
    ops.into_iter()
        .filter_map(|mut op| {
            if let (MapInput::Write(sets), None) = (&op.input, op.ret) {
                match sets.iter().filter_map(|kv| first_seen.get(kv)).min() {
                    None => return None,
                    Some(&t) if t >= op.call => op.ret = Some(t),
                    Some(_) => {}
                }
            }
            Some(op)
        })
        .collect()
}

/// Linearizability of the whole map (multi-key writes, whole-map reads).
pub struct MapChecker {
    /// Time budget for the search.
    pub time_budget: Duration,
}

impl Default for MapChecker {
    fn default() -> Self {
        Self {
            time_budget: Duration::from_secs(120),
        }
    }
}

/// Operations of the map by kind and outcome, and reads per key.
#[derive(Default)]
struct MapCounts {
    reads_ok: usize,
    writes_ok: usize,
    writes_unknown: usize,
    /// Per key position: successful reads that showed it.
    reads_by_key: Vec<usize>,
    /// Per key position: acknowledged or unknown writes that set it.
    writes_by_key: Vec<usize>,
}

impl MapCounts {
    fn of(keys: usize, ops: &[MapOp]) -> Self {
        let mut counts = MapCounts {
            reads_by_key: vec![0; keys],
            writes_by_key: vec![0; keys],
            ..MapCounts::default()
        };
        for op in ops {
            match (&op.input, &op.output) {
                (MapInput::Read, seen) => {
                    counts.reads_ok += 1;
                    for (k, s) in seen.iter().flat_map(|s| s.iter()).enumerate() {
                        if s.is_some() {
                            counts.reads_by_key[k] += 1;
                        }
                    }
                }
                (MapInput::Write(sets), output) => {
                    if output.is_some() {
                        counts.writes_ok += 1;
                    } else {
                        counts.writes_unknown += 1;
                    }
                    for (k, _) in sets.iter() {
                        counts.writes_by_key[*k] += 1;
                    }
                }
            }
        }
        counts
    }
}

/// The map as JSON (`{key: value | null}`).
fn show_map(keys: &[String], values: impl Iterator<Item = (usize, Value)>) -> Value {
    Value::Object(
        values
            .filter_map(|(k, v)| Some((keys.get(k)?.clone(), v)))
            .collect(),
    )
}

fn describe(op: &MapOp, keys: &[String], catalog: &Catalog) -> ShownOp {
    let (f, value) = match (&op.input, &op.output) {
        (MapInput::Write(sets), _) => (
            "write",
            show_map(keys, sets.iter().map(|(k, v)| (*k, show(Some(*v))))),
        ),
        (MapInput::Read, seen) => (
            "read",
            show_map(
                keys,
                seen.iter()
                    .flat_map(|s| s.iter())
                    .enumerate()
                    .filter_map(|(k, s)| Some((k, show((*s)?)))),
            ),
        ),
    };
    catalog.describe(op.id, value, f, op.call)
}

impl Checker for MapChecker {
    fn name(&self) -> &str {
        "linearizable-map"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let deadline = Instant::now() + self.time_budget;
        let catalog = Catalog::new(history);
        let finals = final_reads(history);
        let MapHistory { keys, ops } = partition(history);
        let operations = ops.len();
        let counts = MapCounts::of(keys.len(), &ops);
        let model = MapModel { keys: keys.len() };
        let ops = simplify_unknown_writes(ops);
        let budget = Budget {
            deadline: Some(deadline),
            ..Budget::default()
        };
        let mut failures = Vec::new();
        let (linearizable, search_note) = match wgl::check(&model, model.initial(), &ops, &budget) {
            Outcome::Linearizable(_) => (Validity::True, None),
            Outcome::Unknown(why) => (Validity::Unknown, Some(why)),
            Outcome::Illegal(cx) => {
                let mut failure = window::report(
                    &model,
                    "map",
                    &ops,
                    &cx,
                    |op| describe(op, &keys, &catalog),
                    |state| show_map(&keys, state.iter().map(|v| show(*v)).enumerate()),
                );
                failure.keys = keys.clone();
                failures.push(failure);
                (Validity::False, None)
            }
        };
        let in_final: Vec<usize> = keys
            .iter()
            .map(|k| {
                finals
                    .iter()
                    .filter(|c| read_value(c.invoke, c.complete).is_some_and(|m| m.contains_key(k)))
                    .count()
            })
            .collect();
        let missing_from_final: Vec<String> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| in_final[*i] == 0 && counts.writes_by_key[*i] > 0)
            .map(|(_, k)| k.clone())
            .collect();
        let unexercised = super::unexercised(finals.len(), &missing_from_final, counts.writes_ok);
        let (valid, summary) = match (linearizable, unexercised) {
            (Validity::False, _) => (
                Validity::False,
                "the map is NOT linearizable (see failures)".to_string(),
            ),
            (Validity::Unknown, _) => (
                Validity::Unknown,
                format!(
                    "search budget exhausted: {}",
                    search_note.unwrap_or_default()
                ),
            ),
            (_, Some(why)) => (Validity::Unknown, why),
            (_, None) => (
                Validity::True,
                format!(
                    "the map of {} keys is linearizable ({} acknowledged multi-key writes, {} \
                     whole-map reads)",
                    keys.len(),
                    counts.writes_ok,
                    counts.reads_ok
                ),
            ),
        };
        let per_key: BTreeMap<String, MapKeyFigures> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    k.clone(),
                    MapKeyFigures {
                        reads_ok: counts.reads_by_key[i],
                        writes: counts.writes_by_key[i],
                        final_reads: in_final[i],
                    },
                )
            })
            .collect();
        CheckResult {
            checker: self.name().to_string(),
            valid,
            summary,
            details: super::details(&MapDetails {
                linearizable,
                operations,
                reads_ok: counts.reads_ok,
                acknowledged_writes: counts.writes_ok,
                unknown_writes: counts.writes_unknown,
                final_reads: finals.len(),
                keys: per_key,
                failures,
            }),
        }
    }
}

/// The evidence of the map checker (its `details`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapDetails {
    /// The search's verdict alone (the checker's is also `unknown` when
    /// no final read shows the map).
    pub linearizable: Validity,
    pub operations: usize,
    pub reads_ok: usize,
    pub acknowledged_writes: usize,
    pub unknown_writes: usize,
    pub final_reads: usize,
    pub keys: BTreeMap<String, MapKeyFigures>,
    pub failures: Vec<Failure>,
}

/// One register of the map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapKeyFigures {
    pub reads_ok: usize,
    pub writes: usize,
    pub final_reads: usize,
}

#[cfg(test)]
mod tests;
