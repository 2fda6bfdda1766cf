//! A linearizability search in the style of Wing & Gong, with Lowe's
//! memoization (as also used by Porcupine), over any sequential `Model`.
//!
//! The history is a doubly linked list of call and return events sorted by
//! time. The search walks the list from the front: at a call it tries to
//! linearize that operation now (apply it to the model state; if the model
//! accepts, take the operation out of the list and restart from the front);
//! reaching a return event means the operation that returns there was not
//! linearized before it returned, so the last choice is undone
//! (backtracking). A cache of (set of linearized operations, model state)
//! pairs already explored cuts the search: two paths that linearized the
//! same operations and reached the same state have the same future.
//!
//! Operations with an unknown outcome have no return event (their return is
//! at +infinity): they may be linearized at any point after their call, or
//! never. The search succeeds as soon as every operation with a known
//! outcome is linearized.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Debug;
    type Output: Debug;

    /// The state after applying `input` in `state` if that can produce
    /// `output` (None: any output, the outcome is unknown); `None` when the
    /// operation cannot be linearized in this state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// True when `input` never changes the state (e.g. a register read).
    /// The search then linearizes such an operation as soon as it is legal
    /// without treating that as a choice: any successful continuation can
    /// be reordered to put it first (it is already invoked and nothing
    /// pending returned before its invocation, so real time allows it, and
    /// it changes nothing for the operations it moves ahead of). This
    /// removes the 2^k orders of k concurrent reads from the search.
    fn is_read_only(&self, _input: &Self::Input) -> bool {
        false
    }
}

/// One operation of a (single-key) history.
#[derive(Clone, Debug)]
pub struct Operation<I, O> {
    /// The caller's identifier (e.g. the history index of the invocation).
    pub id: usize,
    pub input: I,
    /// None: the outcome is unknown (an `info` operation).
    pub output: Option<O>,
    pub call: u64,
    /// None: never returned; may take effect at any time after `call`.
    pub ret: Option<u64>,
}

/// Limits that turn a too-long search into `Unknown` instead of a hang.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub deadline: Option<Instant>,
    /// Maximum number of cached configurations.
    pub max_cache: usize,
    /// Approximate memory limit of the cache (each entry holds a bit set
    /// of all operations, so long histories need more per entry).
    pub max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            deadline: None,
            max_cache: 4_000_000,
            max_bytes: 1 << 30,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Counterexample<S> {
    /// The longest partial linearization found (positions in the input
    /// slice), in linearization order.
    pub prefix: Vec<usize>,
    /// The model state after `prefix`.
    pub state: S,
    /// The operation (position) that returned before it could be
    /// linearized after `prefix`.
    pub stuck: usize,
}

#[derive(Clone, Debug)]
pub enum Outcome<S> {
    /// Linearizable; one witness order (positions; unknown-outcome operations
    /// that were never linearized are absent).
    Linearizable(Vec<usize>),
    Illegal(Counterexample<S>),
    Unknown(String),
}

const NIL: usize = usize::MAX;

/// A fixed-size set of operation positions, hashed as a whole.
#[derive(Clone, PartialEq, Eq, Hash)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(n: usize) -> Self {
        BitSet(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The event list: `2n` events plus a head sentinel at index `2n`.
struct EventList {
    op: Vec<usize>,
    is_call: Vec<bool>,
    next: Vec<usize>,
    prev: Vec<usize>,
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
    head: usize,
}

impl EventList {
    fn build<I, O>(ops: &[Operation<I, O>]) -> Self {
        // (time, kind, op): calls sort before returns at the same instant,
        // so operations that touch in time count as concurrent (the
        // conservative reading: it can only make more histories legal).
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, 0, i));
            events.push((op.ret.unwrap_or(u64::MAX), 1, i));
        }
        events.sort();
        let len = events.len();
        let head = len;
        let mut list = EventList {
            op: Vec::with_capacity(len),
            is_call: Vec::with_capacity(len),
            next: vec![NIL; len + 1],
            prev: vec![NIL; len + 1],
            call_of: vec![NIL; ops.len()],
            ret_of: vec![NIL; ops.len()],
            head,
        };
        for (pos, (_, kind, op)) in events.iter().enumerate() {
            list.op.push(*op);
            list.is_call.push(*kind == 0);
            if *kind == 0 {
                list.call_of[*op] = pos;
            } else {
                list.ret_of[*op] = pos;
            }
            list.prev[pos] = if pos == 0 { head } else { pos - 1 };
            list.next[pos] = if pos + 1 < len { pos + 1 } else { NIL };
        }
        list.next[head] = if len > 0 { 0 } else { NIL };
        list
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    /// Undoes `unlink(x)`; valid only in reverse order of the unlinks.
    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        if n != NIL {
            self.prev[n] = x;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(self.call_of[op]);
        self.unlink(self.ret_of[op]);
    }

    fn unlift(&mut self, op: usize) {
        self.relink(self.ret_of[op]);
        self.relink(self.call_of[op]);
    }
}

