//! `mesoraft execute`: runs a shell command as N tasks through the
//! scheduler library, like Mesos's `mesos-execute`. It takes offers,
//! launches the tasks (declining what it does not need, and suppressing
//! offers once all are launched), prints every state change on stderr,
//! streams the tasks' stdout and stderr from their sandboxes, tears the
//! framework down at the end, and exits with the tasks' status.
//!
//! The decisions are [`plan`]'s (pure); this is the loop around them.

pub mod args;
pub mod output;
pub mod plan;

use std::collections::BTreeMap;
use std::time::Duration;

use mesoraft_proto::mesos::v1::{TaskState, TaskStatus};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use args::ExecuteArgs;
use output::{sandbox_path, Follower, Sink};
use plan::{update_line, Decision, Plan};

use crate::calls::refuse_for;
use crate::{ClientSecurity, Scheduler, SchedulerEvent, SchedulerHandle, StopReason};

/// How long the tasks' output may take to drain after the last one ended.
const DRAIN: Duration = Duration::from_secs(5);

/// Exit status when interrupted (Ctrl-C), as shells report SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Why `execute` could not run its tasks to the end.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Security(#[from] mesoraft_ctl::security::SecurityError),
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error("{0}")]
    Stopped(StopReason),
}

/// Where each task runs and its output followers.
struct Outputs {
    http: reqwest::Client,
    security: ClientSecurity,
    enabled: bool,
    /// task id -> agent address, from the launch.
    agents: BTreeMap<String, String>,
    /// task id -> "the task ended" for its followers.
    ended: BTreeMap<String, watch::Sender<bool>>,
    running: JoinSet<()>,
}

impl Outputs {
    /// Starts following a task's files once it has a sandbox.
    fn on_update(&mut self, framework_id: &str, status: &TaskStatus) {
        let task = &status.task_id.value;
        let has_sandbox = matches!(
            status.state(),
            TaskState::TaskStarting
                | TaskState::TaskRunning
                | TaskState::TaskKilling
                | TaskState::TaskFinished
                | TaskState::TaskFailed
                | TaskState::TaskKilled
        );
        if self.enabled && has_sandbox && !self.ended.contains_key(task) {
            if let Some(agent) = self.agents.get(task) {
                let (tx, rx) = watch::channel(false);
                for sink in [Sink::Stdout, Sink::Stderr] {
                    let follower = Follower {
                        http: self.http.clone(),
                        security: self.security.clone(),
                        agent: agent.clone(),
                        path: sandbox_path(framework_id, task, sink),
                        sink,
                    };
                    self.running.spawn(follower.run(rx.clone()));
                }
                self.ended.insert(task.clone(), tx);
            }
        }
        if crate::is_terminal(status.state()) {
            if let Some(tx) = self.ended.get(task) {
                let _ = tx.send(true);
            }
        }
    }

    /// Waits (boundedly) for the followers to print what is left.
    async fn drain(mut self) {
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, all).await.is_err() {
            eprintln!("(some task output may be missing: the agent did not serve it in time)");
        }
    }
}

/// Runs `args` to the end; the exit status.
pub async fn run(args: ExecuteArgs) -> Result<i32, ExecuteError> {
    let security = args.security.load()?;
    let config = args.config(security.clone())?;
    let connect_timeout = config.timeouts.connect;
    let (handle, mut events) = Scheduler::connect(config)?;
    let mut plan = Plan::new(
        args.task_ids(),
        args.command.clone(),
        args.resources.0.clone(),
    );
    let mut outputs = Outputs {
        http: security
            .http_builder(connect_timeout)
            .build()
            .map_err(|e| crate::ConfigError::Http(e.to_string()))?,
        security,
        enabled: !args.no_output,
        agents: BTreeMap::new(),
        ended: BTreeMap::new(),
        running: JoinSet::new(),
    };
    let mut framework_id = String::new();
    let mut suppressed = false;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = &mut interrupted => {
                eprintln!("interrupted: tearing the framework down (its tasks are killed)");
                if let Err(e) = handle.teardown().await {
                    eprintln!("teardown failed: {e}");
                }
                return Ok(EXIT_INTERRUPTED);
            }
        };
        let Some(event) = event else {
            return Err(ExecuteError::Stopped(StopReason::Stopped));
        };
        match event {
            SchedulerEvent::Subscribed {
                framework_id: id,
                master,
                ..
            } => {
                eprintln!("subscribed to {master} as framework {}", id.value);
                framework_id = id.value;
                // A new leader offers anew; suppression is its to forget.
                suppressed = false;
            }
            SchedulerEvent::Offers(offers) => {
                for decision in plan.on_offers(&offers) {
                    carry_out(&handle, &mut plan, &mut outputs, decision).await;
                }
                if plan.all_launched() && !suppressed {
                    suppressed = handle.suppress(Vec::new()).await.is_ok();
                }
            }
            SchedulerEvent::Update(status) => {
                eprintln!("{}", update_line(&status));
                outputs.on_update(&framework_id, &status);
                if plan.on_update(&status) && plan.all_ended() {
                    break;
                }
            }
            SchedulerEvent::Disconnected { reason } => {
                eprintln!("lost the leader ({reason}); subscribing again");
            }
            SchedulerEvent::Stopped(reason) => return Err(ExecuteError::Stopped(reason)),
            _ => {}
        }
    }
    outputs.drain().await;
    if let Err(e) = handle.teardown().await {
        // The tasks are over; the framework goes when its stream closes.
        tracing::debug!(error = %e, "teardown after the tasks ended failed");
    }
    Ok(plan.exit_code())
}

async fn carry_out(
    handle: &SchedulerHandle,
    plan: &mut Plan,
    outputs: &mut Outputs,
    decision: Decision,
) {
    match decision {
        Decision::Launch {
            offer_id,
            tasks,
            agent,
        } => {
            for t in &tasks {
                outputs
                    .agents
                    .insert(t.task_id.value.clone(), agent.clone());
                eprintln!(
                    "launching task {} on agent {}",
                    t.task_id.value, t.agent_id.value
                );
            }
            let filters = Some(refuse_for(plan::REFUSE_WHILE_WAITING));
            if let Err(e) = handle.launch(vec![offer_id], tasks.clone(), filters).await {
                eprintln!("launch: {e}");
                if e.certainly_not_acted_on() {
                    plan.relaunch(&tasks);
                }
            }
        }
        Decision::Decline {
            offer_ids,
            refuse_seconds,
        } => {
            if let Err(e) = handle
                .decline(offer_ids, Some(refuse_for(refuse_seconds)))
                .await
            {
                tracing::debug!(error = %e, "decline failed; the offers time out by themselves");
            }
        }
    }
}
