//! Subscriptions, failovers of schedulers, streams closing, TEARDOWN,
//! UPDATE_FRAMEWORK, frameworks learned from agents, and removal.

use mesoraft_proto::mesos::v1::{FrameworkId, FrameworkInfo};

use super::info::{failover_timeout, validate_update, InfoError};
use super::table::{FrameworkEntry, Presence, Stored};
use super::{
    Action, CallAnswer, FrameworkTable, Now, RequestId, SchedulerEvent, StreamId,
    FAILED_OVER_MESSAGE, REMOVED_MESSAGE,
};

impl FrameworkTable {
    pub(super) fn on_subscribe(
        &mut self,
        stream: StreamId,
        mut info: FrameworkInfo,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Err(error) = failover_timeout(&info) {
            return Self::refuse(stream, error.to_string(), out);
        }
        let framework_id = match info.id.as_ref().map(|id| id.value.clone()) {
            Some(id) => id,
            None => match self.reserve_id() {
                Some(id) => id,
                None => {
                    let message = "No framework id is left to assign: \
                                   subscribe with a framework id of your own"
                        .to_string();
                    return Self::refuse(stream, message, out);
                }
            },
        };
        if self.completed_ids.contains(&framework_id) {
            return Self::refuse(stream, REMOVED_MESSAGE.to_string(), out);
        }
        info.id = Some(FrameworkId {
            value: framework_id.clone(),
        });
        match self.frameworks.get(&framework_id) {
            None => {
                // New, or an id this leader does not know (subscribed with
                // an id of its own choosing): added with that id.
                self.note_id(&framework_id);
                let presence = Presence::Subscribing { stream };
                let entry = FrameworkEntry::new(info, presence, Stored::Absent);
                self.frameworks.insert(framework_id.clone(), entry);
            }
            Some(entry) => {
                if matches!(entry.presence, Presence::Removing { .. }) {
                    return Self::refuse(stream, REMOVED_MESSAGE.to_string(), out);
                }
                if let Err(error) = validate_update(&entry.info, &info) {
                    return Self::refuse(stream, error.to_string(), out);
                }
                self.take_over(&framework_id, stream, info, out);
                if let Some(entry) = self.frameworks.get_mut(&framework_id) {
                    entry.reregistered_ns = Some(now.unix_ns);
                }
            }
        }
        self.streams.insert(stream, framework_id.clone());
        self.sync(&framework_id, now, out);
    }

    /// A re-subscription: the new stream replaces any previous one, which
    /// gets ERROR and is closed; the new info wins.
    fn take_over(
        &mut self,
        framework_id: &str,
        stream: StreamId,
        info: FrameworkInfo,
        out: &mut Vec<Action>,
    ) {
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if let Some(old) = entry.stream().filter(|old| *old != stream) {
            self.streams.remove(&old);
            Self::refuse(old, FAILED_OVER_MESSAGE.to_string(), out);
            if matches!(entry.presence, Presence::Connected { .. }) {
                out.push(Action::FrameworkDeactivated {
                    framework_id: framework_id.to_string(),
                });
            }
        }
        tracing::info!(framework_id, "framework re-subscribing");
        entry.info = info;
        entry.presence = Presence::Subscribing { stream };
    }

    pub(super) fn on_stream_closed(&mut self, stream: StreamId, now: Now, out: &mut Vec<Action>) {
        let Some(framework_id) = self.streams.remove(&stream) else {
            return;
        };
        let Some(entry) = self.frameworks.get_mut(&framework_id) else {
            return;
        };
        match entry.presence {
            Presence::Connected { stream: s, .. } | Presence::Subscribing { stream: s }
                if s == stream =>
            {
                if matches!(entry.presence, Presence::Connected { .. }) {
                    out.push(Action::FrameworkDeactivated {
                        framework_id: framework_id.clone(),
                    });
                }
                tracing::info!(
                    framework_id,
                    "framework disconnected; failover timeout started"
                );
                entry.presence = Presence::Disconnected {
                    failover: Self::failover_from_now(&entry.info, now),
                };
            }
            Presence::Removing { stream: Some(s) } if s == stream => {
                entry.presence = Presence::Removing { stream: None };
            }
            _ => {}
        }
        self.sync(&framework_id, now, out);
    }

