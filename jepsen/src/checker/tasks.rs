//! Checker `tasks`: what frameworks were told about the tasks they
//! launched, and what the tasks' sandboxes show, under master and agent
//! faults.
//!
//! History shape (see `tasks_record`): `task-launch` (ACCEPT with one
//! LAUNCH), `task-kill`, `task-status` (every status a framework was given,
//! as it arrived), `task-ack`, `task-markers` (every run of every task, from
//! the sandboxes, collected at the end) and `task-final-reconcile` (the
//! explicit reconciliation after the final heal, once every task was
//! killed). The workload never reuses a task id.
//!
//! Rules. A *final* state is one of Mesos's terminal states a task never
//! leaves: FINISHED, FAILED, KILLED, ERROR, DROPPED, GONE,
//! GONE_BY_OPERATOR. TASK_LOST is terminal in Mesos's enum but not final:
//! a framework that is not partition-aware sees its tasks on an
//! unreachable agent LOST, and RUNNING again (REASON_AGENT_REREGISTERED)
//! when the agent comes back.
//! 1. **ran-twice**: a task leaves markers in at most one sandbox (it
//!    never runs twice, nor on two agents).
//! 2. **refused-but-ran**: a launch the master certainly refused (`fail`)
//!    never runs: no marker, no STAGING / STARTING / RUNNING status.
//! 3. **two-endings**: a task gets at most one final state; the same one
//!    again is a redelivery (at-least-once), another one is a violation.
//! 4. **back-after-end**: after a final state, no status of a live state
//!    (STAGING, STARTING, RUNNING, KILLING, UNREACHABLE, LOST).
//!
//!    Rules 3 and 4 pass over a reconciliation answer (REASON_RECONCILIATION,
//!    no uuid) after a final state whose state is one of SPEC 6's answers
//!    for a task the master does not know (LOST, GONE, GONE_BY_OPERATOR,
//!    UNREACHABLE, UNKNOWN): the master forgets a task once its end is
//!    acknowledged, and a RECONCILE or KILL that crossed the
//!    acknowledgement is answered so.
//! 5. **unended**: every launch the master took (`ok`, or `info` and then
//!    seen in a status or a marker) ends: its framework gets a final state,
//!    or its last status is TASK_LOST (a non-partition-aware framework may
//!    be told no more), or its last status is TASK_UNKNOWN and it never
//!    ran (no marker: a launch the master answered and then lost in a
//!    failover before any agent had it, as Mesos may). Judged only when
//!    the final reconciliation ran.
//! 6. **redelivered-after-ack**: an update is not delivered again more
//!    than `ack_slack_ms` after the master answered its acknowledgement
//!    with 202 (the slack covers a retry already on its way), unless a
//!    fault was in place meanwhile: a 202 says the master took the
//!    acknowledgement, not that the agent got it, and a master or agent
//!    killed, paused or cut off in between loses it (at-least-once).
//! 7. **wrong-loss**: a partition-aware framework never sees TASK_LOST;
//!    another never sees UNREACHABLE, DROPPED, UNKNOWN, GONE or
//!    GONE_BY_OPERATOR (Mesos tells it TASK_LOST instead).
//! 8. **unlaunched**: no status or marker for a task nobody launched.
//!
//! `unknown` when no launch was taken or the final reconciliation did not
//! complete (rule 5 cannot be judged).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{details, CheckResult, Checker, Validity};
use crate::figures::fault_windows;
use crate::history::{pair, HistoryValue, Op, OpType};
use crate::tasks_record::{
    is_final, AckAsk, Delivered, LaunchAsk, Markers, StatusSource, TaskRef, TASK_ACK,
    TASK_FINAL_RECONCILE, TASK_LAUNCH, TASK_MARKERS, TASK_STATUS,
};

/// The bounds the rules allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TaskRules {
    /// How long after an acknowledgement was answered its update may
    /// still arrive (rule 6).
    pub ack_slack_ms: u64,
}

pub struct TasksChecker {
    pub rules: TaskRules,
}

