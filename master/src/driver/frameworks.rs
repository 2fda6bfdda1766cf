//! The frameworks side of the driver: scheduler streams, the framework
//! table's actions, scheduler calls, and delivering status updates and
//! executor messages to frameworks.

use std::collections::BTreeSet;

use mesoraft_proto::agent::{
    master_to_agent, ExecutorToFrameworkMessage, FrameworkToExecutorMessage,
    ShutdownExecutorMessage,
};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::scheduler::Event as ProtoEvent;
use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{
    AgentId, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, TaskStatus,
};
use tokio::sync::{mpsc, oneshot};

use super::hub::{CallRefusal, OpenedStream, Subscription};
use super::{Shell, WriteOf};
use crate::agents::table::WriteOutcome;
use crate::frameworks::{Action, CallAnswer, Event, Presence, SchedulerEvent, StreamId, WriteId};
use crate::scheduler::{events, SchedulerCall};
use crate::tasks::reconcile::{self, AgentStanding};
use crate::tasks::table::Event as TaskEvent;

/// One open scheduler stream (a SUBSCRIBE's response).
pub(super) struct SchedulerStream {
    events: mpsc::Sender<ProtoEvent>,
    /// `Mesos-Stream-Id`.
    stream_id: String,
    master_info: MasterInfo,
    /// SUBSCRIBE's `suppressed_roles`, applied when it is activated.
    suppressed_roles: Vec<String>,
}

/// The roles a framework is subscribed to (MULTI_ROLE: `roles`; others:
/// `role`, `*` by default).
pub(super) fn roles_of(info: &FrameworkInfo) -> BTreeSet<String> {
    let multi_role = info
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(Capability::MultiRole as i32));
    if multi_role {
        info.roles.iter().cloned().collect()
    } else {
        #[allow(deprecated)] // `role`: what non-MULTI_ROLE frameworks send
        let role = info.role.clone().unwrap_or_else(|| "*".to_string());
        BTreeSet::from([role])
    }
}

impl Shell {
    /// Frameworks from the registry enter the allocator inactive: their
    /// tasks hold resources, but they get no offers until they subscribe.
    pub(super) fn frameworks_recovered(&mut self) {
        let infos: Vec<(String, FrameworkInfo)> = self
            .frameworks
            .frameworks()
            .iter()
            .map(|(id, entry)| (id.clone(), entry.info.clone()))
            .collect();
        for (framework_id, info) in infos {
            self.allocator_add_framework(&framework_id, &info, false);
        }
    }

    pub(super) fn subscribe(
        &mut self,
        subscription: Subscription,
        reply: oneshot::Sender<OpenedStream>,
    ) {
        let stream = subscription.stream;
        let stream_id = uuid::Uuid::new_v4().to_string();
        self.streams.insert(
            stream,
            SchedulerStream {
                events: subscription.events,
                stream_id: stream_id.clone(),
                master_info: subscription.master_info,
                suppressed_roles: subscription.suppressed_roles,
            },
        );
        if reply.send(OpenedStream { stream, stream_id }).is_err() {
            // The request went away before its stream opened.
            self.streams.remove(&stream);
            return;
        }
        self.framework_step(Event::Subscribe {
            stream,
            info: subscription.info,
        });
    }

    pub(super) fn stream_ended(&mut self, stream: StreamId) {
        if self.streams.remove(&stream).is_some() {
            self.framework_step(Event::StreamClosed { stream });
        }
    }

    pub(super) fn framework_written(&mut self, write: WriteId, outcome: WriteOutcome) {
        self.framework_step(Event::Written { write, outcome });
    }

    pub(super) fn frameworks_tick(&mut self) {
        self.framework_step(Event::Tick);
    }

    /// The info the framework table holds for a framework.
    pub(super) fn framework_info(&self, framework_id: &str) -> Option<FrameworkInfo> {
        self.frameworks
            .frameworks()
            .get(framework_id)
            .map(|e| e.info.clone())
    }

    /// Frameworks a re-registering agent runs tasks of.
    pub(super) fn learn_frameworks(&mut self, infos: &[FrameworkInfo]) {
        for info in infos {
            let Some(id) = info.id.as_ref().map(|id| id.value.clone()) else {
                continue;
            };
            if self.frameworks.frameworks().contains_key(&id) || self.frameworks.is_completed(&id) {
                continue;
            }
            self.framework_step(Event::Learned { info: info.clone() });
            self.allocator_add_framework(&id, info, false);
            self.watch_framework(&id);
        }
    }