    pub(super) fn on_teardown(
        &mut self,
        framework_id: String,
        request: RequestId,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if self.completed_ids.contains(&framework_id) {
            return answer(request, CallAnswer::Removed, out);
        }
        if !self.frameworks.contains_key(&framework_id) {
            return answer(request, CallAnswer::UnknownFramework, out);
        }
        tracing::info!(framework_id, "framework torn down");
        self.begin_removal(&framework_id, Some(request), now, out);
    }

    pub(super) fn on_update(
        &mut self,
        framework_id: String,
        mut info: FrameworkInfo,
        request: RequestId,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if self.completed_ids.contains(&framework_id) {
            return answer(request, CallAnswer::Removed, out);
        }
        let Some(entry) = self.frameworks.get_mut(&framework_id) else {
            return answer(request, CallAnswer::UnknownFramework, out);
        };
        match entry.presence {
            Presence::Connected { .. } => {}
            Presence::Removing { .. } => return answer(request, CallAnswer::Removed, out),
            _ => return answer(request, CallAnswer::NotSubscribed, out),
        }
        let given = info.id.as_ref().map(|id| id.value.clone());
        if given.as_deref() != Some(framework_id.as_str()) {
            let error = InfoError::IdMismatch {
                given,
                expected: framework_id,
            };
            return answer(request, CallAnswer::Invalid(error.to_string()), out);
        }
        if let Err(error) = validate_update(&entry.info, &info) {
            return answer(request, CallAnswer::Invalid(error.to_string()), out);
        }
        info.id = entry.info.id.clone();
        if info == entry.info {
            return answer(request, CallAnswer::Done, out);
        }
        entry.info = info;
        entry.update_requests.push(request);
        self.sync(&framework_id, now, out);
    }

    /// A framework whose tasks a re-registering agent runs: recovered
    /// (inactive) until it subscribes, unless known or completed.
    pub(super) fn on_learned(&mut self, info: FrameworkInfo) {
        let Some(framework_id) = info.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        if self.completed_ids.contains(&framework_id) || self.frameworks.contains_key(&framework_id)
        {
            return;
        }
        self.note_id(&framework_id);
        let presence = Presence::Recovered { failover: None };
        let mut entry = FrameworkEntry::new(info, presence, Stored::Absent);
        entry.from_agents = true;
        tracing::info!(framework_id, "framework learned from an agent: recovered");
        self.frameworks.insert(framework_id, entry);
    }

    /// Teardown or failover timeout: the framework is to be completed.
    pub(super) fn begin_removal(
        &mut self,
        framework_id: &str,
        request: Option<RequestId>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if !matches!(entry.presence, Presence::Removing { .. }) {
            if matches!(entry.presence, Presence::Connected { .. }) {
                out.push(Action::FrameworkDeactivated {
                    framework_id: framework_id.to_string(),
                });
            }
            entry.presence = Presence::Removing {
                stream: entry.stream(),
            };
            for request in entry.update_requests.drain(..) {
                answer(request, CallAnswer::Removed, out);
            }
        }
        entry.removal_requests.extend(request);
        self.sync(framework_id, now, out);
    }

    /// Completed: its stream is told and closed, its tasks are to be
    /// killed, its id is refused from now on.
    pub(super) fn finish_removal(&mut self, framework_id: &str, now: Now, out: &mut Vec<Action>) {
        let Some(entry) = self.frameworks.remove(framework_id) else {
            return;
        };
        if let Some(stream) = entry.stream() {
            self.streams.remove(&stream);
            out.push(Action::Send {
                stream,
                event: SchedulerEvent::Error {
                    message: REMOVED_MESSAGE.to_string(),
                },
            });
            out.push(Action::Close { stream });
        }
        for request in entry.removal_requests {
            answer(request, CallAnswer::Done, out);
        }
        for request in entry.update_requests {
            answer(request, CallAnswer::Removed, out);
        }
        tracing::info!(framework_id, "framework removed");
        out.push(Action::FrameworkRemoved {
            framework_id: framework_id.to_string(),
        });
        self.note_completed(framework_id.to_string(), Some(entry.info), now.unix_ns);
    }
}

fn answer(request: RequestId, answer: CallAnswer, out: &mut Vec<Action>) {
    out.push(Action::Answer { request, answer });
}
