//! The operator event stream's subscribers (`SUBSCRIBE` on `POST
//! /api/v1`): each gets SUBSCRIBED with the state of the step it
//! subscribed in, then every change after it, in the driver's order, so
//! state plus events is always the driver's state.
//!
//! Events are built only while someone watches. A subscriber that falls
//! [`WATCHER_QUEUE`] events behind is dropped (its stream ends and it
//! subscribes again for a fresh state) rather than letting the leader's
//! memory grow for a stuck reader.

use std::collections::HashSet;

use mesoraft_proto::agent::master_to_agent;
use mesoraft_proto::mesos::v1::master::Event as OperatorEvent;
use mesoraft_proto::mesos::v1::TaskStatus;
use tokio::sync::mpsc;

use super::Shell;
use crate::agents::table::Action as AgentAction;
use crate::framework_views::events;

/// Events that may wait for one operator stream.
pub const WATCHER_QUEUE: usize = 4096;

pub(super) struct Watcher {
    events: mpsc::Sender<OperatorEvent>,
    /// The frameworks this stream has heard of (ADDED vs UPDATED).
    frameworks: HashSet<String>,
}

impl Shell {
    pub(super) fn operator_subscribe(&mut self, events: mpsc::Sender<OperatorEvent>) {
        let view = self.cluster_view();
        let frameworks = view
            .frameworks
            .frameworks
            .iter()
            .map(|row| row.id().to_string())
            .collect();
        if events.try_send(events::subscribed(&view)).is_ok() {
            self.watchers.push(Watcher { events, frameworks });
        }
    }

    /// Sends what `make` builds to every watcher (built only if there is
    /// one); drops the ones that do not keep up or went away.
    fn notify(&mut self, make: impl FnOnce(&Shell) -> Option<OperatorEvent>) {
        if self.watchers.is_empty() {
            return;
        }
        let Some(event) = make(self) else {
            return;
        };
        self.watchers.retain(|w| deliver(w, event.clone()));
    }

    /// TASK_ADDED for the tasks a message launches.
    pub(super) fn watch_launch(&mut self, message: &master_to_agent::Message) {
        if self.watchers.is_empty() {
            return;
        }
        let (framework_id, task_ids): (String, Vec<String>) = match message {
            master_to_agent::Message::RunTask(m) => (
                m.framework.id.clone().unwrap_or_default().value,
                vec![m.task.task_id.value.clone()],
            ),
            master_to_agent::Message::RunTaskGroup(m) => (
                m.framework.id.clone().unwrap_or_default().value,
                m.task_group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.value.clone())
                    .collect(),
            ),
            _ => return,
        };
        for task_id in task_ids {
            self.notify(|shell| {
                let task = shell.tasks.task(&framework_id, &task_id)?;
                Some(events::task_added(task))
            });
        }
    }

    /// TASK_UPDATED for an update on its way to its framework.
    pub(super) fn watch_update(&mut self, framework_id: &str, status: &TaskStatus) {
        self.notify(|shell| {
            let state = shell
                .tasks
                .task(framework_id, &status.task_id.value)
                .map_or(status.state, |t| t.state);
            Some(events::task_updated(framework_id, status, state))
        });
    }

    /// AGENT_ADDED for agents the table (re-)registered, AGENT_REMOVED
    /// for those that left it (unreachable, gone, removed).
    pub(super) fn watch_agents(&mut self, actions: &[AgentAction]) {
        for action in actions {
            match action {
                AgentAction::Send {
                    message: master_to_agent::Message::SlaveRegistered(m),
                    ..
                } => self.watch_agent_added(&m.slave_id.value),
                AgentAction::Send {
                    message: master_to_agent::Message::SlaveReregistered(m),
                    ..
                } => self.watch_agent_added(&m.slave_id.value),
                AgentAction::Departed { agent_id, .. } => {
                    self.notify(|_| Some(events::agent_removed(agent_id)))
                }
                _ => {}
            }
        }
    }

    fn watch_agent_added(&mut self, agent_id: &str) {
        self.notify(|shell| Some(events::agent_added(&shell.agent_row_of(agent_id)?)));
    }

    /// FRAMEWORK_ADDED or FRAMEWORK_UPDATED after a framework changed.
    pub(super) fn watch_framework(&mut self, framework_id: &str) {
        if self.watchers.is_empty() {
            return;
        }
        let Some(row) = self.framework_row(framework_id) else {
            return;
        };
        let updated = events::framework(&row, false);
        let added = events::framework(&row, true);
        self.watchers.retain_mut(|w| {
            let event = if w.frameworks.insert(framework_id.to_string()) {
                added.clone()
            } else {
                updated.clone()
            };
            deliver(w, event)
        });
    }

    /// FRAMEWORK_REMOVED once the registry completed it.
    pub(super) fn watch_framework_removed(&mut self, framework_id: &str) {
        if self.watchers.is_empty() {
            return;
        }
        let info = self
            .frameworks
            .completed()
            .find(|c| c.framework_id == framework_id)
            .and_then(|c| c.info.clone())
            .unwrap_or_else(|| mesoraft_proto::mesos::v1::FrameworkInfo {
                id: Some(mesoraft_proto::mesos::v1::FrameworkId {
                    value: framework_id.to_string(),
                }),
                ..Default::default()
            });
        let event = events::framework_removed(info);
        self.watchers.retain_mut(|w| {
            w.frameworks.remove(framework_id);
            deliver(w, event.clone())
        });
    }
}

/// Whether the watcher took the event (false: drop it).
fn deliver(watcher: &Watcher, event: OperatorEvent) -> bool {
    match watcher.events.try_send(event) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                queue = WATCHER_QUEUE,
                "operator event stream not reading; closing it (it may subscribe again)"
            );
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}
