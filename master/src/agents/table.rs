//! The leader's agent sessions as a pure state machine: `step(event, now)`
//! returns the actions to take (messages to send, sessions to close,
//! registry commands to propose, operator answers). It reads no clock and
//! touches no socket; the driver (`driver.rs`) does both.
//!
//! One table lives for one leader term. It starts from the registry: every
//! admitted agent is *recovered* (SPEC 2), the unreachable and gone lists
//! are kept as mirrors. Every agent command the leader proposes comes from
//! here, so the mirrors stay exact for the term.
//!
//! An agent is in exactly one presence at a time:
//! - `Recovered`: admitted before this term, not back yet;
//! - `Connected`: a session is open and registered;
//! - `Disconnected`: its session broke; it has the re-register timeout
//!   (and its remaining ping budget) to come back;
//! - `Writing`: a registry command about it is in flight; other changes
//!   wait for its outcome.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use mesoraft_proto::agent::{
    master_to_agent, MasterSlaveConnection, PingSlaveMessage, ShutdownMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage,
};
use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};
use mesoraft_registry::{Command, RegistryError, Response, TimeNs};

use super::plan::{reregistration, Known, Reregistration};
use super::policy::{recovery_verdict, AgentPolicy, RecoveryVerdict, RemovalBudget};

/// One stream from one agent process, numbered by the driver.
pub type SessionId = u64;
/// One registry command in flight, numbered by the table.
pub type WriteId = u64;
/// One operator request waiting for its answer, numbered by the driver.
pub type RequestId = u64;

/// The clock readings a step may use: the monotonic one for timers, the
/// wall clock (Unix ns) for times written to the registry.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub instant: Instant,
    pub unix_ns: TimeNs,
}

/// What happened.
#[derive(Debug)]
pub enum Event {
    /// RegisterSlave: a new agent.
    Register {
        session: SessionId,
        info: AgentInfo,
    },
    /// ReregisterSlave: an agent with an id (its info wins).
    Reregister {
        session: SessionId,
        info: AgentInfo,
    },
    Pong {
        session: SessionId,
    },
    /// The stream ended (either side, any reason).
    Closed {
        session: SessionId,
    },
    /// UnregisterSlave: the agent leaves for good.
    Unregister {
        session: SessionId,
    },
    /// The outcome of a proposed command.
    Written {
        write: WriteId,
        outcome: WriteOutcome,
    },
    /// Time passed (see [`AgentPolicy::tick_interval`]).
    Tick,
    /// Operator MARK_AGENT_GONE.
    MarkGone {
        agent_id: String,
        request: RequestId,
    },
}

/// How a proposed command ended.
#[derive(Clone, Debug)]
pub enum WriteOutcome {
    Applied(Response),
    /// Committed and refused by the registry, or refused before it.
    Refused(RegistryError),
    /// Not applied, or maybe applied (`maybe_applied`): the leader lost
    /// its term or the write timed out.
    Failed {
        maybe_applied: bool,
    },
}

/// What to do.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once, moved to the driver
pub enum Action {
    Send {
        session: SessionId,
        message: master_to_agent::Message,
    },
    /// End the stream (after anything sent before).
    Close {
        session: SessionId,
    },
    Propose {
        write: WriteId,
        command: Command,
    },
    /// The answer to an operator request.
    Answer {
        request: RequestId,
        answer: MarkGoneAnswer,
    },
}

/// The outcome of MARK_AGENT_GONE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkGoneAnswer {
    Done,
    /// Already gone: nothing to do (the call succeeds).
    AlreadyGone,
    /// No agent has this id (or it was pruned).
    Unknown,
    /// Another change to this agent is being written; try again.
    Busy,
    /// The write may or may not have taken effect.
    OutcomeUnknown,
}

/// Where an agent is, from this leader's point of view.
#[derive(Clone, Debug, PartialEq)]
pub enum Presence {
    Recovered,
    Connected {
        session: SessionId,
        /// A ping of the last round was not answered yet.
        awaiting_pong: bool,
    },
    Disconnected {
        since: Instant,
    },
    Writing {
        write: WriteId,
    },
}

#[derive(Clone, Debug)]
pub struct AgentEntry {
    pub info: AgentInfo,
    pub presence: Presence,
    pub pings_missed: u32,
}

/// A registry command in flight and what its outcome means.
#[derive(Clone, Debug)]
enum Pending {
    /// AdmitAgent for a registering session.
    Admit { session: SessionId, info: AgentInfo },
    /// UpdateAgent or MarkReachable for a re-registering session.
    Readmit {
        agent_id: String,
        session: SessionId,
        info: AgentInfo,
        previous: Option<AgentEntry>,
    },
    /// MarkUnreachable after missed pings or the re-register timeout.
    Unreachable {
        agent_id: String,
        entry: AgentEntry,
        session: Option<SessionId>,
    },
    Gone {
        agent_id: String,
        request: RequestId,
        entry: Option<AgentEntry>,
    },
    Remove {
        agent_id: String,
        session: SessionId,
        entry: AgentEntry,
    },
}

