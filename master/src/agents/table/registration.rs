//! Registration and re-registration: the proposals they need and what
//! their outcomes mean.
use mesoraft_proto::agent::{master_to_agent, SlaveRegisteredMessage, SlaveReregisteredMessage};
use mesoraft_proto::mesos::v1::AgentInfo;
use mesoraft_registry::{Command, RegistryError, Response};

use crate::agents::plan::{reregistration, Known, Reregistration};

use super::*;

impl AgentTable {
    // registration

    pub(super) fn on_register(
        &mut self,
        session: SessionId,
        mut info: AgentInfo,
        out: &mut Vec<Action>,
    ) {
        if self.sessions.contains_key(&session) {
            // A repeated RegisterSlave while the first is being written,
            // or after it succeeded: the first answer covers it.
            return;
        }
        // The registry assigns the id; an id given here is not trusted.
        info.id = None;
        self.sessions.insert(session, SessionUse::Registering);
        let command = Command::AdmitAgent { info: info.clone() };
        self.propose(Pending::Admit { session, info }, command, out);
    }

    pub(super) fn on_reregister(
        &mut self,
        session: SessionId,
        info: AgentInfo,
        out: &mut Vec<Action>,
    ) {
        let Some(agent_id) = info.id.as_ref().map(|id| id.value.clone()) else {
            Self::shutdown(
                session,
                "Re-registration without an agent id; register as a new agent".into(),
                out,
            );
            return;
        };
        match self.sessions.get(&session) {
            Some(SessionUse::Agent(bound)) if *bound == agent_id => {
                // A re-registration on a session already bound: the agent
                // missed our answer; answer again if it is registered.
                if let Some(entry) = self.agents.get(&agent_id) {
                    if matches!(entry.presence, Presence::Connected { .. }) {
                        self.send_reregistered(session, &agent_id, out);
                    }
                }
                return;
            }
            Some(SessionUse::Registering) | Some(SessionUse::Agent(_)) => {
                Self::shutdown(
                    session,
                    "The session already belongs to another agent".into(),
                    out,
                );
                return;
            }
            Some(SessionUse::Orphan(_)) | None => {}
        }
        let known = self.known(&agent_id);
        match reregistration(&self.cluster_id, &agent_id, known, &info) {
            Reregistration::Refuse(why) => {
                self.sessions.remove(&session);
                Self::shutdown(session, why, out);
            }
            Reregistration::Busy => {
                // Another change to this agent is in flight; the agent
                // retries after its backoff.
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
            Reregistration::Accept => {
                let Some(entry) = self.agents.get_mut(&agent_id) else {
                    return;
                };
                let old_session = connected_session(&entry.presence);
                entry.info = info;
                entry.presence = Presence::Connected {
                    session,
                    awaiting_pong: false,
                };
                entry.pings_missed = 0;
                self.replace_session(old_session, session, &agent_id, out);
                self.send_reregistered(session, &agent_id, out);
            }
            Reregistration::Write(command) => {
                let previous = self.agents.remove(&agent_id);
                let old_session = previous
                    .as_ref()
                    .and_then(|e| connected_session(&e.presence));
                self.replace_session(old_session, session, &agent_id, out);
                let pending = Pending::Readmit {
                    agent_id: agent_id.clone(),
                    session,
                    info: info.clone(),
                    previous: previous.clone(),
                };
                let write = self.propose(pending, command, out);
                self.agents.insert(
                    agent_id,
                    AgentEntry {
                        info,
                        presence: Presence::Writing { write },
                        pings_missed: 0,
                    },
                );
            }
        }
    }

    /// What this leader knows of `agent_id`.
    pub(super) fn known(&self, agent_id: &str) -> Known<'_> {
        if let Some(entry) = self.agents.get(agent_id) {
            return match entry.presence {
                Presence::Writing { .. } => Known::Busy,
                _ => Known::Admitted(&entry.info),
            };
        }
        if self.gone.contains_key(agent_id) {
            return Known::Gone;
        }
        if self.unreachable.contains_key(agent_id) {
            return Known::Unreachable;
        }
        Known::Unknown
    }

    /// Binds `session` to `agent_id`, closing the agent's previous session
    /// (it reconnected before this master saw the old stream end).
    pub(super) fn replace_session(
        &mut self,
        old: Option<SessionId>,
        session: SessionId,
        agent_id: &str,
        out: &mut Vec<Action>,
    ) {
        if let Some(old) = old.filter(|old| *old != session) {
            self.sessions.remove(&old);
            out.push(Action::Close { session: old });
        }
        self.sessions
            .insert(session, SessionUse::Agent(agent_id.to_string()));
    }

