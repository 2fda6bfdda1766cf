//! Explaining a linearizability failure with a small window of operations,
//! for any model with reads and writes (one register, or a map of them).
//!
//! The search's counterexample (the longest linearizable prefix and the
//! operation stuck after it) points at the problem but drags the whole
//! history before it along. The report instead shows the smallest window
//! that fails on its own: the latest start time `t0` such that the
//! operations still running at or after `t0` cannot be linearized
//! *whatever* the state was at `t0`, then greedily shrunk.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::wgl::{self, Budget, Counterexample, Model, Operation, Outcome};

/// An operation of model `M`.
pub type ModelOp<M> = Operation<<M as Model>::Input, <M as Model>::Output>;

/// What shrinking a failure needs beyond the sequential model. Writes are
/// the operations that are not read-only.
pub trait Explain: Model<Input: Clone, Output: Clone> {
    /// The model started from any state the writes called before a
    /// window's start could have left behind. It may allow more start
    /// states than are reachable (e.g. each register independently any of
    /// its earlier values): the window then fails for every start state
    /// that really was possible, which is what the report claims.
    type Open: Model<Input = Self::Input, Output = Self::Output>;

    /// The start states `Open` allows, in words (for reports).
    const START_STATES: &'static str;

    /// The open model and its start state, given the inputs of the writes
    /// called before the window starts.
    fn open(&self, written_before: &[&Self::Input]) -> (Self::Open, <Self::Open as Model>::State);

    /// Whether `read` returned a value that only `write` wrote: a window
    /// without that write fails for a trivial reason, so shrinking keeps it.
    fn observes(&self, read: &ModelOp<Self>, write: &Self::Input) -> bool;
}

/// A window that fails whatever the state was when it starts.
pub struct SelfContained {
    /// Positions in the checked operations, in invocation order.
    pub ops: Vec<usize>,
    pub start_ns: u64,
    /// Writes called before `start_ns` (the start states allowed).
    pub writes_before: usize,
}

/// The latest start `t0` such that the operations called up to the stuck
/// operation's return and still running at or after `t0` cannot be
/// linearized whatever the state was at `t0`, then greedily shrunk (never
/// dropping the stuck operation or a write a remaining read observed).
/// None when no such window is found in time.
pub fn self_contained<M: Explain>(
    model: &M,
    ops: &[ModelOp<M>],
    stuck: usize,
    deadline: Instant,
) -> Option<SelfContained> {
    let stuck_ret = ops.get(stuck)?.ret?;
    let base: Vec<usize> = (0..ops.len())
        .filter(|i| ops[*i].call <= stuck_ret)
        .collect();
    let is_write = |i: usize| !model.is_read_only(&ops[i].input);
    let window_at = |t0: u64| -> (Vec<usize>, Vec<&M::Input>) {
        let idx = base
            .iter()
            .copied()
            .filter(|i| ops[*i].ret.is_none_or(|r| r >= t0))
            .collect();
        let written = base
            .iter()
            .filter(|i| is_write(**i) && ops[**i].call < t0)
            .map(|i| &ops[*i].input)
            .collect();
        (idx, written)
    };
    let illegal = |idx: &[usize], written: &[&M::Input]| {
        if Instant::now() >= deadline {
            return false;
        }
        let sub: Vec<ModelOp<M>> = idx.iter().map(|i| ops[*i].clone()).collect();
        let budget = Budget {
            deadline: Some(deadline.min(Instant::now() + Duration::from_secs(2))),
            max_cache: 300_000,
            ..Budget::default()
        };
        let (open, init) = model.open(written);
        matches!(wgl::check(&open, init, &sub, &budget), Outcome::Illegal(_))
    };
    let mut times: Vec<u64> = base.iter().filter_map(|i| ops[*i].ret).collect();
    times.push(0);
    times.sort_unstable();
    times.dedup();
    let (w, written) = window_at(0);
    if !illegal(&w, &written) {
        return None;
    }
    // Binary search for the latest start that still fails (failing is
    // close to monotone in t0: a later start leaves fewer constraints).
    let (mut lo, mut hi) = (0usize, times.len());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let (w, written) = window_at(times[mid]);
        if illegal(&w, &written) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let start_ns = times[lo];
    let (mut window, written) = window_at(start_ns);
    if window.len() <= 150 {
        let mut i = 0;
        while i < window.len() {
            let victim = window[i];
            let observed = is_write(victim)
                && window
                    .iter()
                    .any(|j| !is_write(*j) && model.observes(&ops[*j], &ops[victim].input));
            if victim == stuck || observed {
                i += 1;
                continue;
            }
            let mut candidate = window.clone();
            candidate.remove(i);
            if illegal(&candidate, &written) {
                window = candidate;
            } else {
                i += 1;
            }
        }
    }
    window.sort_by_key(|i| (ops[*i].call, *i));
    Some(SelfContained {
        ops: window,
        start_ns,
        writes_before: written.len(),
    })
}