    fn framework_step(&mut self, event: Event) {
        let actions = self.frameworks.step(event, super::now());
        for action in actions {
            self.framework_action(action);
        }
    }

    fn framework_action(&mut self, action: Action) {
        match action {
            Action::Send { stream, event } => {
                let event = match event {
                    SchedulerEvent::Subscribed {
                        framework_id,
                        heartbeat_interval_seconds,
                    } => {
                        let master = self
                            .streams
                            .get(&stream)
                            .map(|s| s.master_info.clone())
                            .unwrap_or_default();
                        events::subscribed(&framework_id.value, heartbeat_interval_seconds, master)
                    }
                    SchedulerEvent::Heartbeat => events::heartbeat(),
                    SchedulerEvent::Error { message } => events::error(&message),
                };
                self.send_event(stream, event);
            }
            Action::Close { stream } => {
                self.streams.remove(&stream);
            }
            Action::Propose { write, command } => self.propose(WriteOf::Frameworks(write), command),
            Action::Answer { request, answer } => {
                if let Some((framework_id, reply)) = self.call_replies.remove(&request) {
                    let _ = reply.send(call_result(&framework_id, answer));
                }
            }
            Action::FrameworkActivated { framework_id, info } => {
                let suppressed = self
                    .frameworks
                    .frameworks()
                    .get(&framework_id)
                    .and_then(|e| e.stream())
                    .and_then(|s| self.streams.get(&s))
                    .map(|s| s.suppressed_roles.clone())
                    .unwrap_or_default();
                self.framework_activated(&framework_id, &info, &suppressed);
                self.watch_framework(&framework_id);
            }
            Action::FrameworkUpdated { framework_id, info } => {
                self.framework_roles_changed(&framework_id, &info);
                self.watch_framework(&framework_id);
            }
            Action::FrameworkDeactivated { framework_id } => {
                self.framework_deactivated(&framework_id);
                self.watch_framework(&framework_id);
            }
            Action::FrameworkRemoved { framework_id } => {
                self.framework_removed(&framework_id);
                self.shut_down_framework_on_agents(&framework_id);
                let ended = self.tasks.step(
                    TaskEvent::FrameworkRemoved {
                        framework_id: framework_id.clone(),
                    },
                    super::now().unix_ns,
                );
                self.run_tasks(ended);
                self.watch_framework_removed(&framework_id);
            }
        }
    }

