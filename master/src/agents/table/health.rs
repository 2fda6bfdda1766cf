//! Health: pongs, broken streams, ping rounds, the re-register deadline
//! after a failover, and marking agents unreachable within the budget.
use mesoraft_proto::agent::{master_to_agent, PingSlaveMessage};
use mesoraft_registry::Command;

use crate::agents::policy::{recovery_verdict, RecoveryVerdict};

use super::*;

impl AgentTable {
    // health

    pub(super) fn on_pong(&mut self, session: SessionId) {
        let Some(SessionUse::Agent(agent_id)) = self.sessions.get(&session) else {
            return;
        };
        if let Some(entry) = self.agents.get_mut(agent_id) {
            if let Presence::Connected {
                session: s,
                awaiting_pong,
            } = &mut entry.presence
            {
                if *s == session {
                    *awaiting_pong = false;
                    entry.pings_missed = 0;
                }
            }
        }
    }

    pub(super) fn on_closed(&mut self, session: SessionId, now: Now) {
        let Some(used) = self.sessions.remove(&session) else {
            return;
        };
        let SessionUse::Agent(agent_id) = used else {
            return;
        };
        if let Some(entry) = self.agents.get_mut(&agent_id) {
            if connected_session(&entry.presence) == Some(session) {
                entry.presence = Presence::Disconnected { since: now.instant };
            }
        }
    }

    pub(super) fn on_tick(&mut self, now: Now, out: &mut Vec<Action>) {
        if now.instant >= self.next_ping_round {
            self.next_ping_round = now.instant + self.policy.ping_timeout;
            self.ping_round(now, out);
        }
        self.check_recovery_deadline(now);
        self.mark_unreachable_within_budget(now, out);
    }

    /// One ping round: an unanswered ping is a miss; too many misses, or a
    /// disconnection longer than the re-register timeout, queue the agent
    /// for marking unreachable.
    pub(super) fn ping_round(&mut self, now: Now, out: &mut Vec<Action>) {
        let max = self.policy.max_ping_timeouts.max(1);
        for (agent_id, entry) in self.agents.iter_mut() {
            let due = match &mut entry.presence {
                Presence::Connected {
                    session,
                    awaiting_pong,
                } => {
                    if *awaiting_pong {
                        entry.pings_missed += 1;
                    }
                    if entry.pings_missed < max {
                        *awaiting_pong = true;
                        out.push(Action::Send {
                            session: *session,
                            message: master_to_agent::Message::Ping(PingSlaveMessage {
                                connected: true,
                            }),
                        });
                    }
                    entry.pings_missed >= max
                }
                Presence::Disconnected { since } => {
                    entry.pings_missed += 1;
                    entry.pings_missed >= max
                        || now.instant.saturating_duration_since(*since)
                            >= self.policy.reregister_timeout
                }
                Presence::Recovered | Presence::Writing { .. } => false,
            };
            if due {
                self.removals.push(agent_id);
            }
        }
        for (session, used) in &self.sessions {
            if let SessionUse::Orphan(_) = used {
                out.push(Action::Send {
                    session: *session,
                    message: master_to_agent::Message::Ping(PingSlaveMessage { connected: false }),
                });
            }
        }
    }

    pub(super) fn check_recovery_deadline(&mut self, now: Now) {
        let Some(deadline) = self.recovery_deadline else {
            return;
        };
        if now.instant < deadline {
            return;
        }
        self.recovery_deadline = None;
        let missing: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, e)| e.presence == Presence::Recovered)
            .map(|(id, _)| id.clone())
            .collect();
        match recovery_verdict(
            missing.len(),
            self.admitted_at_failover,
            self.policy.recovery_removal_limit,
        ) {
            RecoveryVerdict::MarkUnreachable => {
                if !missing.is_empty() {
                    tracing::info!(
                        missing = missing.len(),
                        "re-register timeout: marking the agents that did not come back unreachable"
                    );
                }
                for id in missing {
                    self.removals.push(&id);
                }
            }
            RecoveryVerdict::LimitExceeded { missing, allowed } => {
                self.counts.recovery_removals_refused = missing;
                tracing::error!(
                    missing,
                    allowed,
                    admitted_at_failover = self.admitted_at_failover,
                    "re-register timeout: more agents are missing than --recovery-agent-removal-limit \
                     allows; marking none unreachable. This usually means the masters are cut off \
                     from the agents; check the network. They stay recovered until they re-register."
                );
            }
        }
    }

    pub(super) fn mark_unreachable_within_budget(&mut self, now: Now, out: &mut Vec<Action>) {
        while let Some(agent_id) = self.removals.front().cloned() {
            let still_due = self
                .agents
                .get(&agent_id)
                .is_some_and(|e| match e.presence {
                    Presence::Recovered | Presence::Disconnected { .. } => true,
                    Presence::Connected { .. } => {
                        e.pings_missed >= self.policy.max_ping_timeouts.max(1)
                    }
                    Presence::Writing { .. } => false,
                });
            if !still_due {
                self.removals.pop();
                continue;
            }
            if !self.budget.try_take(now.instant) {
                return;
            }
            self.removals.pop();
            let Some(entry) = self.agents.remove(&agent_id) else {
                continue;
            };
            let session = connected_session(&entry.presence);
            tracing::warn!(agent_id = %agent_id, pings_missed = entry.pings_missed, presence = ?entry.presence, "marking agent unreachable");
            let command = Command::MarkUnreachable {
                agent_id: agent_id_of(&agent_id),
                time_ns: now.unix_ns,
            };
            let pending = Pending::Unreachable {
                agent_id: agent_id.clone(),
                entry: entry.clone(),
                session,
            };
            let write = self.propose(pending, command, out);
            self.agents.insert(
                agent_id,
                AgentEntry {
                    presence: Presence::Writing { write },
                    ..entry
                },
            );
        }
    }

    pub(super) fn made_unreachable(
        &mut self,
        agent_id: String,
        entry: AgentEntry,
        session: Option<SessionId>,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        self.agents.remove(&agent_id);
        match outcome {
            WriteOutcome::Applied(_) => {
                out.push(Action::Departed {
                    agent_id: agent_id.clone(),
                    why: Departure::Unreachable {
                        since_ns: now.unix_ns,
                    },
                });
                self.counts.marked_unreachable += 1;
                if entry.presence == Presence::Recovered {
                    self.counts.recovery_removals += 1;
                }
                self.unreachable.insert(agent_id.clone(), now.unix_ns);
                tracing::warn!(agent_id = %agent_id, "agent marked unreachable");
                if let Some(session) = session.filter(|s| self.session_open(*s)) {
                    self.sessions.insert(session, SessionUse::Orphan(agent_id));
                }
            }
            WriteOutcome::Refused(e) => {
                // Not admitted any more: someone else changed it (the
                // operator marked it gone). Forget it here.
                tracing::warn!(agent_id = %agent_id, error = %e, "could not mark agent unreachable");
            }
            WriteOutcome::Failed { .. } => {
                // Try again at the next tick, from where it was.
                let mut entry = entry;
                if let Some(s) = connected_session(&entry.presence) {
                    if !self.session_open(s) {
                        entry.presence = Presence::Disconnected { since: now.instant };
                    }
                }
                self.removals.push(&agent_id);
                self.agents.insert(agent_id, entry);
            }
        }
    }
}