/// A window that fails from the state after the search's longest prefix.
pub struct AfterPrefix {
    /// Positions in the checked operations, in invocation order.
    pub ops: Vec<usize>,
    /// Whether the window was shrunk to a minimal failing one (false: the
    /// operations closest in time to the stuck one, not shown to fail).
    pub minimal: bool,
}

/// The fallback when no self-contained window is found: the operations
/// outside the prefix that were called before the stuck one returned
/// (at most 40, the closest in time), shrunk while they stay
/// non-linearizable from the prefix's final state.
pub fn after_prefix<M: Model<Input: Clone, Output: Clone>>(
    model: &M,
    ops: &[ModelOp<M>],
    cx: &Counterexample<M::State>,
    deadline: Instant,
) -> AfterPrefix {
    let stuck_ret = ops.get(cx.stuck).and_then(|o| o.ret).unwrap_or(u64::MAX);
    let in_prefix: std::collections::HashSet<usize> = cx.prefix.iter().copied().collect();
    let mut window: Vec<usize> = (0..ops.len())
        .filter(|i| !in_prefix.contains(i) && ops[*i].call <= stuck_ret)
        .collect();
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
        let sub: Vec<ModelOp<M>> = idx.iter().map(|i| ops[*i].clone()).collect();
        let budget = Budget {
            deadline: Some(deadline.max(Instant::now() + Duration::from_millis(500))),
            max_cache: 200_000,
            ..Budget::default()
        };
        matches!(
            wgl::check(model, cx.state.clone(), &sub, &budget),
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
    AfterPrefix {
        ops: window,
        minimal,
    }
}

/// The failure report: the longest linearizable prefix the search found,
/// the operation that could not be placed after it, the last write of the
/// prefix and the smallest failing window (self-contained when one is
/// found, else after the prefix). `what` names the object ("register",
/// "map"); `describe` turns an operation into its report entry.
pub fn report<M: Explain>(
    model: &M,
    what: &str,
    ops: &[ModelOp<M>],
    cx: &Counterexample<M::State>,
    describe: impl Fn(&ModelOp<M>) -> Value,
    show_state: impl Fn(&M::State) -> Value,
) -> serde_json::Map<String, Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let last_write = cx
        .prefix
        .iter()
        .rev()
        .filter_map(|i| ops.get(*i))
        .find(|o| !model.is_read_only(&o.input));
    let mut report = serde_json::Map::new();
    report.insert("operations".into(), json!(ops.len()));
    report.insert("linearizable_prefix_len".into(), json!(cx.prefix.len()));
    report.insert("state_after_prefix".into(), show_state(&cx.state));
    report.insert(
        "last_write_in_prefix".into(),
        last_write.map_or(Value::Null, &describe),
    );
    report.insert(
        "stuck_op".into(),
        ops.get(cx.stuck).map_or(Value::Null, &describe),
    );
    let shown = |idx: &[usize]| -> Value { idx.iter().map(|i| describe(&ops[*i])).collect() };
    if let Some(w) = self_contained(model, ops, cx.stuck, deadline) {
        report.insert("window".into(), shown(&w.ops));
        report.insert("window_kind".into(), json!("self-contained"));
        report.insert("window_start_ms".into(), json!(w.start_ns as f64 / 1e6));
        report.insert("window_is_minimal".into(), json!(true));
        report.insert(
            "explanation".into(),
            json!(format!(
                "whatever the {what} held at {:.3} ms ({}; {} writes were called before), these \
                 {} operations cannot be linearized",
                w.start_ns as f64 / 1e6,
                M::START_STATES,
                w.writes_before,
                w.ops.len()
            )),
        );
        return report;
    }
    let w = after_prefix(model, ops, cx, deadline);
    report.insert("window".into(), shown(&w.ops));
    report.insert("window_kind".into(), json!("after-prefix"));
    report.insert("window_is_minimal".into(), json!(w.minimal));
    report.insert(
        "explanation".into(),
        json!(format!(
            "starting from {} (after the longest linearizable prefix of {} operations), the {} \
             operations of `window` cannot all be linearized before the stuck operation returns",
            show_state(&cx.state),
            cx.prefix.len(),
            w.ops.len()
        )),
    );
    report
}