/// States of a task that is (or may still be) running.
const LIVE_STATES: [&str; 6] = [
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_UNREACHABLE",
    "TASK_LOST",
];
/// States that show a task was started on an agent.
const STARTED_STATES: [&str; 3] = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"];
/// States only partition-aware frameworks are told.
const PARTITION_AWARE_ONLY: [&str; 5] = [
    "TASK_UNREACHABLE",
    "TASK_DROPPED",
    "TASK_UNKNOWN",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// States of SPEC 6's rows for a task the master does not know.
const UNKNOWN_TASK_ANSWERS: [&str; 5] = [
    "TASK_LOST",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNREACHABLE",
    "TASK_UNKNOWN",
];

/// A reconciliation answer that may mean "the master does not know this
/// task" (an answer to RECONCILE, or to a KILL of a task it does not
/// know). After a final state that is all it can mean: the master forgot
/// the task once its end was acknowledged.
fn is_unknown_answer(status: &Delivered) -> bool {
    UNKNOWN_TASK_ANSWERS.contains(&status.state.as_str())
        && status.source == StatusSource::Reconcile
        && status.reason.as_deref() == Some("REASON_RECONCILIATION")
}

/// One broken rule, with the history indexes that show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Violation {
    RanTwice {
        task: TaskRef,
        sandboxes: Vec<(u64, String)>,
    },
    RefusedButRan {
        task: TaskRef,
        launch_index: usize,
        evidence: String,
    },
    TwoEndings {
        task: TaskRef,
        first: String,
        first_index: usize,
        then: String,
        index: usize,
    },
    BackAfterEnd {
        task: TaskRef,
        ended: String,
        ended_index: usize,
        state: String,
        index: usize,
    },
    Unended {
        task: TaskRef,
        launch_index: usize,
        last_state: Option<String>,
    },
    RedeliveredAfterAck {
        task: TaskRef,
        uuid: String,
        ack_index: usize,
        index: usize,
    },
    WrongLoss {
        task: TaskRef,
        partition_aware: bool,
        state: String,
        index: usize,
    },
    Unlaunched {
        task: TaskRef,
        index: usize,
    },
}

#[derive(Debug, Serialize)]
struct Counts {
    launches_taken: usize,
    launches_refused: usize,
    launches_unknown: usize,
    statuses: usize,
    /// Updates acknowledged (202), each once.
    acks: usize,
    tasks_ended: usize,
    /// Sandboxes with a marker: runs of tasks.
    markers: usize,
}

/// What the checker found: the evidence of its result.
#[derive(Debug, Serialize)]
pub struct Judgement {
    #[serde(skip)]
    pub valid: Validity,
    #[serde(skip)]
    pub summary: String,
    counts: Counts,
    pub problems: Vec<Violation>,
}

/// How a launch was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Taken,
    Refused,
    Unknown,
}

struct Launch {
    index: usize,
    answer: Answer,
    partition_aware: bool,
}

/// A status as it arrived: (history index, arrival time ns, what).
struct Arrival {
    index: usize,
    time: u64,
    status: Delivered,
}

/// The history, sorted per task.
#[derive(Default)]
struct Observed {
    launches: BTreeMap<TaskRef, Launch>,
    arrivals: BTreeMap<TaskRef, Vec<Arrival>>,
    /// (task, uuid) -> (ack index, time the 202 arrived), earliest.
    acks: BTreeMap<(TaskRef, String), (usize, u64)>,
    sandboxes: BTreeMap<TaskRef, BTreeSet<(u64, String)>>,
    /// The index of the markers' collection.
    markers_index: usize,
    finished_cleanly: bool,
    /// Injected faults: (start, stop) ns; no stop: until the end.
    faults: Vec<(u64, Option<u64>)>,
}

impl Observed {
    /// Whether a fault was in place at some time in `[from, to]`.
    fn faulted_between(&self, from: u64, to: u64) -> bool {
        self.faults
            .iter()
            .any(|&(start, stop)| start <= to && stop.is_none_or(|stop| stop >= from))
    }
}

