//! Registry writes: bringing what the registry holds for a framework to
//! what it should hold, one command at a time, and what each outcome
//! means.
//!
//! # A maybe-applied AddFramework never makes a second framework
//!
//! A new subscriber's id is reserved here before the first AddFramework
//! (`FrameworkTable::reserve_id`), and every retry carries that same id.
//! The registry refuses to add an id twice (`FrameworkAlreadyExists`), so
//! at most one record exists for the subscription whatever happened to
//! the earlier attempts. When an attempt may have applied
//! (`Failed { maybe_applied: true }`), the table keeps retrying; an
//! "already exists" answer then proves the earlier attempt applied,
//! because nothing else can have added that id: the table is the only
//! proposer of framework commands in its term, it was built after every
//! entry of earlier terms was applied, and a reserved id is handed to no
//! one else. The subscriber gets SUBSCRIBED with exactly that id, and only
//! then. If the subscriber's stream closes while the outcome is in doubt,
//! the retries go on: an added framework is then disconnected, recorded
//! so, and completed when its failover timeout runs out. If the term ends
//! first, the next leader finds the record (connected, never told to
//! anyone) and removes it after the recovery grace: a framework without
//! tasks that no scheduler knows, never a second live one.

use mesoraft_registry::{Command, RegistryError, Response, TimeNs};

use super::table::{FrameworkEntry, Pending, PendingKind, Presence, Stored};
use super::{Action, CallAnswer, FrameworkTable, Now, SchedulerEvent, WriteId, WriteOutcome};

/// What the registry should hold for a framework now.
enum Target {
    /// Leave it as it is (recovered: nothing new is known).
    Unchanged,
    Record {
        disconnected_ns: Option<TimeNs>,
    },
    Completed,
}

fn target(entry: &FrameworkEntry) -> Target {
    match &entry.presence {
        Presence::Recovered { .. } => Target::Unchanged,
        Presence::Subscribing { .. } | Presence::Connected { .. } => Target::Record {
            disconnected_ns: None,
        },
        Presence::Disconnected { failover } => Target::Record {
            disconnected_ns: Some(failover.since_ns),
        },
        Presence::Removing { .. } => Target::Completed,
    }
}

/// The command that moves the registry towards the target, if any.
fn next_command(entry: &FrameworkEntry, now: Now) -> Option<PendingKind> {
    let add = || PendingKind::Add {
        info: entry.info.clone(),
        time_ns: now.unix_ns,
    };
    match target(entry) {
        Target::Unchanged => None,
        Target::Record { disconnected_ns } => match &entry.stored {
            Stored::Absent => Some(add()),
            Stored::Known {
                info,
                disconnected_ns: stored,
            } if *info == entry.info && *stored == disconnected_ns => None,
            Stored::Known { .. } | Stored::Unknown => Some(PendingKind::Update {
                info: entry.info.clone(),
                disconnected_ns,
            }),
        },
        // Added first, so that even a framework known only from agents
        // has its id refused for ever.
        Target::Completed => match entry.stored {
            Stored::Absent if !entry.add_in_doubt => Some(add()),
            _ => Some(PendingKind::Complete),
        },
    }
}

impl FrameworkTable {
    /// Proposes the framework's next write, or, when the registry already
    /// holds what it should, gives the answers that waited for it.
    pub(super) fn sync(&mut self, framework_id: &str, now: Now, out: &mut Vec<Action>) {
        let Some(entry) = self.frameworks.get(framework_id) else {
            return;
        };
        if entry.write.is_some() {
            return;
        }
        if matches!(entry.presence, Presence::Disconnected { .. })
            && entry.stored == Stored::Absent
            && !entry.add_in_doubt
        {
            // Its stream ended before it was ever added: nothing to keep.
            self.abandon(framework_id);
            return;
        }
        if entry.retry_at.is_some_and(|at| now.instant < at) {
            return;
        }
        match next_command(entry, now) {
            Some(kind) => self.propose(framework_id, kind, now, out),
            None => self.synced(framework_id, now, out),
        }
    }

    fn propose(&mut self, framework_id: &str, kind: PendingKind, now: Now, out: &mut Vec<Action>) {
        let command = match &kind {
            PendingKind::Add { info, time_ns } => Command::AddFramework {
                info: info.clone(),
                time_ns: *time_ns,
            },
            PendingKind::Update {
                info,
                disconnected_ns,
            } => Command::UpdateFramework {
                info: info.clone(),
                disconnected_time_ns: *disconnected_ns,
            },
            PendingKind::Complete => Command::CompleteFramework {
                framework_id: mesoraft_proto::mesos::v1::FrameworkId {
                    value: framework_id.to_string(),
                },
                time_ns: now.unix_ns,
            },
        };
        let write = self.next_write;
        self.next_write += 1;
        if let Some(entry) = self.frameworks.get_mut(framework_id) {
            entry.write = Some(write);
        }
        let framework_id = framework_id.to_string();
        self.pending.insert(write, Pending { framework_id, kind });
        out.push(Action::Propose { write, command });
    }

    /// The registry holds what it should: SUBSCRIBED and update answers.
    fn synced(&mut self, framework_id: &str, now: Now, out: &mut Vec<Action>) {
        let heartbeat = self.policy.heartbeat_interval;
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if let Presence::Subscribing { stream } = entry.presence {
            entry.presence = Presence::Connected {
                stream,
                next_heartbeat: now.instant + heartbeat,
            };
            tracing::info!(framework_id, name = %entry.info.name, "framework subscribed");
            out.push(Action::Send {
                stream,
                event: SchedulerEvent::Subscribed {
                    framework_id: mesoraft_proto::mesos::v1::FrameworkId {
                        value: framework_id.to_string(),
                    },
                    heartbeat_interval_seconds: heartbeat.as_secs_f64(),
                },
            });
            out.push(Action::FrameworkActivated {
                framework_id: framework_id.to_string(),
                info: entry.info.clone(),
            });
        }
        if !entry.update_requests.is_empty() {
            for request in entry.update_requests.drain(..) {
                out.push(Action::Answer {
                    request,
                    answer: CallAnswer::Done,
                });
            }
            out.push(Action::FrameworkUpdated {
                framework_id: framework_id.to_string(),
                info: entry.info.clone(),
            });
        }
    }