    /// Writes `event` to a stream; a stream whose reader is gone or
    /// stuck is closed (the framework re-subscribes; what it missed is
    /// resent or rescinded).
    fn send_event(&mut self, stream: StreamId, event: ProtoEvent) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if let Err(e) = s.events.try_send(event) {
            let full = matches!(e, mpsc::error::TrySendError::Full(_));
            tracing::warn!(stream, full, "scheduler stream not reading; closing it");
            self.stream_ended(stream);
        }
    }

    /// Sends `event` to the framework's subscribed stream; false if it
    /// has none.
    pub(super) fn send_to_framework(&mut self, framework_id: &str, event: ProtoEvent) -> bool {
        let stream = match self.frameworks.frameworks().get(framework_id) {
            Some(entry) => match entry.presence {
                Presence::Connected { stream, .. } => stream,
                _ => return false,
            },
            None => return false,
        };
        self.send_event(stream, event);
        true
    }

    /// Mesos tells every subscribed framework that an agent was lost
    /// (FAILURE with only the agent id), after the agent's task updates:
    /// schedulers drop what they planned for it.
    pub(super) fn agent_lost(&mut self, agent_id: &str) {
        let streams: Vec<StreamId> = self
            .frameworks
            .frameworks()
            .values()
            .filter_map(|entry| match entry.presence {
                Presence::Connected { stream, .. } => Some(stream),
                _ => None,
            })
            .collect();
        for stream in streams {
            self.send_event(stream, events::failure(agent_id, None, None));
        }
    }

    /// A status update for a framework: sent on its stream when it is
    /// subscribed; held back otherwise (the agent resends it until it is
    /// acknowledged, SPEC 5). Updates of frameworks no scheduler ever
    /// subscribed (the internal launch path) are acknowledged here at
    /// once, so their agents' update streams advance: the returned event.
    pub(super) fn deliver_update(
        &mut self,
        framework_id: String,
        status: TaskStatus,
    ) -> Option<TaskEvent> {
        tracing::debug!(
            framework_id = %framework_id,
            task_id = %status.task_id.value,
            state = status.state,
            reason = status.reason,
            "task status update"
        );
        let registered = self
            .frameworks
            .frameworks()
            .get(&framework_id)
            .map(|entry| !entry.learned_only());
        match registered {
            Some(true) => {
                self.send_to_framework(&framework_id, events::update(status));
                None
            }
            // A completed framework, or one only the internal path used.
            _ => {
                let from_agent = status.source != Some(Source::Master as i32);
                match (from_agent, status.uuid, status.agent_id) {
                    (true, Some(uuid), Some(agent_id)) => Some(TaskEvent::Acknowledged {
                        agent_id: agent_id.value,
                        framework_id,
                        task_id: status.task_id.value,
                        uuid,
                    }),
                    _ => None,
                }
            }
        }
    }

    /// An executor's message to its framework (MESSAGE event); dropped
    /// when the framework is not subscribed (Mesos: best effort).
    pub(super) fn executor_message(
        &mut self,
        session: crate::agents::table::SessionId,
        m: ExecutorToFrameworkMessage,
    ) {
        if self.table.agent_of_session(session) != Some(m.slave_id.value.as_str()) {
            return;
        }
        let event = events::message(&m.slave_id.value, &m.executor_id.value, m.data);
        self.send_to_framework(&m.framework_id.value, event);
    }

    /// Kills every task of a removed framework: the agents running them
    /// shut its executors down.
    fn shut_down_framework_on_agents(&mut self, framework_id: &str) {
        let agents: BTreeSet<String> = self
            .tasks
            .tasks_of_framework(framework_id)
            .map(|t| t.agent_id.value.clone())
            .collect();
        for agent_id in agents {
            let message = master_to_agent::Message::ShutdownFramework(
                mesoraft_proto::agent::ShutdownFrameworkMessage {
                    framework_id: FrameworkId {
                        value: framework_id.to_string(),
                    },
                },
            );
            self.send_to_agent(&agent_id, message);
        }
    }

    /// A scheduler call other than SUBSCRIBE, from the stream `stream_id`.
    pub(super) fn scheduler_call(
        &mut self,
        framework_id: String,
        stream_id: &str,
        call: SchedulerCall,
        reply: oneshot::Sender<Result<(), CallRefusal>>,
    ) {
        if let Err(refusal) = self.check_stream(&framework_id, stream_id) {
            let _ = reply.send(Err(refusal));
            return;
        }
        let result = match call {
            SchedulerCall::Subscribe { .. } => Err(CallRefusal::Invalid(
                "SUBSCRIBE opens a stream; it is not sent on one".into(),
            )),
            SchedulerCall::Teardown => {
                self.next_call += 1;
                self.call_replies
                    .insert(self.next_call, (framework_id.clone(), reply));
                let request = self.next_call;
                return self.framework_step(Event::Teardown {
                    framework_id,
                    request,
                });
            }
            SchedulerCall::UpdateFramework {
                info,
                suppressed_roles,
            } => {
                self.set_suppressed_roles(&framework_id, suppressed_roles);
                self.next_call += 1;
                self.call_replies
                    .insert(self.next_call, (framework_id.clone(), reply));
                let request = self.next_call;
                return self.framework_step(Event::UpdateFramework {
                    framework_id,
                    info,
                    request,
                });
            }
            SchedulerCall::Accept {
                offer_ids,
                operations,
                filters,
            } => {
                self.accept(&framework_id, &offer_ids, operations, filters);
                Ok(())
            }
            SchedulerCall::Decline { offer_ids, filters } => {
                self.decline(&framework_id, &offer_ids, filters);
                Ok(())
            }
            SchedulerCall::Revive { roles } => self.revive(&framework_id, &roles),
            SchedulerCall::Suppress { roles } => self.suppress(&framework_id, &roles),
            SchedulerCall::Kill {
                task_id, agent_id, ..
            } => {
                self.kill_for_framework(&framework_id, task_id, agent_id);
                Ok(())
            }
            SchedulerCall::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => {
                let actions = self.tasks.step(
                    TaskEvent::Acknowledged {
                        agent_id,
                        framework_id,
                        task_id,
                        uuid,
                    },
                    super::now().unix_ns,
                );
                self.run_tasks(actions);
                Ok(())
            }
            SchedulerCall::Reconcile { tasks } => {
                self.reconcile(&framework_id, &tasks);
                Ok(())
            }
            SchedulerCall::Message {
                agent_id,
                executor_id,
                data,
            } => {
                let message =
                    master_to_agent::Message::FrameworkToExecutor(FrameworkToExecutorMessage {
                        slave_id: AgentId {
                            value: agent_id.clone(),
                        },
                        framework_id: FrameworkId {
                            value: framework_id,
                        },
                        executor_id: ExecutorId { value: executor_id },
                        data,
                    });
                self.send_to_agent(&agent_id, message);
                Ok(())
            }
            SchedulerCall::Shutdown {
                executor_id,
                agent_id,
            } => {
                // As Mesos: sent on to the agent if it is here; dropped
                // (still 202) otherwise. Its tasks' ends come as updates.
                let message = master_to_agent::Message::ShutdownExecutor(ShutdownExecutorMessage {
                    executor_id: ExecutorId { value: executor_id },
                    framework_id: FrameworkId {
                        value: framework_id,
                    },
                });
                self.send_to_agent(&agent_id, message);
                Ok(())
            }
            SchedulerCall::Request | SchedulerCall::InverseOffers => Ok(()),
        };
        let _ = reply.send(result);
    }

    /// Mesos's rules for a call's stream: the framework must be
    /// subscribed here (403 otherwise) over the stream the call names
    /// (400 otherwise).
    fn check_stream(&self, framework_id: &str, stream_id: &str) -> Result<(), CallRefusal> {
        let stream = self
            .frameworks
            .frameworks()
            .get(framework_id)
            .and_then(|entry| entry.stream())
            .and_then(|stream| self.streams.get(&stream))
            .ok_or_else(|| CallRefusal::NotSubscribed(framework_id.to_string()))?;
        if stream.stream_id != stream_id {
            return Err(CallRefusal::WrongStream(framework_id.to_string()));
        }
        Ok(())
    }

    /// KILL: the task's agent is asked to kill it; a task this master
    /// does not know is answered by explicit reconciliation (SPEC 6).
    fn kill_for_framework(
        &mut self,
        framework_id: &str,
        task_id: String,
        agent_id: Option<String>,
    ) {
        match self.tasks.kill(framework_id, &task_id) {
            Ok(actions) => self.run_tasks(actions),
            Err(crate::tasks::launch::KillError::Ended { .. }) => {}
            Err(crate::tasks::launch::KillError::UnknownTask { .. }) => {
                self.reconcile(framework_id, &[(task_id, agent_id)]);
            }
        }
    }

    /// RECONCILE: implicit (no tasks named) or explicit; the answers go
    /// to the framework's stream as UPDATE events without uuids.
    fn reconcile(&mut self, framework_id: &str, requests: &[(String, Option<String>)]) {
        let Some(info) = self.framework_info(framework_id) else {
            return;
        };
        let now_ns = super::now().unix_ns;
        let answers = if requests.is_empty() {
            reconcile::implicit(&self.tasks, framework_id, now_ns)
        } else {
            let any_recovered = self.table.counts().recovered > 0;
            let table = &self.table;
            let standing = |agent_id: &str| {
                if let Some(since_ns) = table.unreachable().get(agent_id) {
                    return AgentStanding::Unreachable {
                        since_ns: *since_ns,
                    };
                }
                if table.gone().contains_key(agent_id) {
                    return AgentStanding::Gone;
                }
                match table.agents().get(agent_id).map(|e| &e.presence) {
                    Some(crate::agents::table::Presence::Recovered) => AgentStanding::Recovered,
                    Some(_) => AgentStanding::Registered,
                    None => AgentStanding::Unknown,
                }
            };
            reconcile::explicit(
                &self.tasks,
                &info,
                requests,
                standing,
                any_recovered,
                now_ns,
            )
        };
        for status in answers {
            self.send_to_framework(framework_id, events::update(status));
        }
    }
}

/// A framework table's answer to a waiting call.
fn call_result(framework_id: &str, answer: CallAnswer) -> Result<(), CallRefusal> {
    match answer {
        CallAnswer::Done => Ok(()),
        CallAnswer::UnknownFramework | CallAnswer::NotSubscribed => {
            Err(CallRefusal::NotSubscribed(framework_id.to_string()))
        }
        CallAnswer::Removed => Err(CallRefusal::Invalid(
            crate::frameworks::REMOVED_MESSAGE.to_string(),
        )),
        CallAnswer::Invalid(message) | CallAnswer::Refused(message) => {
            Err(CallRefusal::Invalid(message))
        }
    }
}
