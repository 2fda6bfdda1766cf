//! The leader-term task that runs the agent session table: it owns the
//! [`AgentTable`], turns stream messages, write outcomes and ticks into
//! events, and carries out the actions (send, close, propose, answer).
//! When the term ends it drops every session's sender, which ends every
//! agent stream: the agents go and find the new leader. It also owns the
//! term's task table (`tasks`).

mod tasks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use mesoraft_proto::agent::{agent_to_master, master_to_agent, MasterToAgent};
use mesoraft_proto::mesos::v1::AgentInfo;
use mesoraft_registry::TimeNs;
use tokio::sync::{mpsc, oneshot};

use super::pace::{PingSpread, PING_SLICE};
use super::policy::AgentPolicy;
use super::registrations::{Registration, Registrations};
use super::table::{
    Action, AgentCounts, AgentTable, Event, MarkGoneAnswer, Now, Presence, RegistryAgents,
    RequestId, SessionId, WriteOutcome,
};
use crate::leader::{TermContext, WriteFailure};
use crate::tasks::launch::{KillError, Launch, LaunchError};
use crate::tasks::{TaskTable, TasksView};

/// How old the published agent counts (status, metrics) may be after a
/// change.
const COUNTS_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(100);
/// How many messages may wait for one agent before it counts as stuck
/// (it reads nothing) and its session is closed.
pub(crate) const OUTBOUND_QUEUE: usize = 256;
/// How many inputs may wait for the table.
const INPUT_QUEUE: usize = 8192;
/// The share of the ping interval a round of pings is spread over (see
/// `pace`): every agent still answers long before the next round.
const PING_SPREAD_DIVISOR: u32 = 4;

/// What waits in an agent's outbound queue. Boxed: a queue allocates its
/// slots 32 at a time and every message it ever held touches its slot,
/// so with the message inline (936 bytes, the largest variant's size)
/// each session would end up holding about 30 KiB of slots, for pings.
pub type Outbound = Box<MasterToAgent>;

/// What reaches the table's task. (Moved, never copied: the size of the
/// message variant costs nothing.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Input {
    Opened {
        session: SessionId,
        outbound: mpsc::Sender<Outbound>,
    },
    Message {
        session: SessionId,
        message: agent_to_master::Message,
    },
    Closed {
        session: SessionId,
    },
    MarkGone {
        agent_id: String,
        reply: oneshot::Sender<MarkGoneAnswer>,
    },
    View {
        reply: oneshot::Sender<AgentsView>,
    },
    Launch {
        launch: Box<Launch>,
        reply: oneshot::Sender<Result<(), LaunchError>>,
    },
    Kill {
        framework_id: String,
        task_id: String,
        reply: oneshot::Sender<Result<(), KillError>>,
    },
    Tasks {
        reply: oneshot::Sender<TasksView>,
    },
}

/// The agents as the leader sees them, for operator endpoints.
#[derive(Clone, Debug, Default)]
pub struct AgentsView {
    pub agents: Vec<AgentRow>,
    pub unreachable: Vec<(String, TimeNs)>,
    pub gone: Vec<(String, TimeNs)>,
    pub counts: AgentCounts,
}

#[derive(Clone, Debug)]
pub struct AgentRow {
    pub info: AgentInfo,
    pub state: AgentRowState,
    /// Its registration with this leader; None while it has not
    /// (re-)registered in this term.
    pub registration: Option<Registration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentRowState {
    /// Registered over an open session.
    Active,
    /// Its session broke; not unreachable yet.
    Disconnected,
    /// Admitted before this term and not back yet.
    Recovered,
    /// A registry change about it is being written.
    Changing,
}

/// Where sessions and operator calls find the current term's table. One
/// per master; attached while this master leads.
#[derive(Default)]
pub struct AgentHub {
    inner: Mutex<Option<(u64, mpsc::Sender<Input>)>>,
    next_session: AtomicU64,
    /// The counts of the last step, for status and metrics (None while
    /// not leading).
    counts: Mutex<Option<AgentCounts>>,
}

/// Why the hub cannot take a session or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAttached;

impl AgentHub {
    pub(crate) fn sender(&self) -> Result<mpsc::Sender<Input>, NotAttached> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.as_ref().map(|(_, tx)| tx.clone()).ok_or(NotAttached)
    }

