//! Carrying out what the table and the update manager decide: executor
//! streams, containers, the master, timers, and the checkpoint (whose
//! write failures stop the agent: state it cannot record, it cannot
//! promise to recover).

use std::time::Instant;

use mesoraft_proto::agent::{
    agent_to_master, master_to_agent, AgentToMaster, ExecutorRunRecord, ExecutorToFrameworkMessage,
    StatusUpdateMessage,
};
use mesoraft_proto::mesos::v1::executor::{event, Event as ExecutorEvent};
use mesoraft_proto::mesos::v1::{AgentId, ExecutorId, FrameworkId, TaskId};

use super::{CallReply, Driver, DriverFailure};
use crate::checkpoint::runtime;
use crate::checkpoint::CheckpointError;
use crate::executors::call::ExecutorCall;
use crate::executors::containerizer::ContainerExit;
use crate::executors::model::{Action, Checkpoint, Event, ExecutorKey, LaunchSpec, Refusal};
use crate::updates::manager::UpdateAction;

impl Driver {
    pub(super) fn executor_call(
        &mut self,
        call: ExecutorCall,
    ) -> Result<Result<CallReply, Refusal>, DriverFailure> {
        let event = match call {
            ExecutorCall::Heartbeat => return Ok(Ok(CallReply::Accepted)),
            ExecutorCall::Subscribe {
                executor,
                subscribe,
            } => return self.subscribe(executor, subscribe),
            ExecutorCall::Update { executor, status } => Event::Update { executor, status },
            ExecutorCall::Message { executor, data } => Event::ExecutorMessage { executor, data },
        };
        match self.table.step(event, &mut self.stamps) {
            Ok(actions) => {
                self.actions(actions)?;
                Ok(Ok(CallReply::Accepted))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    fn subscribe(
        &mut self,
        executor: ExecutorKey,
        subscribe: mesoraft_proto::mesos::v1::executor::call::Subscribe,
    ) -> Result<Result<CallReply, Refusal>, DriverFailure> {
        let connection = self.next_connection;
        self.next_connection += 1;
        let (sender, events) = tokio::sync::mpsc::unbounded_channel();
        // The new stream takes the executor's events from now on (its
        // SUBSCRIBED first); an older stream ends as its sender goes.
        let previous = self
            .connections
            .insert(executor.clone(), (connection, sender));
        let event = Event::Subscribe {
            executor: executor.clone(),
            connection,
            subscribe,
        };
        match self.table.step(event, &mut self.stamps) {
            Ok(actions) => {
                tracing::info!(executor = %executor, connection, "executor subscribed");
                self.actions(actions)?;
                Ok(Ok(CallReply::Subscribed {
                    executor,
                    connection,
                    events,
                }))
            }
            Err(refusal) => {
                match previous {
                    Some(previous) => self.connections.insert(executor, previous),
                    None => self.connections.remove(&executor),
                };
                Ok(Err(refusal))
            }
        }
    }

    pub(super) fn master_message(
        &mut self,
        message: master_to_agent::Message,
    ) -> Result<(), DriverFailure> {
        use master_to_agent::Message as M;
        let event = match message {
            M::RunTask(m) => {
                let mut framework = m.framework;
                if framework.id.is_none() {
                    framework.id = m.framework_id;
                }
                Event::RunTask {
                    framework,
                    task: m.task,
                }
            }
            M::RunTaskGroup(m) => Event::RunTaskGroup {
                framework: m.framework,
                executor: m.executor,
                tasks: m.task_group.tasks,
            },
            M::KillTask(m) => Event::KillTask {
                framework_id: m.framework_id,
                task_id: m.task_id,
                kill_policy: m.kill_policy,
            },
            M::ShutdownFramework(m) => Event::ShutdownFramework {
                framework_id: m.framework_id,
            },
            M::ShutdownExecutor(m) => Event::ShutdownExecutor {
                executor: ExecutorKey::new(&m.framework_id, &m.executor_id),
            },
            M::FrameworkToExecutor(m) => Event::FrameworkMessage {
                executor: ExecutorKey::new(&m.framework_id, &m.executor_id),
                data: m.data,
            },
            M::StatusUpdateAcknowledgement(m) => {
                return self.acknowledge(&m.framework_id, &m.task_id, &m.uuid)
            }
            M::SlaveRegistered(_) | M::SlaveReregistered(_) | M::Ping(_) | M::Shutdown(_) => {
                return Ok(())
            }
        };
        self.table_event(event)
    }

    /// The master acknowledged an update: record it, send the task's next
    /// one; the task is complete once its terminal update is acknowledged.
    fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: &[u8],
    ) -> Result<(), DriverFailure> {
        let acked = match self.updates.acknowledge(
            &framework_id.value,
            &task_id.value,
            uuid,
            Instant::now(),
        ) {
            Ok(acked) => acked,
            Err(error) => {
                tracing::warn!(framework_id = %framework_id.value, task_id = %task_id.value, %error, "acknowledgement ignored");
                return Ok(());
            }
        };
        tracing::debug!(framework_id = %framework_id.value, task_id = %task_id.value, state = ?acked.update.status.state(), "status update acknowledged");
        self.update_actions(acked.actions)?;
        if acked.stream_closed {
            self.table_event(Event::TaskCompleted {
                framework_id: framework_id.clone(),
                task_id: task_id.clone(),
            })?;
        }
        Ok(())
    }

    pub(super) fn container_exited(&mut self, exit: ContainerExit) -> Result<(), DriverFailure> {
        tracing::info!(executor = %exit.run.executor, run = %exit.run.container_id, limited = exit.limitation.is_some(), "executor ended");
        self.containerizer.forget(&exit.run);
        self.connections.remove(&exit.run.executor);
        self.table_event(Event::ExecutorExited {
            run: exit.run,
            limitation: exit.limitation,
        })
    }

    /// An event that is not an executor's call (the table refuses none).
    pub(super) fn table_event(&mut self, event: Event) -> Result<(), DriverFailure> {
        match self.table.step(event, &mut self.stamps) {
            Ok(actions) => self.actions(actions),
            Err(refusal) => {
                tracing::warn!(%refusal, "event refused");
                Ok(())
            }
        }
    }

    pub(super) fn actions(&mut self, actions: Vec<Action>) -> Result<(), DriverFailure> {
        for action in actions {
            self.action(action)?;
        }
        Ok(())
    }

    fn action(&mut self, action: Action) -> Result<(), DriverFailure> {
        match action {
            Action::Launch(spec) => self.launch(*spec)?,
            Action::Destroy(run) => self.containerizer.destroy(&run),
            Action::UpdateLimits { run, limits } => self.containerizer.update_limits(&run, limits),
            Action::Send { executor, event } => self.send(&executor, *event),
            Action::Close { executor } => {
                self.connections.remove(&executor);
            }
            Action::StatusUpdate {
                update,
                checkpoint_run,
                ack_executor,
            } => {
                let task_id = update.status.task_id.clone();
                let uuid = update.uuid.clone().unwrap_or_default();
                let state = update.status.state;
                match self.updates.update(*update, checkpoint_run, Instant::now()) {
                    Ok(actions) => {
                        self.counters.update_taken(state);
                        self.update_actions(actions)?;
                        // Recorded: the agent answers for it now.
                        if let Some(executor) = ack_executor {
                            self.send(
                                &executor,
                                ExecutorEvent {
                                    r#type: Some(event::Type::Acknowledged as i32),
                                    acknowledged: Some(event::Acknowledged { task_id, uuid }),
                                    ..Default::default()
                                },
                            );
                        }
                    }
                    Err(error) => {
                        tracing::error!(task_id = %task_id.value, %error, "status update refused by the update manager");
                    }
                }
            }
            Action::DropUpdates { framework_id } => {
                let dropped = self.updates.drop_framework(&framework_id.value);
                tracing::info!(framework_id = %framework_id.value, streams = dropped.len(), "status update streams dropped");
            }
            Action::ToFramework { executor, data } => {
                let agent_id = self.agent_id();
                self.send_to_master(agent_to_master::Message::ExecutorToFramework(
                    ExecutorToFrameworkMessage {
                        slave_id: AgentId { value: agent_id },
                        framework_id: FrameworkId {
                            value: executor.framework_id.clone(),
                        },
                        executor_id: ExecutorId {
                            value: executor.executor_id.clone(),
                        },
                        data,
                    },
                ));
            }
            Action::StartTimer(timer, after) => self.timers.set(timer, Instant::now() + after),
            Action::Checkpoint(checkpoint) => self.checkpoint(checkpoint)?,
        }
        Ok(())
    }

    pub(super) fn update_actions(
        &mut self,
        actions: Vec<UpdateAction>,
    ) -> Result<(), DriverFailure> {
        for action in actions {
            match action {
                UpdateAction::Record {
                    run,
                    stream,
                    record,
                } => {
                    let agent_id = self.agent_id();
                    runtime::append_update(
                        &self.work_dir,
                        &agent_id,
                        &run,
                        &stream.task_id,
                        &record,
                    )
                    .map_err(fatal)?;
                }
                UpdateAction::Forward(mut update) => {
                    self.table.forwarding(&mut update);
                    tracing::info!(
                        framework_id = %update.framework_id.value,
                        task_id = %update.status.task_id.value,
                        state = ?update.status.state(),
                        "forwarding status update"
                    );
                    self.send_to_master(agent_to_master::Message::StatusUpdate(
                        StatusUpdateMessage { update: *update },
                    ));
                }
            }
        }
        Ok(())
    }

    fn launch(&mut self, spec: LaunchSpec) -> Result<(), DriverFailure> {
        let agent_id = self.agent_id();
        let checkpoint = spec.framework.checkpoint.unwrap_or(false);
        match self.containerizer.launch(&spec, &agent_id) {
            Ok(launched) => {
                if checkpoint {
                    let record = ExecutorRunRecord {
                        container_id: spec.run.container_id.clone(),
                        command_executor: Some(spec.command_executor),
                        pid: Some(launched.pid),
                        start_time: launched.start_time,
                    };
                    runtime::save_run(&self.work_dir, &agent_id, &spec.run, &record)
                        .map_err(fatal)?;
                }
                Ok(())
            }
            Err(error) => {
                tracing::warn!(executor = %spec.run.executor, %error, "cannot launch the executor");
                self.table_event(Event::LaunchFailed {
                    run: spec.run,
                    error,
                })
            }
        }
    }

    fn checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), DriverFailure> {
        let agent_id = self.agent_id();
        let dir = &self.work_dir;
        let result = match &checkpoint {
            Checkpoint::Framework(info) => runtime::save_framework(dir, &agent_id, info),
            Checkpoint::Executor {
                run,
                info,
                command_executor,
            } => runtime::save_executor(dir, &agent_id, run, info, *command_executor),
            Checkpoint::Task { run, task } => runtime::save_task(dir, &agent_id, run, task),
            Checkpoint::RemoveExecutor(key) => runtime::remove_executor(dir, &agent_id, key),
            Checkpoint::RemoveFramework(id) => runtime::remove_framework(dir, &agent_id, &id.value),
        };
        match result {
            Ok(()) => Ok(()),
            // An id that cannot name a file: nothing to recover it by,
            // and the launch refuses it too.
            Err(CheckpointError::BadId(problem)) => {
                tracing::warn!(%problem, "not checkpointed");
                Ok(())
            }
            Err(e) => Err(fatal(e)),
        }
    }

    fn send(&mut self, executor: &ExecutorKey, event: ExecutorEvent) {
        match self.connections.get(executor) {
            Some((_, sender)) => {
                if sender.send(event).is_err() {
                    tracing::debug!(executor = %executor, "event for a closed stream dropped");
                }
            }
            None => {
                tracing::debug!(executor = %executor, kind = ?event.r#type(), "event for an executor without a stream dropped")
            }
        }
    }

    fn send_to_master(&mut self, message: agent_to_master::Message) {
        let Some(master) = &self.master else {
            tracing::debug!("no master: message not sent");
            return;
        };
        if let Err(e) = master.try_send(AgentToMaster {
            message: Some(message),
        }) {
            // Updates are resent by their retry timer.
            tracing::warn!(error = %e, "message to the master not sent");
        }
    }

    fn agent_id(&self) -> String {
        self.table.agent_id().unwrap_or_default().to_string()
    }

    /// The agent stops: frameworks without checkpointing cannot recover
    /// their executors, so those are killed now; the others live on
    /// unless `kill_all` (the agent leaves for good).
    pub(super) fn stop(&mut self, kill_all: bool) {
        for run in self.table.runs() {
            let checkpointing = self
                .table
                .framework_info(&run.executor.framework_id)
                .and_then(|f| f.checkpoint)
                .unwrap_or(false);
            if kill_all || !checkpointing {
                self.containerizer.destroy(&run);
            }
        }
        self.containerizer.detach_all();
        self.connections.clear();
    }
}

fn fatal(error: CheckpointError) -> DriverFailure {
    DriverFailure(format!(
        "cannot record the state of running tasks: {error}; the agent stops (its executors keep running and are recovered at the next start)"
    ))
}