impl Observed {
    /// What the history holds, for the summary (`tasks_ended` is judged
    /// later).
    fn counts(&self) -> Counts {
        let answered = |a: Answer| self.launches.values().filter(|l| l.answer == a).count();
        Counts {
            launches_taken: answered(Answer::Taken),
            launches_refused: answered(Answer::Refused),
            launches_unknown: answered(Answer::Unknown),
            statuses: self.arrivals.values().map(Vec::len).sum(),
            acks: self.acks.len(),
            tasks_ended: 0,
            markers: self.sandboxes.values().map(BTreeSet::len).sum(),
        }
    }
}

fn observe(history: &[Op]) -> Observed {
    let mut seen = Observed {
        faults: fault_windows(history)
            .into_iter()
            .filter(|w| w.injected)
            .map(|w| (w.start_ns, w.stop_ns))
            .collect(),
        ..Observed::default()
    };
    for op in pair(history) {
        let kind = op.kind();
        match op.invoke.f.as_str() {
            TASK_LAUNCH => {
                let Some(ask) = LaunchAsk::of(&op.invoke.value) else {
                    continue;
                };
                let answer = match kind {
                    OpType::Ok => Answer::Taken,
                    OpType::Fail => Answer::Refused,
                    _ => Answer::Unknown,
                };
                seen.launches.insert(
                    ask.task,
                    Launch {
                        index: op.invoke.index,
                        answer,
                        partition_aware: ask.partition_aware,
                    },
                );
            }
            TASK_STATUS if kind == OpType::Ok => {
                let Some(status) = Delivered::of(op.value()) else {
                    continue;
                };
                seen.arrivals
                    .entry(status.task.clone())
                    .or_default()
                    .push(Arrival {
                        index: op.invoke.index,
                        time: op.invoke_time(),
                        status,
                    });
            }
            TASK_ACK if kind == OpType::Ok => {
                let (Some(ask), Some(at)) = (AckAsk::of(&op.invoke.value), op.return_time()) else {
                    continue;
                };
                seen.acks
                    .entry((ask.task, ask.uuid))
                    .or_insert((op.invoke.index, at));
            }
            TASK_MARKERS if kind == OpType::Ok => {
                seen.markers_index = op.invoke.index;
                for m in Markers::of(op.value()).unwrap_or_default().markers {
                    seen.sandboxes
                        .entry(m.task)
                        .or_default()
                        .insert((m.agent, m.sandbox));
                }
            }
            TASK_FINAL_RECONCILE if kind == OpType::Ok => seen.finished_cleanly = true,
            _ => {}
        }
    }
    seen
}

/// Rules 1 and 8 for the markers.
fn check_markers(seen: &Observed, out: &mut Vec<Violation>) {
    for (task, sandboxes) in &seen.sandboxes {
        if sandboxes.len() > 1 {
            out.push(Violation::RanTwice {
                task: task.clone(),
                sandboxes: sandboxes.iter().cloned().collect(),
            });
        }
        match seen.launches.get(task) {
            None => out.push(Violation::Unlaunched {
                task: task.clone(),
                index: seen.markers_index,
            }),
            Some(l) if l.answer == Answer::Refused => out.push(Violation::RefusedButRan {
                task: task.clone(),
                launch_index: l.index,
                evidence: "a marker in its sandbox".into(),
            }),
            Some(_) => {}
        }
    }
}