    pub(crate) fn new_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn counts(&self) -> Option<AgentCounts> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn attach(&self, term: u64, tx: mpsc::Sender<Input>) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some((term, tx));
    }

    fn detach(&self, term: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.as_ref().is_some_and(|(t, _)| *t == term) {
            *inner = None;
            *self.counts.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    fn publish(&self, counts: AgentCounts) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()) = Some(counts);
    }

    /// Sends the input `make` builds around a reply channel and waits for
    /// the answer: every call into the term's table goes this way.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, NotAttached> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(make(reply))
            .await
            .map_err(|_| NotAttached)?;
        answer.await.map_err(|_| NotAttached)
    }

    /// MARK_AGENT_GONE through the table (every agent command of a term
    /// comes from it).
    pub async fn mark_gone(&self, agent_id: String) -> Result<MarkGoneAnswer, NotAttached> {
        self.ask(|reply| Input::MarkGone { agent_id, reply }).await
    }

    /// Sends a task or a task group to its agent (the internal launch
    /// path; offers come with frameworks).
    pub async fn launch(&self, launch: Launch) -> Result<Result<(), LaunchError>, NotAttached> {
        self.ask(|reply| Input::Launch {
            launch: Box::new(launch),
            reply,
        })
        .await
    }

    pub async fn kill(
        &self,
        framework_id: String,
        task_id: String,
    ) -> Result<Result<(), KillError>, NotAttached> {
        self.ask(|reply| Input::Kill {
            framework_id,
            task_id,
            reply,
        })
        .await
    }

    pub async fn tasks(&self) -> Result<TasksView, NotAttached> {
        self.ask(|reply| Input::Tasks { reply }).await
    }

    pub async fn view(&self) -> Result<AgentsView, NotAttached> {
        self.ask(|reply| Input::View { reply }).await
    }
}

fn now() -> Now {
    let unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Now {
        instant: Instant::now(),
        unix_ns,
    }
}

