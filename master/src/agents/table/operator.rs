//! The operator's MARK_AGENT_GONE and an agent's clean unregistration.
use mesoraft_registry::{Command, RegistryError};

use crate::agents::plan::Known;

use super::*;

impl AgentTable {
    // operator and clean removal

    pub(super) fn on_mark_gone(
        &mut self,
        agent_id: String,
        request: RequestId,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let answer = match self.known(&agent_id) {
            Known::Gone => Some(MarkGoneAnswer::AlreadyGone),
            Known::Unknown => Some(MarkGoneAnswer::Unknown),
            Known::Busy => Some(MarkGoneAnswer::Busy),
            Known::Admitted(_) | Known::Unreachable => None,
        };
        if let Some(answer) = answer {
            out.push(Action::Answer { request, answer });
            return;
        }
        let entry = self.agents.remove(&agent_id);
        let command = Command::MarkGone {
            agent_id: agent_id_of(&agent_id),
            time_ns: now.unix_ns,
        };
        let pending = Pending::Gone {
            agent_id: agent_id.clone(),
            request,
            entry: entry.clone(),
        };
        let write = self.propose(pending, command, out);
        if let Some(entry) = entry {
            self.agents.insert(
                agent_id,
                AgentEntry {
                    presence: Presence::Writing { write },
                    ..entry
                },
            );
        }
    }

    pub(super) fn on_unregister(&mut self, session: SessionId, out: &mut Vec<Action>) {
        let Some(SessionUse::Agent(agent_id)) = self.sessions.get(&session).cloned() else {
            return;
        };
        let Some(entry) = self.agents.get(&agent_id).cloned() else {
            return;
        };
        if connected_session(&entry.presence) != Some(session) {
            return;
        }
        let command = Command::RemoveAgent {
            agent_id: agent_id_of(&agent_id),
        };
        let pending = Pending::Remove {
            agent_id: agent_id.clone(),
            session,
            entry: entry.clone(),
        };
        let write = self.propose(pending, command, out);
        if let Some(e) = self.agents.get_mut(&agent_id) {
            e.presence = Presence::Writing { write };
        }
    }

    pub(super) fn made_gone(
        &mut self,
        agent_id: String,
        request: RequestId,
        entry: Option<AgentEntry>,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        self.agents.remove(&agent_id);
        let answer = match outcome {
            WriteOutcome::Applied(_) => {
                out.push(Action::Departed {
                    agent_id: agent_id.clone(),
                    why: Departure::Gone,
                });
                self.unreachable.remove(&agent_id);
                self.gone.insert(agent_id.clone(), now.unix_ns);
                tracing::warn!(agent_id = %agent_id, "agent marked gone by the operator");
                let sessions: Vec<SessionId> = self
                    .sessions
                    .iter()
                    .filter(|(_, used)| match used {
                        SessionUse::Agent(id) | SessionUse::Orphan(id) => *id == agent_id,
                        SessionUse::Registering => false,
                    })
                    .map(|(s, _)| *s)
                    .collect();
                for session in sessions {
                    self.sessions.remove(&session);
                    Self::shutdown(session, "Agent has been marked gone".into(), out);
                }
                MarkGoneAnswer::Done
            }
            WriteOutcome::Refused(RegistryError::AgentGone { .. }) => {
                self.gone.entry(agent_id.clone()).or_insert(now.unix_ns);
                MarkGoneAnswer::AlreadyGone
            }
            WriteOutcome::Refused(_) => {
                if let Some(entry) = entry {
                    self.agents.insert(agent_id, entry);
                }
                MarkGoneAnswer::Unknown
            }
            WriteOutcome::Failed { maybe_applied } => {
                if let Some(entry) = entry {
                    self.agents.insert(agent_id, entry);
                }
                if maybe_applied {
                    MarkGoneAnswer::OutcomeUnknown
                } else {
                    MarkGoneAnswer::Busy
                }
            }
        };
        out.push(Action::Answer { request, answer });
    }

    pub(super) fn removed(
        &mut self,
        agent_id: String,
        session: SessionId,
        entry: AgentEntry,
        outcome: WriteOutcome,
        out: &mut Vec<Action>,
    ) {
        self.agents.remove(&agent_id);
        match outcome {
            WriteOutcome::Applied(_) => {
                out.push(Action::Departed {
                    agent_id: agent_id.clone(),
                    why: Departure::Removed,
                });
                tracing::info!(agent_id = %agent_id, "agent unregistered");
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
            WriteOutcome::Refused(_) | WriteOutcome::Failed { .. } => {
                self.agents.insert(agent_id, entry);
            }
        }
    }
}
