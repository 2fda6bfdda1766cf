//! The leading master's driver: one task per leader term that owns the
//! term's tables — agent sessions ([`AgentTable`]), tasks
//! ([`TaskTable`]), frameworks ([`FrameworkTable`]), the allocator and the
//! outstanding offers — turns stream messages, scheduler calls, write
//! outcomes and ticks into their events, and carries out the actions
//! (send, close, propose, answer, offer).
//!
//! One task owns them all, as Mesos's master actor does, because they
//! change together: a task's status update frees resources and goes to
//! its framework; an agent leaving rescinds offers and changes tasks; a
//! framework's removal kills tasks on agents. One owner orders all of it
//! without locks or cross-task races. Each concern's I/O is its own
//! file: `agents`, `tasks`, `frameworks`, `offers`; [`agent_service`] is
//! the gRPC service that hands agent streams to it.
//!
//! When the term ends the driver drops every session's and stream's
//! sender, which ends every agent stream and scheduler stream: agents and
//! frameworks go and find the new leader.

pub mod agent_service;
mod agents;
mod frameworks;
mod hub;
mod offers;
mod tasks;
mod views;
mod watchers;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use mesoraft_proto::agent::{master_to_agent, MasterToAgent};
use mesoraft_proto::mesos::v1::AgentInfo;
use mesoraft_registry::TimeNs;
use tokio::sync::{mpsc, oneshot};

pub(crate) use hub::Input;
pub use hub::{CallRefusal, Hub, NotAttached, OpenedStream, Subscription};
pub use watchers::WATCHER_QUEUE;

use crate::agents::pace::{PingSpread, PING_SLICE};
use crate::agents::policy::AgentPolicy;
use crate::agents::registrations::{Registration, Registrations};
use crate::agents::table::{
    AgentTable, Event, MarkGoneAnswer, Now, RegistryAgents, RequestId, SessionId, WriteOutcome,
};
use crate::allocator::{Allocator, AllocatorConfig};
use crate::frameworks::{FrameworkPolicy, FrameworkTable, RegistryFrameworks};
use crate::leader::{TermContext, WriteFailure};
use crate::scheduler::offers::OfferBook;
use crate::tasks::TaskTable;

/// How old the published agent counts (status, metrics) may be after a
/// change.
const COUNTS_MAX_AGE: Duration = Duration::from_millis(100);
/// How many messages may wait for one agent before it counts as stuck
/// (it reads nothing) and its session is closed.
pub(crate) const OUTBOUND_QUEUE: usize = 256;
/// How many inputs may wait for the driver.
const INPUT_QUEUE: usize = 8192;
/// The share of the ping interval a round of pings is spread over (see
/// `pace`): every agent still answers long before the next round.
const PING_SPREAD_DIVISOR: u32 = 4;
/// How long after an event (an agent joining, resources coming back) the
/// allocation it calls for runs: events of one burst share one round.
const ALLOCATION_BATCH: Duration = Duration::from_millis(5);

/// What waits in an agent's outbound queue. Boxed: a queue allocates its
/// slots 32 at a time and every message it ever held touches its slot,
/// so with the message inline (936 bytes, the largest variant's size)
/// each session would end up holding about 30 KiB of slots, for pings.
pub type Outbound = Box<MasterToAgent>;

/// The agents as the leader sees them, for operator endpoints.
#[derive(Clone, Debug, Default)]
pub struct AgentsView {
    pub agents: Vec<AgentRow>,
    pub unreachable: Vec<(String, TimeNs)>,
    pub gone: Vec<(String, TimeNs)>,
    pub counts: crate::agents::table::AgentCounts,
}

#[derive(Clone, Debug)]
pub struct AgentRow {
    pub info: AgentInfo,
    pub state: AgentRowState,
    /// Its registration with this leader; None while it has not
    /// (re-)registered in this term.
    pub registration: Option<Registration>,
    /// What its non-terminal tasks hold, merged per role.
    pub allocated: Vec<mesoraft_proto::mesos::v1::Resource>,
    /// What its outstanding offers hold, merged per role.
    pub offered: Vec<mesoraft_proto::mesos::v1::Resource>,
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

/// What the driver of every term runs with.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub agents: AgentPolicy,
    pub frameworks: FrameworkPolicy,
    pub allocator: AllocatorConfig,
    /// `--offer-timeout`.
    pub offer_timeout: Option<Duration>,
    /// `--debug-unsafe-forget-unreachable-tasks` (broken on purpose).
    pub forget_unreachable_tasks: bool,
}

