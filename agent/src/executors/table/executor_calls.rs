//! The table's answers to executors (their calls of the executor API)
//! and to the containerizer (an executor's process started or ended).

use mesoraft_proto::mesos::v1::executor::{call, event, Event as ExecutorEvent};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{ContainerId, FrameworkId, TaskState, TaskStatus};

use super::parts::*;
use super::{ExecState, Stamps, Table, TaskPhase};
use crate::executors::model::{Action, ExecutorKey, Refusal, RunKey, TableTimer, Termination};

impl Table {
    pub(super) fn subscribe(
        &mut self,
        key: ExecutorKey,
        connection: u64,
        subscribe: call::Subscribe,
        stamps: &mut dyn Stamps,
    ) -> Result<Vec<Action>, Refusal> {
        let agent = self.agent.clone();
        let agent_id = agent.id.clone().unwrap_or_default();
        let grace = self.shutdown_grace;
        let framework = self
            .frameworks
            .get_mut(&key.framework_id)
            .ok_or(Refusal::UnknownFramework)?;
        let terminating = framework.terminating;
        let framework_info = framework.info.clone();
        let executor = framework
            .executors
            .get_mut(&key.executor_id)
            .ok_or(Refusal::UnknownExecutor)?;
        if terminating
            || matches!(
                executor.state,
                ExecState::Terminating | ExecState::Terminated
            )
        {
            return Ok(vec![
                Action::Send {
                    executor: key.clone(),
                    event: Box::new(simple_event(event::Type::Shutdown)),
                },
                Action::Close { executor: key },
            ]);
        }
        // A new subscription replaces an old one (the driver's new stream
        // for the executor ends the old).
        let mut actions = Vec::new();
        executor.state = ExecState::Running { connection };
        let run = RunKey {
            executor: key.clone(),
            container_id: executor.container_id.clone(),
        };
        let checkpoint = framework_info.checkpoint.unwrap_or(false);

        // Updates the executor made while away; duplicates are the update
        // manager's to drop.
        for update in subscribe.unacknowledged_updates {
            actions.extend(executor_status(
                &key,
                executor,
                &agent_id,
                checkpoint.then(|| run.clone()),
                update.status,
                stamps,
            ));
        }
        // A task launched before a restart that the executor never got.
        let known: Vec<String> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let lost_state = if partition_aware(&framework_info) {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let executor_id = executor.info.executor_id.clone();
        let framework_id = FrameworkId {
            value: key.framework_id.clone(),
        };
        for entry in executor.tasks.values_mut() {
            if entry.phase == TaskPhase::Launched
                && entry.task.state() == TaskState::TaskStaging
                && !known.contains(&entry.info.task_id.value)
            {
                let update = agent_update(
                    &framework_id,
                    Some(&executor_id),
                    &agent_id,
                    &entry.info.task_id,
                    lost_state,
                    Reason::AgentRestarted,
                    "Task launched during agent restart",
                    stamps,
                );
                set_state(entry, &update.status);
                entry.phase = TaskPhase::Terminated;
                actions.push(status_action(update, checkpoint.then(|| run.clone()), None));
            }
        }
        let queued = executor
            .tasks
            .values()
            .any(|t| t.phase == TaskPhase::Queued);
        if !executor.ever_sent_task && !queued {
            // MESOS-8411: nothing was or will be sent to it.
            actions.extend(shutdown_executor(&key, executor, grace));
            return Ok(actions);
        }
        actions.push(Action::Send {
            executor: key.clone(),
            event: Box::new(ExecutorEvent {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    executor_info: executor.info.clone(),
                    framework_info,
                    agent_info: agent,
                    container_id: Some(ContainerId {
                        value: executor.container_id.clone(),
                        parent: None,
                    }),
                }),
                ..Default::default()
            }),
        });
        if queued {
            actions.push(Action::UpdateLimits {
                run,
                limits: executor_limits(executor),
            });
        }
        actions.extend(launch_queued(&key, executor));
        // Kills that waited for the executor to come back.
        for entry in executor.tasks.values_mut() {
            if let Some(kill_policy) = entry.pending_kill.take() {
                if entry.phase == TaskPhase::Launched {
                    actions.push(Action::Send {
                        executor: key.clone(),
                        event: Box::new(ExecutorEvent {
                            r#type: Some(event::Type::Kill as i32),
                            kill: Some(event::Kill {
                                task_id: entry.info.task_id.clone(),
                                kill_policy,
                            }),
                            ..Default::default()
                        }),
                    });
                }
            }
        }
        Ok(actions)
    }

    pub(super) fn executor_update(
        &mut self,
        key: ExecutorKey,
        status: TaskStatus,
        stamps: &mut dyn Stamps,
    ) -> Result<Vec<Action>, Refusal> {
        let agent_id = self.agent.id.clone().unwrap_or_default();
        let framework = self
            .frameworks
            .get_mut(&key.framework_id)
            .ok_or(Refusal::UnknownFramework)?;
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let terminating = framework.terminating;
        let executor = framework
            .executors
            .get_mut(&key.executor_id)
            .ok_or(Refusal::UnknownExecutor)?;
        if executor.state == ExecState::Registering {
            return Err(Refusal::NotSubscribed);
        }
        if terminating {
            // Nobody would acknowledge it (Mesos drops these too).
            tracing::warn!(executor = %key, task_id = %status.task_id.value, "update for a terminating framework: dropped");
            return Ok(Vec::new());
        }
        let run = RunKey {
            executor: key.clone(),
            container_id: executor.container_id.clone(),
        };
        Ok(executor_status(
            &key,
            executor,
            &agent_id,
            checkpoint.then_some(run),
            status,
            stamps,
        ))
    }

    pub(super) fn executor_message(
        &mut self,
        key: ExecutorKey,
        data: Vec<u8>,
    ) -> Result<Vec<Action>, Refusal> {
        let executor = self.executor(&key).ok_or_else(|| self.refusal(&key))?;
        if executor.state == ExecState::Registering {
            return Err(Refusal::NotSubscribed);
        }
        Ok(vec![Action::ToFramework {
            executor: key,
            data,
        }])
    }

    pub(super) fn disconnected(&mut self, key: &ExecutorKey, connection: u64) -> Vec<Action> {
        let grace = self.shutdown_grace;
        let Some(framework) = self.frameworks.get_mut(&key.framework_id) else {
            return Vec::new();
        };
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let Some(executor) = framework.executors.get_mut(&key.executor_id) else {
            return Vec::new();
        };
        if executor.state != (ExecState::Running { connection }) {
            // An older subscription's stream: already replaced.
            return Vec::new();
        }
        if checkpoint {
            executor.state = ExecState::Disconnected;
            return Vec::new();
        }
        // Without checkpointing the executor shuts itself down; make sure.
        executor.state = ExecState::Terminating;
        vec![Action::StartTimer(
            TableTimer::ShutdownGrace(RunKey {
                executor: key.clone(),
                container_id: executor.container_id.clone(),
            }),
            grace_of_executor(&executor.info, grace),
        )]
    }

    pub(super) fn launch_failed(
        &mut self,
        run: &RunKey,
        error: String,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        if let Some(executor) = self.executor_of_run(run) {
            executor.pending_termination = Some(Termination {
                state: TaskState::TaskFailed,
                reason: Reason::ContainerLaunchFailed,
                message: format!("Failed to launch container: {error}"),
            });
        }
        self.executor_exited(run, None, stamps)
    }

    pub(super) fn executor_exited(
        &mut self,
        run: &RunKey,
        limitation: Option<Termination>,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let agent_id = self.agent.id.clone().unwrap_or_default();
        let key = &run.executor;
        let Some(framework) = self.frameworks.get_mut(&key.framework_id) else {
            return Vec::new();
        };
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let terminating = framework.terminating;
        let Some(executor) = framework.executors.get_mut(&key.executor_id) else {
            return Vec::new();
        };
        if executor.container_id != run.container_id || executor.state == ExecState::Terminated {
            return Vec::new();
        }
        executor.state = ExecState::Terminated;
        let termination = limitation
            .or_else(|| executor.pending_termination.clone())
            .unwrap_or(Termination {
                state: TaskState::TaskFailed,
                reason: Reason::ExecutorTerminated,
                message: "Executor terminated".into(),
            });
        let mut actions = Vec::new();
        let framework_id = FrameworkId {
            value: key.framework_id.clone(),
        };
        let executor_id = executor.info.executor_id.clone();
        for entry in executor.tasks.values_mut() {
            if entry.phase == TaskPhase::Terminated {
                continue;
            }
            entry.phase = TaskPhase::Terminated;
            if terminating {
                continue;
            }
            let update = agent_update(
                &framework_id,
                Some(&executor_id),
                &agent_id,
                &entry.info.task_id,
                termination.state,
                termination.reason,
                &termination.message,
                stamps,
            );
            set_state(entry, &update.status);
            actions.push(status_action(update, checkpoint.then(|| run.clone()), None));
        }
        if terminating {
            executor.tasks.clear();
        }
        actions.extend(self.forget_idle(&key.framework_id));
        actions
    }
}