/// What a session is used for.
#[derive(Clone, Debug, PartialEq)]
enum SessionUse {
    /// AdmitAgent is being written for it.
    Registering,
    /// Bound to a registered agent (or one being re-admitted).
    Agent(String),
    /// Its agent is unreachable but the stream is still open: pinged with
    /// `connected = false` so that it re-registers when it can.
    Orphan(String),
}

/// Counts for `raftctl status`, metrics and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentCounts {
    pub registered: usize,
    pub recovered: usize,
    pub disconnected: usize,
    pub unreachable: usize,
    pub gone: usize,
    /// Recovered agents the recovery removal limit kept from being marked
    /// unreachable (0 unless it was exceeded).
    pub recovery_removals_refused: usize,
    /// Agents marked unreachable in this term.
    pub marked_unreachable: u64,
    /// Of those, the recovered agents that never came back after the
    /// failover (Mesos's `master/recovery_slave_removals`).
    pub recovery_removals: u64,
}

/// The registry's agent lists when the term began.
#[derive(Clone, Debug, Default)]
pub struct RegistryAgents {
    pub cluster_id: String,
    pub admitted: Vec<AgentInfo>,
    pub unreachable: BTreeMap<String, TimeNs>,
    pub gone: BTreeMap<String, TimeNs>,
}

pub struct AgentTable {
    policy: AgentPolicy,
    cluster_id: String,
    agents: BTreeMap<String, AgentEntry>,
    unreachable: BTreeMap<String, TimeNs>,
    gone: BTreeMap<String, TimeNs>,
    sessions: HashMap<SessionId, SessionUse>,
    pending: HashMap<WriteId, Pending>,
    next_write: WriteId,
    /// Agents to mark unreachable, oldest first, as the budget allows.
    removals: VecDeque<String>,
    budget: RemovalBudget,
    next_ping_round: Instant,
    /// When recovered agents stop waiting; None once decided.
    recovery_deadline: Option<Instant>,
    admitted_at_failover: usize,
    counts: AgentCounts,
}

fn agent_id_of(id: &str) -> AgentId {
    AgentId {
        value: id.to_string(),
    }
}

impl AgentTable {
    /// The table of a new term: every admitted agent recovered.
    pub fn recover(policy: AgentPolicy, registry: RegistryAgents, now: Instant) -> Self {
        let agents: BTreeMap<String, AgentEntry> = registry
            .admitted
            .into_iter()
            .filter_map(|info| {
                let id = info.id.as_ref()?.value.clone();
                let entry = AgentEntry {
                    info,
                    presence: Presence::Recovered,
                    pings_missed: 0,
                };
                Some((id, entry))
            })
            .collect();
        let admitted_at_failover = agents.len();
        Self {
            budget: RemovalBudget::new(policy.removal_rate, now),
            next_ping_round: now + policy.ping_timeout,
            recovery_deadline: (admitted_at_failover > 0).then(|| now + policy.reregister_timeout),
            policy,
            cluster_id: registry.cluster_id,
            agents,
            unreachable: registry.unreachable,
            gone: registry.gone,
            sessions: HashMap::new(),
            pending: HashMap::new(),
            next_write: 1,
            removals: VecDeque::new(),
            admitted_at_failover,
            counts: AgentCounts::default(),
        }
    }

    pub fn policy(&self) -> &AgentPolicy {
        &self.policy
    }

    pub fn agents(&self) -> &BTreeMap<String, AgentEntry> {
        &self.agents
    }

    pub fn unreachable(&self) -> &BTreeMap<String, TimeNs> {
        &self.unreachable
    }

    pub fn gone(&self) -> &BTreeMap<String, TimeNs> {
        &self.gone
    }

    pub fn counts(&self) -> AgentCounts {
        let mut counts = self.counts.clone();
        counts.registered = 0;
        counts.recovered = 0;
        counts.disconnected = 0;
        for entry in self.agents.values() {
            match entry.presence {
                Presence::Connected { .. } => counts.registered += 1,
                Presence::Recovered => counts.recovered += 1,
                Presence::Disconnected { .. } => counts.disconnected += 1,
                Presence::Writing { .. } => {}
            }
        }
        counts.unreachable = self.unreachable.len();
        counts.gone = self.gone.len();
        counts
    }

