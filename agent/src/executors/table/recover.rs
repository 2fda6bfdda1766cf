//! The table after an agent restart (SPEC section 7), from the
//! checkpoint of the frameworks that checkpoint: their executors wait to
//! subscribe again (they outlive the agent); an executor that no longer
//! runs has its unfinished tasks reported TASK_GONE (partition-aware
//! frameworks) or TASK_LOST with REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
//! from SOURCE_AGENT, through the update stream; so has one that does not
//! subscribe again in time ([`TableTimer::Reregistration`]).

use std::collections::BTreeMap;
use std::time::Duration;

use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{TaskInfo, TaskState};

use super::parts::partition_aware;
use super::{is_terminal, ExecState, Executor, Framework, Stamps, Table, TaskEntry, TaskPhase};
use crate::checkpoint::runtime::{RecoveredExecutor, RecoveredFramework};
use crate::executors::model::{Action, RunKey, TableTimer, Termination};
use crate::updates::manager::Record;

impl Table {
    /// Rebuilds the table from `frameworks`; `alive` tells whether an
    /// executor's process still runs. The actions report the tasks of
    /// dead executors and start the wait for the live ones.
    pub fn recover(
        &mut self,
        frameworks: Vec<RecoveredFramework>,
        alive: impl Fn(&RecoveredExecutor) -> bool,
        reregistration_timeout: Duration,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut dead = Vec::new();
        let mut waiting = false;
        for recovered in frameworks {
            let Some(framework_id) = recovered.info.id.clone() else {
                continue;
            };
            let mut executors = BTreeMap::new();
            for executor in recovered.executors {
                let live = alive(&executor);
                let run = executor.run.clone();
                let mut entry = Executor {
                    info: executor.info,
                    container_id: run.container_id.clone(),
                    command_executor: executor.command_executor,
                    state: ExecState::Registering,
                    tasks: BTreeMap::new(),
                    // It was given its tasks before the restart, as far as
                    // the agent can tell; a re-subscription says which it
                    // did not get.
                    ever_sent_task: true,
                    pending_termination: None,
                    next_seq: 0,
                };
                for task in executor.tasks {
                    let Some(state) = latest_state(&task.updates, task.task.state()) else {
                        // Its terminal update was acknowledged: done.
                        continue;
                    };
                    let mut task_proto = task.task;
                    task_proto.state = state as i32;
                    let phase = if is_terminal(state) {
                        TaskPhase::Terminated
                    } else {
                        TaskPhase::Launched
                    };
                    let seq = entry.next_seq;
                    entry.next_seq += 1;
                    let info = TaskInfo {
                        name: task_proto.name.clone(),
                        task_id: task_proto.task_id.clone(),
                        agent_id: task_proto.agent_id.clone(),
                        resources: task_proto.resources.clone(),
                        kill_policy: task_proto.kill_policy,
                        labels: task_proto.labels.clone(),
                        limits: task_proto.limits.clone(),
                        ..Default::default()
                    };
                    entry.tasks.insert(
                        task_proto.task_id.value.clone(),
                        TaskEntry {
                            info,
                            task: task_proto,
                            phase,
                            seq,
                            group: None,
                            pending_kill: None,
                        },
                    );
                }
                executors.insert(run.executor.executor_id.clone(), entry);
                if live {
                    waiting = true;
                } else {
                    dead.push(run);
                }
            }
            self.frameworks.insert(
                framework_id.value.clone(),
                Framework {
                    info: recovered.info,
                    terminating: false,
                    executors,
                },
            );
        }
        for run in dead {
            let state = match self.frameworks.get(&run.executor.framework_id) {
                Some(framework) if partition_aware(&framework.info) => TaskState::TaskGone,
                _ => TaskState::TaskLost,
            };
            if let Some(executor) = self
                .frameworks
                .get_mut(&run.executor.framework_id)
                .and_then(|f| f.executors.get_mut(&run.executor.executor_id))
            {
                executor.pending_termination = Some(Termination {
                    state,
                    reason: Reason::ExecutorReregistrationTimeout,
                    message: "Executor is gone: it no longer ran when the agent restarted".into(),
                });
            }
            actions.extend(self.executor_exited(&run, None, stamps));
        }
        if waiting {
            actions.push(Action::StartTimer(
                TableTimer::Reregistration,
                reregistration_timeout,
            ));
        }
        actions
    }

    /// The executors waiting to subscribe again after a restart, with
    /// their runs (for the containerizer to watch).
    pub fn recovering(&self) -> Vec<RunKey> {
        self.runs()
            .into_iter()
            .filter(|run| {
                self.executor(&run.executor)
                    .is_some_and(|e| e.state == ExecState::Registering)
            })
            .collect()
    }
}

/// The task's latest state by its update log (its checkpointed state if
/// the log is empty); `None` once its terminal update was acknowledged.
fn latest_state(records: &[Record], checkpointed: TaskState) -> Option<TaskState> {
    let mut latest = checkpointed;
    let mut pending: Vec<(Vec<u8>, TaskState)> = Vec::new();
    for record in records {
        match record {
            Record::Update(update) => {
                latest = update.status.state();
                pending.push((update.uuid.clone().unwrap_or_default(), latest));
            }
            Record::Ack(uuid) => {
                if let Some(position) = pending.iter().position(|(u, _)| u == uuid) {
                    let (_, state) = pending.remove(position);
                    if is_terminal(state) {
                        return None;
                    }
                }
            }
        }
    }
    Some(latest)
}

#[cfg(test)]
mod tests;
