//! The agent sessions side of the driver: stepping the agent table,
//! carrying out its actions (send, close, propose, answer) and the
//! operator's view of the agents.

use mesoraft_proto::agent::{agent_to_master, master_to_agent, MasterToAgent};
use mesoraft_proto::mesos::v1::{AgentInfo, Resource};
use tokio::sync::mpsc;

use super::{AgentRow, AgentRowState, AgentsView, Shell, WriteOf};
use crate::agents::table::{Action, AgentTable, Event, Presence, SessionId};
use crate::leader::TermContext;

impl Shell {
    /// Steps the agent table with `event` and carries out what follows
    /// for agents, tasks and offers.
    pub(super) fn agent_event(&mut self, event: Event, tick: bool) {
        let now = super::now();
        let mut actions = self.table.step(event, now);
        if tick && self.table.wants_registry_view(now.instant) {
            let agents = registry_admitted_unknown(&self.context, &self.table);
            actions.extend(self.table.step(Event::RegistryAdmitted { agents }, now));
        }
        self.registrations.observe(&actions, now.unix_ns);
        self.follow_agents(&actions);
        self.offer_agents(&actions);
        self.watch_agents(&actions);
        self.run(actions);
        for (agent_id, message) in std::mem::take(&mut self.after_registration) {
            self.send_to_agent(&agent_id, message);
        }
        self.forget_departed_registrations();
    }

    fn run(&mut self, actions: Vec<Action>) {
        let mut pings = Vec::new();
        for action in actions {
            match action {
                Action::Send {
                    session,
                    message: message @ master_to_agent::Message::Ping(_),
                } => pings.push((session, message)),
                Action::Send { session, message } => self.send(session, message),
                Action::Close { session } => {
                    // Dropping the sender ends the response stream after
                    // whatever was queued before.
                    self.sessions.remove(&session);
                }
                Action::Propose { write, command } => self.propose(WriteOf::Agents(write), command),
                Action::Answer { request, answer } => {
                    if let Some(reply) = self.replies.remove(&request) {
                        let _ = reply.send(answer);
                    }
                }
                // Taken by `follow_agents` and `offer_agents` before.
                Action::Departed { .. } => {}
            }
        }
        if !pings.is_empty() {
            for (session, message) in self.ping_spread.round(pings) {
                self.send(session, message);
            }
        }
    }

    pub(super) fn send(&mut self, session: SessionId, message: master_to_agent::Message) {
        let Some(outbound) = self.sessions.get(&session) else {
            return;
        };
        let envelope = MasterToAgent {
            message: Some(message),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = outbound.try_send(Box::new(envelope)) {
            // The agent reads nothing: end its session; it reconnects.
            tracing::warn!(
                session,
                "agent session stuck (outbound queue full); closing it"
            );
            self.sessions.remove(&session);
        }
    }

    /// Sends `message` to the agent's registered session, if it has one
    /// (otherwise the agent learns the truth when it re-registers).
    pub(super) fn send_to_agent(&mut self, agent_id: &str, message: master_to_agent::Message) {
        match self.table.session_of_agent(agent_id) {
            Some(session) => self.send(session, message),
            None => tracing::debug!(
                agent_id = %agent_id,
                "agent has no session; message dropped (it re-registers with the truth)"
            ),
        }
    }

    /// Registrations of agents the table no longer holds (unreachable,
    /// gone, removed) are dropped, in batches so that a step stays cheap.
    fn forget_departed_registrations(&mut self) {
        let agents = self.table.agents();
        if self.registrations.len() > agents.len() + 1024 {
            self.registrations.retain(|id| agents.contains_key(id));
        }
    }

    /// An agent of the table as the views show it.
    pub(super) fn agent_row(
        &self,
        id: &str,
        entry: &crate::agents::table::AgentEntry,
        (allocated, offered): (Vec<Resource>, Vec<Resource>),
    ) -> AgentRow {
        AgentRow {
            registration: self.registrations.get(id).cloned(),
            info: entry.info.clone(),
            allocated,
            offered,
            state: match entry.presence {
                Presence::Connected { .. } => AgentRowState::Active,
                Presence::Disconnected { .. } => AgentRowState::Disconnected,
                Presence::Recovered => AgentRowState::Recovered,
                Presence::Writing { .. } => AgentRowState::Changing,
            },
        }
    }

    pub(super) fn view_with(&self, holdings: &super::views::Holdings) -> AgentsView {
        let agents = self
            .table
            .agents()
            .iter()
            .map(|(id, entry)| self.agent_row(id, entry, holdings.on_agent(id)))
            .collect();
        AgentsView {
            agents,
            unreachable: self
                .table
                .unreachable()
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            gone: self
                .table
                .gone()
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            counts: self.table.counts(),
        }
    }
}

/// The agent table's event for a message from an agent; status updates
/// and executor messages are taken before (tasks, frameworks).
pub(super) fn event_of(session: SessionId, message: agent_to_master::Message) -> Option<Event> {
    use agent_to_master::Message as M;
    match message {
        M::RegisterSlave(m) => Some(Event::Register {
            session,
            info: m.slave,
        }),
        M::ReregisterSlave(m) => Some(Event::Reregister {
            session,
            info: m.slave,
        }),
        M::Pong(_) => Some(Event::Pong { session }),
        M::UnregisterSlave(_) => Some(Event::Unregister { session }),
        M::StatusUpdate(_) | M::ExecutorToFramework(_) => None,
    }
}

/// The registry's admitted agents the table holds no entry for (only
/// those can be orphans; copying every agent's info each tick would cost
/// a copy of the whole agent list while the doubt lasts).
fn registry_admitted_unknown(context: &TermContext, table: &AgentTable) -> Vec<AgentInfo> {
    context.registry.read(|r| {
        r.admitted_agents()
            .iter()
            .filter(|(id, _)| !table.agents().contains_key(id.as_str()))
            .map(|(_, a)| a.info.clone())
            .collect()
    })
}