    /// The one entry point: what `event` at `now` requires.
    pub fn step(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Register { session, info } => self.on_register(session, info, &mut out),
            Event::Reregister { session, info } => self.on_reregister(session, info, &mut out),
            Event::Pong { session } => self.on_pong(session),
            Event::Closed { session } => self.on_closed(session, now),
            Event::Unregister { session } => self.on_unregister(session, &mut out),
            Event::Written { write, outcome } => self.on_written(write, outcome, now, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::MarkGone { agent_id, request } => {
                self.on_mark_gone(agent_id, request, now, &mut out)
            }
        }
        out
    }

    fn propose(&mut self, pending: Pending, command: Command, out: &mut Vec<Action>) -> WriteId {
        let write = self.next_write;
        self.next_write += 1;
        self.pending.insert(write, pending);
        out.push(Action::Propose { write, command });
        write
    }

    fn connection(&self) -> MasterSlaveConnection {
        MasterSlaveConnection {
            total_ping_timeout_seconds: Some(self.policy.total_ping_timeout().as_secs_f64()),
        }
    }

    fn shutdown(session: SessionId, message: String, out: &mut Vec<Action>) {
        out.push(Action::Send {
            session,
            message: master_to_agent::Message::Shutdown(ShutdownMessage {
                message: Some(message),
            }),
        });
        out.push(Action::Close { session });
    }

    // --- registration -------------------------------------------------

    fn on_register(&mut self, session: SessionId, mut info: AgentInfo, out: &mut Vec<Action>) {
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

    fn on_reregister(&mut self, session: SessionId, info: AgentInfo, out: &mut Vec<Action>) {
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
    fn known(&self, agent_id: &str) -> Known<'_> {
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
    fn replace_session(
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

    fn send_reregistered(&self, session: SessionId, agent_id: &str, out: &mut Vec<Action>) {
        out.push(Action::Send {
            session,
            message: master_to_agent::Message::SlaveReregistered(SlaveReregisteredMessage {
                slave_id: agent_id_of(agent_id),
                connection: Some(self.connection()),
            }),
        });
    }

    // --- health ---------------------------------------------------------

    fn on_pong(&mut self, session: SessionId) {
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

    fn on_closed(&mut self, session: SessionId, now: Now) {
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

    fn on_tick(&mut self, now: Now, out: &mut Vec<Action>) {
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
    fn ping_round(&mut self, now: Now, out: &mut Vec<Action>) {
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
            if due && !self.removals.contains(agent_id) {
                self.removals.push_back(agent_id.clone());
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

    fn check_recovery_deadline(&mut self, now: Now) {
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
                    if !self.removals.contains(&id) {
                        self.removals.push_back(id);
                    }
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

    fn mark_unreachable_within_budget(&mut self, now: Now, out: &mut Vec<Action>) {
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
                self.removals.pop_front();
                continue;
            }
            if !self.budget.try_take(now.instant) {
                return;
            }
            self.removals.pop_front();
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

    // --- operator and clean removal --------------------------------------

    fn on_mark_gone(
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

    fn on_unregister(&mut self, session: SessionId, out: &mut Vec<Action>) {
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

    // --- outcomes ---------------------------------------------------------

    fn on_written(
        &mut self,
        write: WriteId,
        outcome: WriteOutcome,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(pending) = self.pending.remove(&write) else {
            return;
        };
        match pending {
            Pending::Admit { session, info } => self.admitted(session, info, outcome, now, out),
            Pending::Readmit {
                agent_id,
                session,
                info,
                previous,
            } => self.readmitted(agent_id, session, info, previous, outcome, now, out),
            Pending::Unreachable {
                agent_id,
                entry,
                session,
            } => self.made_unreachable(agent_id, entry, session, outcome, now),
            Pending::Gone {
                agent_id,
                request,
                entry,
            } => self.made_gone(agent_id, request, entry, outcome, now, out),
            Pending::Remove {
                agent_id,
                session,
                entry,
            } => self.removed(agent_id, session, entry, outcome, out),
        }
    }

    fn session_open(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    fn admitted(
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
            WriteOutcome::Failed { .. } => {
                // The agent registers again on a new session. (If this
                // admission did apply, that id stays admitted without an
                // agent; the next failover's re-register timeout marks it
                // unreachable.)
                self.sessions.remove(&session);
                out.push(Action::Close { session });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn readmitted(
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

    fn made_unreachable(
        &mut self,
        agent_id: String,
        entry: AgentEntry,
        session: Option<SessionId>,
        outcome: WriteOutcome,
        now: Now,
    ) {
        self.agents.remove(&agent_id);
        match outcome {
            WriteOutcome::Applied(_) => {
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
                self.removals.push_back(agent_id.clone());
                self.agents.insert(agent_id, entry);
            }
        }
    }

    fn made_gone(
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

    fn removed(
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

fn connected_session(presence: &Presence) -> Option<SessionId> {
    match presence {
        Presence::Connected { session, .. } => Some(*session),
        _ => None,
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