/// The driver as a leader-term service.
pub fn term_service(config: DriverConfig, hub: std::sync::Arc<Hub>) -> crate::leader::TermService {
    std::sync::Arc::new(move |context| Box::pin(run_term(context, config.clone(), hub.clone())))
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

/// The registry's lists, as the tables start from them (one read: the
/// lists of one applied state).
fn registry_start(context: &TermContext) -> (RegistryAgents, RegistryFrameworks) {
    context.registry.read(|r| {
        let cluster_id = r.cluster_id().unwrap_or_default().to_string();
        let agents = RegistryAgents {
            cluster_id: cluster_id.clone(),
            admitted: r
                .admitted_agents()
                .values()
                .map(|a| a.info.clone())
                .collect(),
            unreachable: r
                .unreachable_agents()
                .iter()
                .map(|(id, u)| (id.clone(), u.time_ns))
                .collect(),
            gone: r.gone_agents().clone(),
        };
        let frameworks = RegistryFrameworks {
            cluster_id,
            frameworks: r.frameworks().values().cloned().collect(),
            completed: r.completed_frameworks().clone(),
        };
        (agents, frameworks)
    })
}

/// Runs the driver for `context`'s term; returns when the term ends.
pub async fn run_term(context: TermContext, config: DriverConfig, hub: std::sync::Arc<Hub>) {
    let term = context.term;
    let (registry_agents, registry_frameworks) = registry_start(&context);
    tracing::info!(
        term,
        recovered = registry_agents.admitted.len(),
        unreachable = registry_agents.unreachable.len(),
        gone = registry_agents.gone.len(),
        frameworks = registry_frameworks.frameworks.len(),
        reregister_timeout_secs = config.agents.reregister_timeout.as_secs_f64(),
        "leader driver started: every admitted agent and framework is recovered until it returns"
    );
    let mut tick = tokio::time::interval(config.agents.tick_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut framework_tick = tokio::time::interval(config.frameworks.tick_interval);
    framework_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut allocation_tick = tokio::time::interval(config.allocator.allocation_interval);
    allocation_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping_slices = tokio::time::interval(PING_SLICE);
    ping_slices.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping_spread = PingSpread::new(config.agents.ping_timeout / PING_SPREAD_DIVISOR);
    let offer_prefix = format!("{}-{term}", registry_agents.cluster_id);
    let start = now();
    let mut shell = Shell {
        table: AgentTable::recover(config.agents.clone(), registry_agents, start.instant),
        sessions: HashMap::new(),
        session_ips: HashMap::new(),
        writes: FuturesUnordered::new(),
        replies: HashMap::new(),
        next_request: 0,
        context: context.clone(),
        registrations: Registrations::default(),
        ping_spread,
        tasks: TaskTable::default(),
        returning: tasks::ReturningSessions::default(),
        frameworks: FrameworkTable::recover(config.frameworks.clone(), registry_frameworks, start),
        streams: HashMap::new(),
        call_replies: HashMap::new(),
        next_call: 0,
        allocator: Allocator::new(config.allocator.clone()),
        offers: OfferBook::new(offer_prefix),
        offer_timeout: config.offer_timeout,
        forget_unreachable_tasks: config.forget_unreachable_tasks,
        allocation_due: None,
        watchers: Vec::new(),
        after_registration: Vec::new(),
    };
    shell.frameworks_recovered();
    let (tx, mut rx) = mpsc::channel(INPUT_QUEUE);
    hub.attach(term, tx);
    hub.publish(shell.leader_counts());
    let mut last_published = tokio::time::Instant::now();
    let mut counts_stale = false;
    loop {
        let allocation_due = shell.allocation_due;
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
                match write {
                    WriteOf::Agents(write) => Event::Written { write, outcome },
                    WriteOf::Frameworks(write) => {
                        shell.framework_written(write, outcome);
                        continue;
                    }
                }
            }
            _ = tick.tick() => Event::Tick,
            _ = framework_tick.tick() => {
                shell.frameworks_tick();
                continue;
            }
            _ = allocation_tick.tick() => {
                shell.allocation_tick();
                continue;
            }
            _ = tokio::time::sleep_until(allocation_due.unwrap_or_else(tokio::time::Instant::now)),
                if allocation_due.is_some() => {
                shell.allocate();
                continue;
            }
            _ = tokio::time::sleep_until(last_published + COUNTS_MAX_AGE), if counts_stale => {
                hub.publish(shell.leader_counts());
                last_published = tokio::time::Instant::now();
                counts_stale = false;
                continue;
            }
        };
        // Counting walks every agent and task: at most once per COUNTS_MAX_AGE, not
        // once per message (a failover brings one message per agent within
        // seconds), yet soon after a change, not only at the next tick.
        let tick = matches!(event, Event::Tick);
        let publish = tick || last_published.elapsed() >= COUNTS_MAX_AGE;
        shell.agent_event(event, tick);
        if publish {
            hub.publish(shell.leader_counts());
            last_published = tokio::time::Instant::now();
        }
        counts_stale = !publish;
    }
    hub.detach(term);
    tracing::info!(
        term,
        sessions = shell.sessions.len(),
        streams = shell.streams.len(),
        operator_streams = shell.watchers.len(),
        "leadership ended: agent sessions, scheduler and operator streams closed"
    );
}

