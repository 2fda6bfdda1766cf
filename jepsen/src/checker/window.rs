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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::ShownOp;
use super::wgl::{self, Budget, Counterexample, Model, Operation, Outcome};

/// How a failure's window was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// Fails whatever the state was when it starts (see [`self_contained`]).
    SelfContained,
    /// Fails after the longest linearizable prefix (see [`after_prefix`]).
    #[default]
    AfterPrefix,
}

/// A linearizability failure explained: what the search found and the
/// smallest failing window of operations. Written by the register and map
/// checkers into their details (`failures`), drawn by the HTML report
/// (which draws what it finds: every field has a default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failure {
    /// The register (register checker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The registers of the map (map checker).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Operations the search looked at.
    pub operations: usize,
    pub linearizable_prefix_len: usize,
    pub state_after_prefix: Value,
    pub last_write_in_prefix: Option<ShownOp>,
    pub stuck_op: Option<ShownOp>,
    pub window: Vec<ShownOp>,
    pub window_kind: WindowKind,
    /// Where a self-contained window starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start_ms: Option<f64>,
    pub window_is_minimal: bool,
    /// The failure in one sentence.
    pub explanation: String,
}

impl Failure {
    /// What failed, for headings: `register k` or `registers a, b`.
    pub fn subject(&self) -> String {
        match (&self.key, self.keys.is_empty()) {
            (Some(key), _) => format!("register {key}"),
            (None, false) => format!("registers {}", self.keys.join(", ")),
            (None, true) => "?".to_string(),
        }
    }
}

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
    describe: impl Fn(&ModelOp<M>) -> ShownOp,
    show_state: impl Fn(&M::State) -> Value,
) -> Failure {
    let deadline = Instant::now() + Duration::from_secs(10);
    let last_write = cx
        .prefix
        .iter()
        .rev()
        .filter_map(|i| ops.get(*i))
        .find(|o| !model.is_read_only(&o.input));
    let shown =
        |idx: &[usize]| -> Vec<ShownOp> { idx.iter().map(|i| describe(&ops[*i])).collect() };
    let mut failure = Failure {
        key: None,
        keys: Vec::new(),
        operations: ops.len(),
        linearizable_prefix_len: cx.prefix.len(),
        state_after_prefix: show_state(&cx.state),
        last_write_in_prefix: last_write.map(&describe),
        stuck_op: ops.get(cx.stuck).map(&describe),
        window: Vec::new(),
        window_kind: WindowKind::AfterPrefix,
        window_start_ms: None,
        window_is_minimal: false,
        explanation: String::new(),
    };
    if let Some(w) = self_contained(model, ops, cx.stuck, deadline) {
        failure.window = shown(&w.ops);
        failure.window_kind = WindowKind::SelfContained;
        failure.window_start_ms = Some(w.start_ns as f64 / 1e6);
        failure.window_is_minimal = true;
        failure.explanation = format!(
            "whatever the {what} held at {:.3} ms ({}; {} writes were called before), these {} \
             operations cannot be linearized",
            w.start_ns as f64 / 1e6,
            M::START_STATES,
            w.writes_before,
            w.ops.len()
        );
        return failure;
    }
    let w = after_prefix(model, ops, cx, deadline);
    failure.window = shown(&w.ops);
    failure.window_is_minimal = w.minimal;
    failure.explanation = format!(
        "starting from {} (after the longest linearizable prefix of {} operations), the {} \
         operations of `window` cannot all be linearized before the stuck operation returns",
        failure.state_after_prefix,
        cx.prefix.len(),
        w.ops.len()
    );
    failure
}