    /// Forgets a framework that never made it into the registry (one
    /// learned from agents goes back to recovered).
    fn abandon(&mut self, framework_id: &str) {
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if entry.from_agents {
            entry.presence = Presence::Recovered { failover: None };
        } else {
            self.frameworks.remove(framework_id);
        }
    }

    pub(super) fn on_written(
        &mut self,
        write: WriteId,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(Pending { framework_id, kind }) = self.pending.remove(&write) else {
            return;
        };
        let retry_interval = self.policy.write_retry_interval;
        let Some(entry) = self.frameworks.get_mut(&framework_id) else {
            return;
        };
        entry.write = None;
        let id = framework_id.as_str();
        match (kind, outcome) {
            (PendingKind::Add { info, time_ns }, WriteOutcome::Applied(response)) => {
                if response
                    != (Response::FrameworkAdded {
                        framework_id: framework_id.clone(),
                    })
                {
                    tracing::warn!(
                        framework_id = id,
                        ?response,
                        "unexpected AddFramework answer"
                    );
                }
                entry.stored = Stored::Known {
                    info,
                    disconnected_ns: None,
                };
                entry.registered_ns = Some(time_ns);
                entry.add_in_doubt = false;
            }
            (
                PendingKind::Add { .. },
                WriteOutcome::Refused(RegistryError::FrameworkAlreadyExists { .. }),
            ) if entry.add_in_doubt => {
                // An earlier attempt applied (see the module doc); what it
                // stored is rewritten by the next update.
                entry.stored = Stored::Unknown;
                entry.add_in_doubt = false;
            }
            (PendingKind::Add { .. }, WriteOutcome::Refused(error)) => {
                return self.add_refused(id, error, now, out)
            }
            (
                PendingKind::Update {
                    info,
                    disconnected_ns,
                },
                WriteOutcome::Applied(_),
            ) => {
                entry.stored = Stored::Known {
                    info,
                    disconnected_ns,
                };
            }
            (PendingKind::Update { .. }, WriteOutcome::Refused(error)) => {
                return self.update_refused(id, error, now, out)
            }
            (PendingKind::Complete, WriteOutcome::Applied(_)) => {
                return self.finish_removal(id, now, out)
            }
            (PendingKind::Complete, WriteOutcome::Refused(error)) => {
                tracing::error!(framework_id = id, %error, "CompleteFramework refused; removing it here");
                return self.finish_removal(id, now, out);
            }
            (kind, WriteOutcome::Failed { maybe_applied }) => {
                tracing::warn!(
                    framework_id = id,
                    maybe_applied,
                    "framework write failed; retrying"
                );
                if maybe_applied {
                    match kind {
                        PendingKind::Add { .. } => entry.add_in_doubt = true,
                        PendingKind::Update { .. } => entry.stored = Stored::Unknown,
                        // Idempotent: a completed id is completed again as a no-op.
                        PendingKind::Complete => {}
                    }
                }
                entry.retry_at = Some(now.instant + retry_interval);
            }
        }
        self.sync(&framework_id, now, out);
    }

    /// The framework cannot be added: its subscriber is told why.
    fn add_refused(
        &mut self,
        framework_id: &str,
        error: RegistryError,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        tracing::warn!(framework_id, %error, "framework subscription refused by the registry");
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if matches!(entry.presence, Presence::Removing { .. }) {
            return self.finish_removal(framework_id, now, out);
        }
        if let Some(stream) = entry.stream() {
            self.streams.remove(&stream);
            Self::refuse(stream, format!("Subscription refused: {error}"), out);
        }
        entry.presence = Presence::Disconnected {
            failover: Self::failover_from_now(&entry.info, now),
        };
        self.abandon(framework_id);
    }

    /// The new info is not accepted: back to the stored one, and every
    /// call that waited for it is told why.
    fn update_refused(
        &mut self,
        framework_id: &str,
        error: RegistryError,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let RegistryError::FrameworkCompleted { .. } = error {
            return self.finish_removal(framework_id, now, out);
        }
        tracing::warn!(framework_id, %error, "framework update refused by the registry");
        let retry_at = now.instant + self.policy.write_retry_interval;
        let Some(entry) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        match &entry.stored {
            Stored::Known { info, .. } => entry.info = info.clone(),
            Stored::Absent | Stored::Unknown => {}
        }
        if let RegistryError::FrameworkUnknown { .. } = error {
            entry.stored = Stored::Absent;
        }
        for request in entry.update_requests.drain(..) {
            out.push(Action::Answer {
                request,
                answer: CallAnswer::Refused(error.to_string()),
            });
        }
        if let Presence::Subscribing { stream } = entry.presence {
            self.streams.remove(&stream);
            Self::refuse(stream, format!("Subscription refused: {error}"), out);
            entry.presence = Presence::Disconnected {
                failover: Self::failover_from_now(&entry.info, now),
            };
        }
        entry.retry_at = Some(retry_at);
    }

    /// Refuses a subscription: ERROR, then the stream ends.
    pub(super) fn refuse(stream: u64, message: String, out: &mut Vec<Action>) {
        out.push(Action::Send {
            stream,
            event: SchedulerEvent::Error { message },
        });
        out.push(Action::Close { stream });
    }
}