fn admitted_infos(registry: &mesoraft_registry::Registry) -> Vec<AgentInfo> {
    registry
        .admitted_agents()
        .values()
        .map(|a| a.info.clone())
        .collect()
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

/// The registry's agent lists, as the table starts from them (one read:
/// the lists of one applied state).
fn registry_agents(context: &TermContext) -> RegistryAgents {
    context.registry.read(|r| RegistryAgents {
        cluster_id: r.cluster_id().unwrap_or_default().to_string(),
        admitted: admitted_infos(r),
        unreachable: r
            .unreachable_agents()
            .iter()
            .map(|(id, u)| (id.clone(), u.time_ns))
            .collect(),
        gone: r.gone_agents().clone(),
    })
}

/// Runs the table for `context`'s term; returns when the term ends.
pub async fn run_term(context: TermContext, policy: AgentPolicy, hub: std::sync::Arc<AgentHub>) {
    let term = context.term;
    let registry = registry_agents(&context);
    tracing::info!(
        term,
        recovered = registry.admitted.len(),
        unreachable = registry.unreachable.len(),
        gone = registry.gone.len(),
        reregister_timeout_secs = policy.reregister_timeout.as_secs_f64(),
        "agent sessions open: every admitted agent is recovered until it re-registers"
    );
    let mut tick = tokio::time::interval(policy.tick_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping_slices = tokio::time::interval(PING_SLICE);
    ping_slices.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping_spread = PingSpread::new(policy.ping_timeout / PING_SPREAD_DIVISOR);
    let mut shell = Shell {
        table: AgentTable::recover(policy, registry, Instant::now()),
        sessions: HashMap::new(),
        writes: FuturesUnordered::new(),
        replies: HashMap::new(),
        next_request: 0,
        context: context.clone(),
        registrations: Registrations::default(),
        ping_spread,
        tasks: TaskTable::default(),
        returning: tasks::ReturningSessions::default(),
    };
    let (tx, mut rx) = mpsc::channel(INPUT_QUEUE);
    hub.attach(term, tx);
    hub.publish(shell.table.counts());
    let mut last_published = tokio::time::Instant::now();
    let mut counts_stale = false;
    loop {
        let event = tokio::select! {
            _ = context.cancel.cancelled() => break,
            _ = ping_slices.tick(), if !shell.ping_spread.is_empty() => {
                for (session, message) in shell.ping_spread.next_slice() {
                    shell.send(session, message);
                }
                continue;
            }
            Some(input) = rx.recv() => match shell.input(input) {
                Some(event) => event,
                None => continue,
            },
            Some((write, outcome)) = shell.writes.next(), if !shell.writes.is_empty() => {
                Event::Written { write, outcome }
            }
            _ = tick.tick() => Event::Tick,
            _ = tokio::time::sleep_until(last_published + COUNTS_MAX_AGE), if counts_stale => {
                hub.publish(shell.table.counts());
                last_published = tokio::time::Instant::now();
                counts_stale = false;
                continue;
            }
        };
        // Counting walks every agent: at most once per COUNTS_MAX_AGE, not
        // once per message (a failover brings one message per agent within
        // seconds), yet soon after a change, not only at the next tick.
        let tick = matches!(event, Event::Tick);
        let publish = tick || last_published.elapsed() >= COUNTS_MAX_AGE;
        let now = now();
        let mut actions = shell.table.step(event, now);
        if tick && shell.table.wants_registry_view(now.instant) {
            let agents = registry_admitted_unknown(&context, &shell.table);
            actions.extend(shell.table.step(Event::RegistryAdmitted { agents }, now));
        }
        shell.registrations.observe(&actions, now.unix_ns);
        shell.follow_agents(&actions);
        shell.run(actions);
        shell.forget_departed_registrations();
        if publish {
            hub.publish(shell.table.counts());
            last_published = tokio::time::Instant::now();
        }
        counts_stale = !publish;
    }
    hub.detach(term);
    tracing::info!(
        term,
        sessions = shell.sessions.len(),
        "leadership ended: agent sessions closed"
    );
}

type WriteFuture = std::pin::Pin<Box<dyn std::future::Future<Output = (u64, WriteOutcome)> + Send>>;

/// The I/O around the table.
struct Shell {
    table: AgentTable,
    sessions: HashMap<SessionId, mpsc::Sender<Outbound>>,
    writes: FuturesUnordered<WriteFuture>,
    replies: HashMap<RequestId, oneshot::Sender<MarkGoneAnswer>>,
    next_request: RequestId,
    context: TermContext,
    registrations: Registrations,
    /// The ping round not sent yet.
    ping_spread: PingSpread<(SessionId, master_to_agent::Message)>,
    tasks: TaskTable,
    returning: tasks::ReturningSessions,
}

impl Shell {
    /// The event an input means, if any (views are answered directly).
    fn input(&mut self, input: Input) -> Option<Event> {
        match input {
            Input::Opened { session, outbound } => {
                self.sessions.insert(session, outbound);
                None
            }
            Input::Message { session, message } => {
                if !self.sessions.contains_key(&session) {
                    return None;
                }
                use agent_to_master::Message as M;
                match message {
                    M::RegisterSlave(ref m) => {
                        self.registrations.announced(session, m.version.clone())
                    }
                    M::ReregisterSlave(ref m) => {
                        self.registrations.announced(session, m.version.clone());
                        self.remember_returning(session, m);
                    }
                    M::StatusUpdate(m) => {
                        self.status_update(session, m);
                        return None;
                    }
                    _ => {}
                }
                event_of(session, message)
            }
            Input::Closed { session } => {
                self.sessions.remove(&session);
                self.returning.remove(&session);
                self.registrations.closed(session);
                Some(Event::Closed { session })
            }
            Input::MarkGone { agent_id, reply } => {
                self.next_request += 1;
                self.replies.insert(self.next_request, reply);
                Some(Event::MarkGone {
                    agent_id,
                    request: self.next_request,
                })
            }
            Input::View { reply } => {
                let _ = reply.send(self.view());
                None
            }
            Input::Launch { launch, reply } => {
                let registered = self.table.session_of_agent(launch.agent_id()).is_some();
                let result = match *launch {
                    Launch::Task { framework, task } => {
                        self.tasks.launch(framework, task, registered)
                    }
                    Launch::Group {
                        framework,
                        executor,
                        task_group,
                    } => self
                        .tasks
                        .launch_group(framework, executor, task_group, registered),
                };
                let _ = reply.send(result.map(|actions| self.run_tasks(actions)));
                None
            }
            Input::Kill {
                framework_id,
                task_id,
                reply,
            } => {
                let result = self.tasks.kill(&framework_id, &task_id);
                let _ = reply.send(result.map(|actions| self.run_tasks(actions)));
                None
            }
            Input::Tasks { reply } => {
                let _ = reply.send(self.tasks.view());
                None
            }
        }
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
                Action::Propose { write, command } => {
                    let writer = self.context.writer.clone();
                    self.writes.push(Box::pin(async move {
                        (write, outcome_of(writer.write(command).await))
                    }));
                }
                Action::Answer { request, answer } => {
                    if let Some(reply) = self.replies.remove(&request) {
                        let _ = reply.send(answer);
                    }
                }
                // Taken by `follow_agents` before.
                Action::Departed { .. } => {}
            }
        }
        if !pings.is_empty() {
            for (session, message) in self.ping_spread.round(pings) {
                self.send(session, message);
            }
        }
    }

    fn send(
        &mut self,
        session: SessionId,
        message: mesoraft_proto::agent::master_to_agent::Message,
    ) {
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

    /// Registrations of agents the table no longer holds (unreachable,
    /// gone, removed) are dropped, in batches so that a step stays cheap.
    fn forget_departed_registrations(&mut self) {
        let agents = self.table.agents();
        if self.registrations.len() > agents.len() + 1024 {
            self.registrations.retain(|id| agents.contains_key(id));
        }
    }

    fn view(&self) -> AgentsView {
        let agents = self
            .table
            .agents()
            .iter()
            .map(|(id, entry)| AgentRow {
                registration: self.registrations.get(id).cloned(),
                info: entry.info.clone(),
                state: match entry.presence {
                    Presence::Connected { .. } => AgentRowState::Active,
                    Presence::Disconnected { .. } => AgentRowState::Disconnected,
                    Presence::Recovered => AgentRowState::Recovered,
                    Presence::Writing { .. } => AgentRowState::Changing,
                },
            })
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

/// The table's event for a message from an agent; status updates go to
/// the task table before; executor messages wait for frameworks.
fn event_of(session: SessionId, message: agent_to_master::Message) -> Option<Event> {
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

fn outcome_of(result: Result<mesoraft_registry::CommandResult, WriteFailure>) -> WriteOutcome {
    match result {
        Ok(Ok(response)) => WriteOutcome::Applied(response),
        Ok(Err(refused)) | Err(WriteFailure::Refused(refused)) => WriteOutcome::Refused(refused),
        Err(WriteFailure::NotLeader(_)) => WriteOutcome::Failed {
            maybe_applied: false,
        },
        Err(WriteFailure::OutcomeUnknown(_)) => WriteOutcome::Failed {
            maybe_applied: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_message_takes_a_pointer_in_its_queue() {
        // A queue's block of 32 slots per session: 256 bytes, not 30 KiB.
        assert_eq!(
            std::mem::size_of::<Outbound>(),
            std::mem::size_of::<usize>()
        );
    }
}
