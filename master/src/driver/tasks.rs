//! The tasks side of the agents driver: the task table lives beside the
//! agent table because tasks follow their agents' sessions and departures,
//! and one task ordering both keeps them consistent (a status update is
//! never taken from a session the agent table has already closed).
//!
//! Status updates go to their framework's scheduler stream
//! (`frameworks.rs`); tasks that end free their resources in the
//! allocator (`offers.rs`).

use std::collections::{HashMap, VecDeque};

use mesoraft_proto::agent::{master_to_agent, ReregisterSlaveMessage, StatusUpdateMessage};
use mesoraft_proto::mesos::v1::{FrameworkInfo, Task};

use super::Shell;
use crate::agents::table::{Action as AgentAction, Departure as AgentDeparture, SessionId};
use crate::tasks::launch::{Launch, LaunchError};
use crate::tasks::table::{Action as TaskAction, Departure, Event as TaskEvent};

/// What a re-registering session brought, held until the agent table
/// accepts the re-registration (it may need a registry write first).
#[derive(Debug)]
pub(super) struct Returning {
    tasks: Vec<Task>,
    frameworks: Vec<FrameworkInfo>,
    was_unreachable: bool,
}

/// Re-registrations waiting for the agent table's answer, by session.
pub(super) type ReturningSessions = HashMap<SessionId, Returning>;

impl Shell {
    /// A session sent ReregisterSlave: keep its tasks for when it is
    /// accepted.
    pub(super) fn remember_returning(&mut self, session: SessionId, m: &ReregisterSlaveMessage) {
        let was_unreachable = m
            .slave
            .id
            .as_ref()
            .is_some_and(|id| self.table.unreachable().contains_key(&id.value));
        self.returning.insert(
            session,
            Returning {
                tasks: m.tasks.clone(),
                frameworks: m.frameworks.clone(),
                was_unreachable,
            },
        );
    }

    /// A status update from a session: taken only from the session its
    /// agent is registered on (the agent resends it after registering).
    pub(super) fn status_update(&mut self, session: SessionId, m: StatusUpdateMessage) {
        let Some(agent_id) = self.table.agent_of_session(session).map(str::to_string) else {
            tracing::debug!(
                session,
                "status update from an unregistered session dropped"
            );
            return;
        };
        let now = super::now();
        let actions = self.tasks.step(
            TaskEvent::Update {
                agent_id,
                update: m.update,
            },
            now.unix_ns,
        );
        self.run_tasks(actions);
    }

    /// What the agent table's actions mean for tasks: accepted
    /// re-registrations bring tasks, departures change them.
    pub(super) fn follow_agents(&mut self, actions: &[AgentAction]) {
        let now = super::now();
        for action in actions {
            let mut completed = Vec::new();
            let event = match action {
                AgentAction::Send {
                    session,
                    message: master_to_agent::Message::SlaveReregistered(m),
                } => {
                    let Some(returning) = self.returning.remove(session) else {
                        continue;
                    };
                    completed = self.completed_frameworks_in(&returning.tasks);
                    self.learn_frameworks(&returning.frameworks);
                    TaskEvent::AgentReregistered {
                        agent_id: m.slave_id.value.clone(),
                        tasks: returning.tasks,
                        frameworks: returning.frameworks,
                        was_unreachable: returning.was_unreachable,
                    }
                }
                AgentAction::Close { session } => {
                    self.returning.remove(session);
                    continue;
                }
                AgentAction::Departed { agent_id, why } => TaskEvent::AgentDeparted {
                    agent_id: agent_id.clone(),
                    departure: match *why {
                        AgentDeparture::Unreachable { .. } if self.forget_unreachable_tasks => {
                            Departure::Gone
                        }
                        AgentDeparture::Unreachable { since_ns } => {
                            Departure::Unreachable { since_ns }
                        }
                        AgentDeparture::Gone => Departure::Gone,
                        AgentDeparture::Removed => Departure::Removed,
                    },
                },
                _ => continue,
            };
            let task_actions = self.tasks.step(event, now.unix_ns);
            self.run_tasks(task_actions);
            if let AgentAction::Departed { agent_id, .. } = action {
                self.agent_lost(agent_id);
            }
            if let AgentAction::Send {
                message: master_to_agent::Message::SlaveReregistered(m),
                ..
            } = action
            {
                self.end_completed_frameworks(&m.slave_id.value, completed);
            }
        }
    }

    /// The completed frameworks a returning agent still runs tasks of
    /// (their ShutdownFramework was lost with its session).
    fn completed_frameworks_in(&self, tasks: &[Task]) -> Vec<String> {
        let ids: std::collections::BTreeSet<&str> = tasks
            .iter()
            .map(|t| t.framework_id.value.as_str())
            .filter(|id| self.frameworks.is_completed(id))
            .collect();
        ids.into_iter().map(str::to_string).collect()
    }

    /// Ends what a returning agent reported of completed frameworks and
    /// tells it, once its re-registration is answered, to shut them down.
    fn end_completed_frameworks(&mut self, agent_id: &str, completed: Vec<String>) {
        for framework_id in completed {
            tracing::info!(
                agent_id,
                framework_id = %framework_id,
                "returning agent runs tasks of a completed framework; shutting it down there"
            );
            let ended = self.tasks.step(
                TaskEvent::FrameworkRemoved {
                    framework_id: framework_id.clone(),
                },
                super::now().unix_ns,
            );
            self.run_tasks(ended);
            self.after_registration.push((
                agent_id.to_string(),
                master_to_agent::Message::ShutdownFramework(
                    mesoraft_proto::agent::ShutdownFrameworkMessage {
                        framework_id: mesoraft_proto::mesos::v1::FrameworkId {
                            value: framework_id,
                        },
                    },
                ),
            ));
        }
    }

    /// A launch (internal path or ACCEPT) through the task table.
    pub(super) fn launch(&mut self, launch: Launch) -> Result<(), LaunchError> {
        let registered = self.table.session_of_agent(launch.agent_id()).is_some();
        let result = match launch {
            Launch::Task { framework, task } => self.tasks.launch(framework, task, registered),
            Launch::Group {
                framework,
                executor,
                task_group,
            } => self
                .tasks
                .launch_group(framework, executor, task_group, registered),
        };
        result.map(|actions| self.run_tasks(actions))
    }

    /// Carries out task actions, including the acknowledgements the
    /// internal recipient answers with (see `deliver_update`).
    pub(super) fn run_tasks(&mut self, actions: Vec<TaskAction>) {
        let mut queue: VecDeque<TaskAction> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                TaskAction::ToAgent { agent_id, message } => {
                    self.watch_launch(&message);
                    self.send_to_agent(&agent_id, message)
                }
                TaskAction::ToFramework {
                    framework_id,
                    status,
                } => {
                    self.watch_update(&framework_id, &status);
                    if let Some(ack) = self.deliver_update(framework_id, status) {
                        queue.extend(self.tasks.step(ack, super::now().unix_ns));
                    }
                }
                TaskAction::Released {
                    agent_id,
                    framework_id,
                    resources,
                } => self.release(&agent_id, &framework_id, &resources),
            }
        }
    }
}
