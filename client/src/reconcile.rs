//! Task reconciliation, the algorithm of Mesos's reconciliation guide,
//! run after every (re-)subscription:
//!
//! 1. `start = now`; `remaining` = the non-terminal tasks known;
//! 2. RECONCILE `remaining` (explicit) and once with no task (implicit,
//!    which also reports tasks this side forgot);
//! 3. wait, the wait doubling from round to round up to a cap (truncated
//!    exponential backoff, so a backed-up master is not buried in calls);
//! 4. drop from `remaining` every task with an update that arrived at or
//!    after `start`;
//! 5. while `remaining` is not empty, go to 2 with it (explicit only).
//!
//! One reconciliation at a time: starting one ends the one in progress.
//! Pure: no sockets, no clock. Times are passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::scheduler::call::reconcile::Task as ReconcileTask;
use mesoraft_proto::mesos::v1::{AgentId, TaskId};

use crate::backoff::doubled;

/// Tasks per RECONCILE call: a call with every task of a large framework
/// would exceed the masters' body limit (1 MiB).
pub const TASKS_PER_CALL: usize = 1000;

/// The waits between rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileTiming {
    /// After the first round.
    pub first_wait: Duration,
    /// The wait never grows past this.
    pub max_wait: Duration,
}

impl Default for ReconcileTiming {
    fn default() -> Self {
        ReconcileTiming {
            first_wait: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What to send: one RECONCILE call's task list (empty: implicit).
pub type ReconcileRequest = Vec<ReconcileTask>;

#[derive(Debug)]
struct Round {
    start: Instant,
    /// Task id -> the agent hint.
    remaining: BTreeMap<String, Option<AgentId>>,
    next_at: Instant,
    wait: Duration,
    rounds: u32,
}

/// The reconciliation in progress, if any.
#[derive(Debug)]
pub struct Reconciler {
    timing: ReconcileTiming,
    round: Option<Round>,
}

impl Reconciler {
    pub fn new(timing: ReconcileTiming) -> Self {
        Reconciler {
            timing,
            round: None,
        }
    }

    /// Starts a reconciliation of `tasks` (the non-terminal ones, with
    /// the agent each was last seen on), ending any in progress. Returns
    /// the calls to send now: the explicit ones (split in calls of
    /// [`TASKS_PER_CALL`]) and an implicit one.
    pub fn start(
        &mut self,
        now: Instant,
        tasks: impl IntoIterator<Item = (TaskId, Option<AgentId>)>,
    ) -> Vec<ReconcileRequest> {
        let remaining: BTreeMap<_, _> = tasks.into_iter().map(|(t, a)| (t.value, a)).collect();
        let mut requests = explicit(&remaining);
        requests.push(Vec::new());
        self.round = (!remaining.is_empty()).then(|| Round {
            start: now,
            remaining,
            next_at: now + self.timing.first_wait,
            wait: self.timing.first_wait,
            rounds: 1,
        });
        requests
    }

    /// An update for `task_id` arrived at `at`. An update from before the
    /// start does not answer this reconciliation.
    pub fn observe(&mut self, task_id: &TaskId, at: Instant) {
        let Some(round) = &mut self.round else {
            return;
        };
        if at >= round.start {
            round.remaining.remove(&task_id.value);
        }
        if round.remaining.is_empty() {
            self.round = None;
        }
    }

    /// The calls due at `now` (none before the round's wait is over, and
    /// none once every task has answered).
    pub fn poll(&mut self, now: Instant) -> Vec<ReconcileRequest> {
        let Some(round) = &mut self.round else {
            return Vec::new();
        };
        if now < round.next_at {
            return Vec::new();
        }
        round.wait = doubled(round.wait, self.timing.max_wait);
        round.next_at = now + round.wait;
        round.rounds += 1;
        explicit(&round.remaining)
    }

    /// When [`poll`](Self::poll) has something to send next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.round.as_ref().map(|r| r.next_at)
    }

    /// Whether a reconciliation is still waiting for answers.
    pub fn in_progress(&self) -> bool {
        self.round.is_some()
    }

    /// The tasks still unanswered.
    pub fn remaining(&self) -> Vec<String> {
        self.round
            .as_ref()
            .map(|r| r.remaining.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Rounds sent in the reconciliation in progress.
    pub fn rounds(&self) -> u32 {
        self.round.as_ref().map_or(0, |r| r.rounds)
    }

    /// Ends the reconciliation in progress (the stream it ran on is gone).
    pub fn cancel(&mut self) {
        self.round = None;
    }
}

fn explicit(remaining: &BTreeMap<String, Option<AgentId>>) -> Vec<ReconcileRequest> {
    let tasks: Vec<ReconcileTask> = remaining
        .iter()
        .map(|(task, agent)| ReconcileTask {
            task_id: TaskId {
                value: task.clone(),
            },
            agent_id: agent.clone(),
        })
        .collect();
    tasks.chunks(TASKS_PER_CALL).map(<[_]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn task(id: &str) -> TaskId {
        TaskId { value: id.into() }
    }

    fn known(ids: &[&str]) -> Vec<(TaskId, Option<AgentId>)> {
        ids.iter()
            .map(|id| (task(id), Some(AgentId { value: "a1".into() })))
            .collect()
    }

    fn ids(request: &ReconcileRequest) -> Vec<&str> {
        request.iter().map(|t| t.task_id.value.as_str()).collect()
    }

    fn timing() -> ReconcileTiming {
        ReconcileTiming {
            first_wait: S,
            max_wait: 4 * S,
        }
    }

    #[test]
    fn start_sends_explicit_then_implicit() {
        let t0 = Instant::now();
        let mut r = Reconciler::new(timing());
        let calls = r.start(t0, known(&["b", "a"]));
        assert_eq!(calls.len(), 2);
        assert_eq!(ids(&calls[0]), ["a", "b"]);
        assert_eq!(calls[0][0].agent_id.as_ref().unwrap().value, "a1");
        assert!(calls[1].is_empty(), "the implicit call comes last");
        assert!(r.in_progress());
        assert_eq!(r.next_deadline(), Some(t0 + S));
    }

    #[test]
    fn no_known_task_means_implicit_only_and_done() {
        let mut r = Reconciler::new(timing());
        let calls = r.start(Instant::now(), Vec::new());
        assert_eq!(calls, vec![Vec::new()]);
        assert!(!r.in_progress());
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn unanswered_tasks_are_asked_again_with_doubling_waits() {
        let t0 = Instant::now();
        let mut r = Reconciler::new(timing());
        r.start(t0, known(&["a", "b"]));
        assert!(r.poll(t0 + S / 2).is_empty(), "not before the wait");
        r.observe(&task("a"), t0 + S / 2);
        let again = r.poll(t0 + S);
        assert_eq!(again.len(), 1);
        assert_eq!(ids(&again[0]), ["b"], "only the unanswered task");
        // Waits: 1s, then 2s, 4s, 4s (capped).
        assert_eq!(r.next_deadline(), Some(t0 + 3 * S));
        r.poll(t0 + 3 * S);
        assert_eq!(r.next_deadline(), Some(t0 + 7 * S));
        r.poll(t0 + 7 * S);
        assert_eq!(r.next_deadline(), Some(t0 + 11 * S));
        assert_eq!(r.rounds(), 4);
        r.observe(&task("b"), t0 + 8 * S);
        assert!(!r.in_progress());
        assert!(r.poll(t0 + 20 * S).is_empty());
    }

    #[test]
    fn updates_from_before_the_start_do_not_answer() {
        let t0 = Instant::now();
        let mut r = Reconciler::new(timing());
        r.start(t0 + S, known(&["a"]));
        r.observe(&task("a"), t0);
        assert_eq!(r.remaining(), ["a"]);
        r.observe(&task("a"), t0 + S);
        assert!(r.remaining().is_empty());
    }

    #[test]
    fn a_new_start_replaces_the_reconciliation_in_progress() {
        let t0 = Instant::now();
        let mut r = Reconciler::new(timing());
        r.start(t0, known(&["a", "b"]));
        r.poll(t0 + S);
        let calls = r.start(t0 + 2 * S, known(&["c"]));
        assert_eq!(ids(&calls[0]), ["c"]);
        assert_eq!(r.remaining(), ["c"]);
        assert_eq!(r.rounds(), 1);
        assert_eq!(r.next_deadline(), Some(t0 + 3 * S), "the wait starts over");
        r.cancel();
        assert!(!r.in_progress());
    }

    #[test]
    fn many_tasks_are_split_over_calls() {
        let names: Vec<String> = (0..(2 * TASKS_PER_CALL + 1))
            .map(|i| format!("t{i:05}"))
            .collect();
        let tasks = names.iter().map(|n| (task(n), None));
        let calls = Reconciler::new(timing()).start(Instant::now(), tasks);
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, [TASKS_PER_CALL, TASKS_PER_CALL, 1, 0]);
    }
}