/// Which table a registry write belongs to.
#[derive(Clone, Copy, Debug)]
enum WriteOf {
    Agents(u64),
    Frameworks(u64),
}

type WriteFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = (WriteOf, WriteOutcome)> + Send>>;

/// The I/O around the tables.
struct Shell {
    table: AgentTable,
    sessions: HashMap<SessionId, mpsc::Sender<Outbound>>,
    /// The address each session comes from (for `Offer.url`).
    session_ips: HashMap<SessionId, std::net::IpAddr>,
    writes: FuturesUnordered<WriteFuture>,
    replies: HashMap<RequestId, oneshot::Sender<MarkGoneAnswer>>,
    next_request: RequestId,
    context: TermContext,
    registrations: Registrations,
    /// The ping round not sent yet.
    ping_spread: PingSpread<(SessionId, master_to_agent::Message)>,
    tasks: TaskTable,
    returning: tasks::ReturningSessions,
    frameworks: FrameworkTable,
    streams: HashMap<crate::frameworks::StreamId, frameworks::SchedulerStream>,
    /// TEARDOWN and UPDATE_FRAMEWORK calls waiting for the registry, with
    /// their framework.
    call_replies:
        HashMap<crate::frameworks::RequestId, (String, oneshot::Sender<Result<(), CallRefusal>>)>,
    next_call: crate::frameworks::RequestId,
    allocator: Allocator,
    offers: OfferBook,
    offer_timeout: Option<Duration>,
    forget_unreachable_tasks: bool,
    /// When the allocation an event called for runs.
    allocation_due: Option<tokio::time::Instant>,
    /// Operator event streams.
    watchers: Vec<watchers::Watcher>,
    /// Messages for agents that must follow the answer to their
    /// (re-)registration, sent once the agent table's actions ran.
    after_registration: Vec<(String, master_to_agent::Message)>,
}

impl Shell {
    /// Runs a registry command through the term's writer; its outcome
    /// comes back tagged `of`.
    fn propose(&mut self, of: WriteOf, command: mesoraft_registry::Command) {
        let writer = self.context.writer.clone();
        self.writes.push(Box::pin(async move {
            (of, outcome_of(writer.write(command).await))
        }));
    }

    /// The agent table's event an input means, if any; the other inputs
    /// are handled here (views, launches, scheduler calls).
    fn input(&mut self, input: Input) -> Option<Event> {
        match input {
            Input::Opened {
                session,
                outbound,
                peer_ip,
            } => {
                self.sessions.insert(session, outbound);
                if let Some(ip) = peer_ip {
                    self.session_ips.insert(session, ip);
                }
                None
            }
            Input::Message { session, message } => {
                if !self.sessions.contains_key(&session) {
                    return None;
                }
                use mesoraft_proto::agent::agent_to_master::Message as M;
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
                    M::ExecutorToFramework(m) => {
                        self.executor_message(session, m);
                        return None;
                    }
                    _ => {}
                }
                agents::event_of(session, message)
            }
            Input::Closed { session } => {
                self.sessions.remove(&session);
                self.session_ips.remove(&session);
                self.returning.remove(&session);
                self.registrations.closed(session);
                self.agent_session_closed(session);
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
                let _ = reply.send(self.agents_view());
                None
            }
            Input::Frameworks { reply } => {
                let _ = reply.send(self.frameworks_view());
                None
            }
            Input::Cluster { reply } => {
                let _ = reply.send(self.cluster_view());
                None
            }
            Input::OperatorSubscribe { events, reply } => {
                self.operator_subscribe(events);
                let _ = reply.send(());
                None
            }
            Input::Launch { launch, reply } => {
                let _ = reply.send(self.launch(*launch));
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
            Input::Subscribe {
                subscription,
                reply,
            } => {
                self.subscribe(*subscription, reply);
                None
            }
            Input::Call {
                framework_id,
                stream_id,
                call,
                reply,
            } => {
                self.scheduler_call(framework_id, &stream_id, *call, reply);
                None
            }
            Input::StreamEnded { stream } => {
                self.stream_ended(stream);
                None
            }
        }
    }

    /// Asks for an allocation soon (events of a burst share it).
    fn allocate_soon(&mut self) {
        if self.allocation_due.is_none() {
            self.allocation_due = Some(tokio::time::Instant::now() + ALLOCATION_BATCH);
        }
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
