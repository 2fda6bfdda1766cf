//! The agent's runtime: one task owning the executor table, the status
//! update manager, the containerizer and the executors' event streams.
//! Everything reaches it as an [`Input`] through an [`AgentHandle`]:
//! executor calls (from the HTTP API), master messages and (un)registration
//! (from the session), container exits and timers (from itself). The
//! decisions are the table's and the update manager's; this file carries
//! out what they decide (`effects.rs`), in order, and records
//! checkpointing frameworks' state before acting on it.

mod effects;
pub mod timers;

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mesoraft_proto::agent::{master_to_agent, AgentToMaster};
use mesoraft_proto::mesos::v1::executor::Event as ExecutorEvent;
use mesoraft_proto::mesos::v1::{AgentInfo, ExecutorInfo, FrameworkInfo, Task};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::runtime::{RecoveredExecutor, RecoveredFramework};
use crate::checkpoint::WorkDir;
use crate::executors::call::ExecutorCall;
use crate::executors::containerizer::{ContainerExit, Containerizer};
use crate::executors::model::{ExecutorKey, Refusal, RunKey};
use crate::executors::table::{Stamps, Table};
use crate::procfs;
use crate::updates::manager::UpdateManager;
use timers::Timers;

/// What a re-registration carries besides the agent's info.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reregistration {
    pub tasks: Vec<Task>,
    pub executor_infos: Vec<ExecutorInfo>,
    pub frameworks: Vec<FrameworkInfo>,
}

/// The answer to an executor's call.
#[derive(Debug)]
pub enum CallReply {
    /// `202 Accepted`.
    Accepted,
    /// `200 OK`: the subscription's events.
    Subscribed {
        executor: ExecutorKey,
        connection: u64,
        events: mpsc::UnboundedReceiver<ExecutorEvent>,
    },
}

/// What the driver is told.
#[derive(Debug)]
pub enum Input {
    ExecutorCall {
        call: Box<ExecutorCall>,
        reply: oneshot::Sender<Result<CallReply, Refusal>>,
    },
    /// An executor's event stream ended (the executor hung up).
    StreamClosed {
        executor: ExecutorKey,
        connection: u64,
    },
    /// A master message that is about tasks and executors.
    Master(Box<master_to_agent::Message>),
    /// Registered with a master: send updates through `outbound`.
    MasterConnected {
        outbound: mpsc::Sender<AgentToMaster>,
        agent: Box<AgentInfo>,
    },
    /// No master any more: stop sending.
    MasterLost,
    Reregistration(oneshot::Sender<Reregistration>),
    /// The agent stops: kill the executors of frameworks that do not
    /// checkpoint (the others live on for the next agent run), or every
    /// executor when the agent leaves for good.
    Stop {
        kill_all: bool,
        done: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable way to reach the driver.
#[derive(Clone, Debug)]
pub struct AgentHandle {
    inputs: mpsc::UnboundedSender<Input>,
    counters: std::sync::Arc<crate::metrics::TaskCounters>,
}

impl AgentHandle {
    pub fn send(&self, input: Input) {
        if self.inputs.send(input).is_err() {
            tracing::debug!("the agent's runtime has stopped; input dropped");
        }
    }

    /// An executor's call; `None` if the runtime stopped.
    pub async fn call(&self, call: ExecutorCall) -> Option<Result<CallReply, Refusal>> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::ExecutorCall {
                call: Box::new(call),
                reply,
            })
            .ok()?;
        answer.await.ok()
    }

    /// The runtime's counters (for the metrics endpoints).
    pub fn counters(&self) -> &crate::metrics::TaskCounters {
        &self.counters
    }

    /// What to re-register with (empty if the runtime stopped).
    pub async fn reregistration(&self) -> Reregistration {
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Reregistration(reply)).is_err() {
            return Reregistration::default();
        }
        answer.await.unwrap_or_default()
    }

    /// Stops the runtime (see [`Input::Stop`]).
    pub async fn stop(&self, kill_all: bool) {
        let (done, stopped) = oneshot::channel();
        if self.inputs.send(Input::Stop { kill_all, done }).is_ok() {
            let _ = stopped.await;
        }
    }
}

/// The clock and uuids of a running agent.
struct SystemStamps;

