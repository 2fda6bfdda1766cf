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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use mesoraft_proto::agent::{master_to_agent, MasterSlaveConnection, ShutdownMessage};
use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};
use mesoraft_registry::{Command, RegistryError, Response, TimeNs};

use super::policy::{AgentPolicy, RemovalBudget};

mod health;
mod operator;
mod registration;

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
    /// The registry's admitted agents now (the driver passes only those
    /// without an entry here), read while
    /// [`AgentTable::wants_registry_view`] says so.
    RegistryAdmitted {
        agents: Vec<AgentInfo>,
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
    /// An agent left the registered set for good or until it returns
    /// (the registry change is applied): its tasks change state.
    Departed {
        agent_id: String,
        why: Departure,
    },
}

/// Why an agent left (see [`Action::Departed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// Marked unreachable at `since_ns`.
    Unreachable { since_ns: TimeNs },
    /// Marked gone by the operator.
    Gone,
    /// Unregistered itself.
    Removed,
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

/// Agents waiting to be marked unreachable, oldest first, each at most
/// once. The set keeps a failover of tens of thousands of recovered agents
/// from costing a scan of the queue per agent.
#[derive(Default)]
struct RemovalQueue {
    order: VecDeque<String>,
    queued: HashSet<String>,
}

impl RemovalQueue {
    fn push(&mut self, agent_id: &str) {
        if self.queued.insert(agent_id.to_string()) {
            self.order.push_back(agent_id.to_string());
        }
    }

    fn front(&self) -> Option<&String> {
        self.order.front()
    }

    fn pop(&mut self) -> Option<String> {
        let agent_id = self.order.pop_front()?;
        self.queued.remove(&agent_id);
        Some(agent_id)
    }
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
    removals: RemovalQueue,
    budget: RemovalBudget,
    next_ping_round: Instant,
    /// When recovered agents stop waiting; None once decided.
    recovery_deadline: Option<Instant>,
    admitted_at_failover: usize,
    counts: AgentCounts,
    /// Until when an AdmitAgent whose outcome is unknown may still apply
    /// (its entry is in this leader's log and commits whenever a quorum
    /// answers); meanwhile the table compares itself with the registry.
    admission_doubt_until: Option<Instant>,
}

/// How long an admission answered "outcome unknown" is looked for in the
/// registry: a few write timeouts, after which the entry has committed or
/// the term has ended.
pub const ADMISSION_DOUBT: std::time::Duration = std::time::Duration::from_secs(30);

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
            removals: RemovalQueue::default(),
            admitted_at_failover,
            counts: AgentCounts::default(),
            admission_doubt_until: None,
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

    /// The agent a session is registered for, while it is.
    pub fn agent_of_session(&self, session: SessionId) -> Option<&str> {
        match self.sessions.get(&session)? {
            SessionUse::Agent(agent_id) => {
                let entry = self.agents.get(agent_id)?;
                (connected_session(&entry.presence) == Some(session)).then_some(agent_id.as_str())
            }
            SessionUse::Registering | SessionUse::Orphan(_) => None,
        }
    }

    /// The open session of a registered agent.
    pub fn session_of_agent(&self, agent_id: &str) -> Option<SessionId> {
        connected_session(&self.agents.get(agent_id)?.presence)
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

    /// Whether the driver should read the registry's admitted agents
    /// ([`Event::RegistryAdmitted`]): an admission's outcome is in doubt.
    pub fn wants_registry_view(&self, now: Instant) -> bool {
        self.admission_doubt_until.is_some_and(|until| now < until)
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
            Event::RegistryAdmitted { agents } => self.on_registry_admitted(agents, now),
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
            } => self.made_unreachable(agent_id, entry, session, outcome, now, out),
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
}

fn connected_session(presence: &Presence) -> Option<SessionId> {
    match presence {
        Presence::Connected { session, .. } => Some(*session),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