/// Rules 2-4 and 6-8 over one task's statuses, in arrival order; returns
/// whether the task ended (rule 5).
fn check_statuses(
    task: &TaskRef,
    launch: Option<&Launch>,
    arrivals: &[Arrival],
    seen: &Observed,
    rules: TaskRules,
    out: &mut Vec<Violation>,
) -> bool {
    let Some(launch) = launch else {
        if let Some(a) = arrivals.first() {
            out.push(Violation::Unlaunched {
                task: task.clone(),
                index: a.index,
            });
        }
        return false;
    };
    let mut ended: Option<(&str, usize)> = None;
    for a in arrivals {
        let state = a.status.state.as_str();
        if launch.answer == Answer::Refused && STARTED_STATES.contains(&state) {
            out.push(Violation::RefusedButRan {
                task: task.clone(),
                launch_index: launch.index,
                evidence: format!("{state} at index {}", a.index),
            });
        }
        let wrong_loss = if launch.partition_aware {
            state == "TASK_LOST"
        } else {
            PARTITION_AWARE_ONLY.contains(&state)
        };
        if wrong_loss {
            out.push(Violation::WrongLoss {
                task: task.clone(),
                partition_aware: launch.partition_aware,
                state: state.into(),
                index: a.index,
            });
        }
        match ended {
            Some(_) if is_unknown_answer(&a.status) => {}
            Some((first, first_index)) if is_final(state) && state != first => {
                out.push(Violation::TwoEndings {
                    task: task.clone(),
                    first: first.into(),
                    first_index,
                    then: state.into(),
                    index: a.index,
                })
            }
            Some((first, first_index)) if LIVE_STATES.contains(&state) => {
                out.push(Violation::BackAfterEnd {
                    task: task.clone(),
                    ended: first.into(),
                    ended_index: first_index,
                    state: state.into(),
                    index: a.index,
                })
            }
            None if is_final(state) => ended = Some((state, a.index)),
            _ => {}
        }
        if let (StatusSource::Update, Some(uuid)) = (a.status.source, &a.status.uuid) {
            if let Some(&(ack_index, acked_at)) = seen.acks.get(&(task.clone(), uuid.clone())) {
                let slack_ns = rules.ack_slack_ms * 1_000_000;
                if a.time > acked_at.saturating_add(slack_ns)
                    && !seen.faulted_between(acked_at.saturating_sub(slack_ns), a.time)
                {
                    out.push(Violation::RedeliveredAfterAck {
                        task: task.clone(),
                        uuid: uuid.clone(),
                        ack_index,
                        index: a.index,
                    });
                }
            }
        }
    }
    let last_lost = arrivals
        .last()
        .is_some_and(|a| a.status.state == "TASK_LOST");
    ended.is_some() || last_lost
}

pub fn check(history: &[Op], rules: TaskRules) -> Judgement {
    let seen = observe(history);
    let mut problems = Vec::new();
    check_markers(&seen, &mut problems);
    let none = Vec::new();
    let tasks: BTreeSet<&TaskRef> = seen.launches.keys().chain(seen.arrivals.keys()).collect();
    let mut ended = 0;
    for task in tasks {
        let launch = seen.launches.get(task);
        let arrivals = seen.arrivals.get(task).unwrap_or(&none);
        let never_ran_unknown = arrivals
            .last()
            .is_some_and(|a| a.status.state == "TASK_UNKNOWN")
            && !seen.sandboxes.contains_key(task);
        let task_ended = check_statuses(task, launch, arrivals, &seen, rules, &mut problems)
            || never_ran_unknown;
        ended += usize::from(task_ended);
        let Some(launch) = launch else { continue };
        let taken = match launch.answer {
            Answer::Taken => true,
            Answer::Refused => false,
            Answer::Unknown => !arrivals.is_empty() || seen.sandboxes.contains_key(task),
        };
        if taken && !task_ended && seen.finished_cleanly {
            problems.push(Violation::Unended {
                task: task.clone(),
                launch_index: launch.index,
                last_state: arrivals.last().map(|a| a.status.state.clone()),
            });
        }
    }
    let counts = Counts {
        tasks_ended: ended,
        ..seen.counts()
    };
    let c = &counts;
    let summary = format!(
        "{} launches taken ({} refused, {} unknown), {} tasks ended, {} statuses, {} acks, \
         {} sandbox markers, {} problems",
        c.launches_taken,
        c.launches_refused,
        c.launches_unknown,
        c.tasks_ended,
        c.statuses,
        c.acks,
        c.markers,
        problems.len()
    );
    let valid = if !problems.is_empty() {
        Validity::False
    } else if c.launches_taken == 0 || !seen.finished_cleanly {
        Validity::Unknown
    } else {
        Validity::True
    };
    Judgement {
        valid,
        summary,
        counts,
        problems,
    }
}

impl Checker for TasksChecker {
    fn name(&self) -> &str {
        "tasks"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let judgement = check(history, self.rules);
        CheckResult {
            checker: self.name().into(),
            valid: judgement.valid,
            summary: judgement.summary.clone(),
            details: details(&judgement),
        }
    }
}

#[cfg(test)]
mod tests;