impl Stamps for SystemStamps {
    fn uuid(&mut self) -> Vec<u8> {
        uuid::Uuid::new_v4().as_bytes().to_vec()
    }
    fn unix_secs(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// The runtime's state.
pub struct Driver {
    table: Table,
    updates: UpdateManager,
    containerizer: Containerizer,
    exits: mpsc::UnboundedReceiver<ContainerExit>,
    connections: HashMap<ExecutorKey, (u64, mpsc::UnboundedSender<ExecutorEvent>)>,
    next_connection: u64,
    master: Option<mpsc::Sender<AgentToMaster>>,
    timers: Timers,
    work_dir: WorkDir,
    stamps: SystemStamps,
    counters: std::sync::Arc<crate::metrics::TaskCounters>,
}

/// Why the runtime stopped on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriverFailure(pub String);

impl Driver {
    pub fn new(
        table: Table,
        updates: UpdateManager,
        containerizer: Containerizer,
        exits: mpsc::UnboundedReceiver<ContainerExit>,
        work_dir: WorkDir,
    ) -> Self {
        Driver {
            table,
            updates,
            containerizer,
            exits,
            connections: HashMap::new(),
            next_connection: 1,
            master: None,
            timers: Timers::default(),
            work_dir,
            stamps: SystemStamps,
            counters: Default::default(),
        }
    }

    /// Takes over what a checkpointing framework ran before the agent
    /// restarted: replays the update streams, rebuilds the table, watches
    /// the executors that still run (they subscribe again) and reports the
    /// tasks of those that do not. `rebooted`: the host rebooted since, so
    /// no executor survived.
    pub fn recover(
        &mut self,
        frameworks: Vec<RecoveredFramework>,
        rebooted: bool,
        reregistration_timeout: std::time::Duration,
    ) -> Result<(), DriverFailure> {
        for framework in &frameworks {
            for executor in &framework.executors {
                for task in &executor.tasks {
                    self.updates
                        .replay(executor.run.clone(), task.updates.clone());
                }
            }
        }
        let alive = |e: &RecoveredExecutor| {
            !rebooted
                && e.pid
                    .is_some_and(|pid| procfs::is_running(pid, e.start_time))
        };
        let live: Vec<(RunKey, i32, Option<u64>)> = frameworks
            .iter()
            .flat_map(|f| &f.executors)
            .filter(|e| alive(e))
            .filter_map(|e| Some((e.run.clone(), e.pid?, e.start_time)))
            .collect();
        tracing::info!(
            frameworks = frameworks.len(),
            live_executors = live.len(),
            rebooted,
            "recovering the checkpointed frameworks"
        );
        let actions =
            self.table
                .recover(frameworks, alive, reregistration_timeout, &mut self.stamps);
        for (run, pid, start_time) in live {
            self.containerizer.reattach(run, pid, start_time);
        }
        self.actions(actions)
    }

    /// Starts the runtime; the handle reaches it, the join handle ends
    /// with why it stopped by itself.
    pub fn spawn(
        self,
    ) -> (
        AgentHandle,
        tokio::task::JoinHandle<Result<(), DriverFailure>>,
    ) {
        let (inputs, receiver) = mpsc::unbounded_channel();
        let handle = AgentHandle {
            inputs,
            counters: self.counters.clone(),
        };
        let task = tokio::spawn(self.run(receiver));
        (handle, task)
    }

    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
    ) -> Result<(), DriverFailure> {
        loop {
            let deadline = [self.timers.next_due(), self.updates.next_due()]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                input = inputs.recv() => {
                    let Some(input) = input else { return Ok(()) };
                    if let Input::Stop { kill_all, done } = input {
                        self.stop(kill_all);
                        let _ = done.send(());
                        return Ok(());
                    }
                    self.input(input)?;
                }
                Some(exit) = self.exits.recv() => self.container_exited(exit)?,
                _ = sleep_until(deadline), if deadline.is_some() => self.tick()?,
            }
        }
    }

    fn tick(&mut self) -> Result<(), DriverFailure> {
        let now = Instant::now();
        for timer in self.timers.take_due(now) {
            self.table_event(crate::executors::model::Event::Timer(timer))?;
        }
        let resends = self.updates.tick(now);
        self.update_actions(resends)
    }

    fn input(&mut self, input: Input) -> Result<(), DriverFailure> {
        match input {
            Input::ExecutorCall { call, reply } => {
                let answer = self.executor_call(*call)?;
                let _ = reply.send(answer);
                Ok(())
            }
            Input::StreamClosed {
                executor,
                connection,
            } => {
                if self
                    .connections
                    .get(&executor)
                    .is_some_and(|(c, _)| *c == connection)
                {
                    self.connections.remove(&executor);
                }
                self.table_event(crate::executors::model::Event::Disconnected {
                    executor,
                    connection,
                })
            }
            Input::Master(message) => self.master_message(*message),
            Input::MasterConnected { outbound, agent } => {
                self.table.set_agent(*agent);
                self.master = Some(outbound);
                let forwards = self.updates.resume(Instant::now());
                self.update_actions(forwards)
            }
            Input::MasterLost => {
                self.master = None;
                self.updates.pause();
                Ok(())
            }
            Input::Reregistration(reply) => {
                let (tasks, executor_infos, frameworks) = self.table.reregistration();
                let _ = reply.send(Reregistration {
                    tasks,
                    executor_infos,
                    frameworks,
                });
                Ok(())
            }
            Input::Stop { .. } => Ok(()),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}