    pub(super) fn send_reregistered(
        &self,
        session: SessionId,
        agent_id: &str,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Send {
            session,
            message: master_to_agent::Message::SlaveReregistered(SlaveReregisteredMessage {
                slave_id: agent_id_of(agent_id),
                connection: Some(self.connection()),
            }),
        });
    }

    pub(super) fn admitted(
        &mut self,
        session: SessionId,
        mut info: AgentInfo,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        match outcome {
            WriteOutcome::Applied(Response::AgentAdmitted { agent_id }) => {
                info.id = Some(agent_id_of(&agent_id));
                tracing::info!(agent_id = %agent_id, hostname = %info.hostname, "agent registered");
                let presence = if self.session_open(session) {
                    self.sessions
                        .insert(session, SessionUse::Agent(agent_id.clone()));
                    out.push(Action::Send {
                        session,
                        message: master_to_agent::Message::SlaveRegistered(
                            SlaveRegisteredMessage {
                                slave_id: agent_id_of(&agent_id),
                                connection: Some(self.connection()),
                            },
                        ),
                    });
                    Presence::Connected {
                        session,
                        awaiting_pong: false,
                    }
                } else {
                    Presence::Disconnected { since: now.instant }
                };
                self.agents.insert(
                    agent_id,
                    AgentEntry {
                        info,
                        presence,
                        pings_missed: 0,
                    },
                );
            }
            WriteOutcome::Applied(other) => {
                tracing::error!(?other, "AdmitAgent answered without an agent id");
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
            WriteOutcome::Refused(e) => {
                tracing::warn!(error = %e, "agent registration refused");
                self.sessions.remove(&session);
                Self::shutdown(session, format!("Registration refused: {e}"), out);
            }
            WriteOutcome::Failed { maybe_applied } => {
                // The agent registers again on a new session. If this
                // admission did apply, that id is admitted without an
                // agent: the registry view finds it (see
                // `on_registry_admitted`).
                if maybe_applied {
                    self.admission_doubt_until = Some(now.instant + ADMISSION_DOUBT);
                }
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn readmitted(
        &mut self,
        agent_id: String,
        session: SessionId,
        info: AgentInfo,
        previous: Option<AgentEntry>,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        self.agents.remove(&agent_id);
        match outcome {
            WriteOutcome::Applied(_) => {
                if self.unreachable.remove(&agent_id).is_some() {
                    tracing::info!(agent_id = %agent_id, "unreachable agent re-registered: reachable again");
                } else {
                    tracing::info!(agent_id = %agent_id, "agent re-registered with changed info");
                }
                let presence =
                    if self.sessions.get(&session) == Some(&SessionUse::Agent(agent_id.clone())) {
                        self.send_reregistered(session, &agent_id, out);
                        Presence::Connected {
                            session,
                            awaiting_pong: false,
                        }
                    } else {
                        Presence::Disconnected { since: now.instant }
                    };
                self.agents.insert(
                    agent_id,
                    AgentEntry {
                        info,
                        presence,
                        pings_missed: 0,
                    },
                );
            }
            WriteOutcome::Refused(e) => {
                tracing::warn!(agent_id = %agent_id, error = %e, "agent re-registration refused");
                if let RegistryError::AgentGone { .. } = e {
                    self.gone.entry(agent_id.clone()).or_insert(now.unix_ns);
                } else if let Some(previous) = previous {
                    self.agents.insert(agent_id.clone(), previous);
                }
                self.sessions.remove(&session);
                Self::shutdown(session, format!("Re-registration refused: {e}"), out);
            }
            WriteOutcome::Failed { .. } => {
                if let Some(mut previous) = previous {
                    if connected_session(&previous.presence).is_some() {
                        previous.presence = Presence::Disconnected { since: now.instant };
                    }
                    self.agents.insert(agent_id.clone(), previous);
                }
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
        }
    }

    /// Admitted ids the table does not know came from admissions whose
    /// outcome was unknown and that applied after all: no agent holds
    /// them (the agent registered again under a new id). They are taken
    /// in as disconnected since `now`, so the re-register timeout marks
    /// them unreachable as for any agent that went away, within this term
    /// rather than only after the next failover.
    pub(super) fn on_registry_admitted(&mut self, agents: Vec<AgentInfo>, now: Now) {
        let in_flight: HashSet<&str> = self
            .pending
            .values()
            .filter_map(|p| match p {
                Pending::Readmit { agent_id, .. }
                | Pending::Unreachable { agent_id, .. }
                | Pending::Gone { agent_id, .. }
                | Pending::Remove { agent_id, .. } => Some(agent_id.as_str()),
                Pending::Admit { .. } => None,
            })
            .collect();
        let orphans: Vec<AgentInfo> = agents
            .into_iter()
            .filter(|info| {
                info.id.as_ref().is_some_and(|id| {
                    matches!(self.known(&id.value), Known::Unknown)
                        && !in_flight.contains(id.value.as_str())
                })
            })
            .collect();
        for info in orphans {
            let Some(agent_id) = info.id.as_ref().map(|id| id.value.clone()) else {
                continue;
            };
            tracing::warn!(agent_id = %agent_id, hostname = %info.hostname,
                "an admission answered 'outcome unknown' applied after all; no agent holds this \
                 id, which will be marked unreachable after the re-register timeout");
            self.agents.insert(
                agent_id,
                AgentEntry {
                    info,
                    presence: Presence::Disconnected { since: now.instant },
                    pings_missed: 0,
                },
            );
        }
    }
}