/// Searches for a linearization of `ops` starting from `init`.
pub fn check<M: Model>(
    model: &M,
    init: M::State,
    ops: &[Operation<M::Input, M::Output>],
    budget: &Budget,
) -> Outcome<M::State> {
    let mut remaining = ops.iter().filter(|o| o.ret.is_some()).count();
    if remaining == 0 {
        return Outcome::Linearizable(Vec::new());
    }
    let mut list = EventList::build(ops);
    let mut state = init;
    let mut linearized = BitSet::new(ops.len());
    let mut cache: HashSet<(BitSet, M::State)> = HashSet::new();
    // (operation, state before it, read-only)
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut best: Option<Counterexample<M::State>> = None;
    let mut steps: u64 = 0;
    let entry_bytes = 8 * ops.len().div_ceil(64) + std::mem::size_of::<(BitSet, M::State)>() + 16;
    let max_cache = budget.max_cache.min(budget.max_bytes / entry_bytes);
    let mut cur = list.next[list.head];

    loop {
        steps += 1;
        if steps.is_multiple_of(4096) {
            if let Some(deadline) = budget.deadline {
                if Instant::now() >= deadline {
                    return Outcome::Unknown(format!(
                        "time budget exhausted after {steps} steps ({} operations, {} cached \
                         configurations)",
                        ops.len(),
                        cache.len()
                    ));
                }
            }
            if cache.len() > max_cache {
                return Outcome::Unknown(format!(
                    "memory budget exhausted: {} cached configurations ({} operations)",
                    cache.len(),
                    ops.len()
                ));
            }
        }
        if cur == NIL {
            // Only reachable if no known-outcome return is left, which
            // `remaining` already turns into success; kept as a guard.
            return Outcome::Unknown("internal: ran off the end of the event list".into());
        }
        let op = list.op[cur];
        let mut backtrack = false;
        if list.is_call[cur] {
            let o = &ops[op];
            let read_only = model.is_read_only(&o.input);
            if let Some(next_state) = model.step(&state, &o.input, o.output.as_ref()) {
                linearized.set(op);
                if cache.insert((linearized.clone(), next_state.clone())) {
                    let before = std::mem::replace(&mut state, next_state);
                    stack.push((op, before, read_only));
                    list.lift(op);
                    if o.ret.is_some() {
                        remaining -= 1;
                        if remaining == 0 {
                            return Outcome::Linearizable(
                                stack.iter().map(|(i, _, _)| *i).collect(),
                            );
                        }
                    }
                    cur = list.next[list.head];
                    continue;
                }
                linearized.clear(op);
                // A legal read-only operation could go first in any
                // successful continuation; that continuation already failed.
                backtrack = read_only;
            }
            if !backtrack {
                cur = list.next[cur];
                continue;
            }
        } else if best.as_ref().is_none_or(|b| stack.len() > b.prefix.len()) {
            // `op` returned without being linearized.
            best = Some(Counterexample {
                prefix: stack.iter().map(|(i, _, _)| *i).collect(),
                state: state.clone(),
                stuck: op,
            });
        }
        // Undo the last choice; undoing a read-only operation that was
        // legal when chosen is not a choice (see `Model::is_read_only`), so
        // keep undoing until a real alternative exists.
        loop {
            let Some((undone, before, forced)) = stack.pop() else {
                return match best {
                    Some(b) => Outcome::Illegal(b),
                    None => Outcome::Unknown("internal: failed without a stuck operation".into()),
                };
            };
            state = before;
            linearized.clear(undone);
            list.unlift(undone);
            if ops[undone].ret.is_some() {
                remaining += 1;
            }
            if !forced {
                cur = list.next[list.call_of[undone]];
                break;
            }
        }
    }
}
