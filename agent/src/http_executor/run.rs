//! The built-in executors' I/O shell: one loop feeding a decision core
//! ([`ExecutorCore`]) with the agent's events, the tasks' exits and the
//! timers, and carrying out its actions. Calls other than SUBSCRIBE leave
//! through one queue in order (STARTING must reach the agent before
//! RUNNING). Each task runs in its own process group, signalled by task
//! id; a group stays signalable after its leader exits.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mesoraft_proto::mesos::v1::executor::Call;
use mesoraft_proto::mesos::v1::TaskId;
use tokio::sync::mpsc;

use super::client::{AgentClient, EventStream};
use super::env::ExecutorEnv;
use super::session::Settings;
use super::task_process::{signal_group, TaskProcess};
use super::vocab::{
    Action, Entropy, ExecutorCore, ExitReason, Input, Now, Signal, TaskExit, Timer,
};

/// Fresh uuids and random samples from the operating system.
pub struct RandomEntropy;

impl Entropy for RandomEntropy {
    fn uuid(&mut self) -> Vec<u8> {
        uuid::Uuid::new_v4().as_bytes().to_vec()
    }
    fn unit(&mut self) -> f64 {
        rand::random::<f64>()
    }
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    }
}

/// How long an exiting executor waits for its queued calls to leave.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

type Subscribing =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<EventStream, String>> + Send>>;

/// The settings of a core, from the environment.
pub fn settings(env: &ExecutorEnv) -> Settings {
    Settings {
        framework_id: env.framework_id.clone(),
        executor_id: env.executor_id.clone(),
        checkpoint: env.checkpoint,
        recovery_timeout: env.recovery_timeout,
        subscription_backoff_max: env.subscription_backoff_max,
        shutdown_grace_period: env.shutdown_grace_period,
    }
}

/// Runs `core` until it exits; the reason gives the exit code.
pub async fn run(env: ExecutorEnv, mut core: impl ExecutorCore) -> Result<ExitReason, String> {
    let client = AgentClient::new(env.api_url())?;
    let (outbox, sender) = spawn_sender(client.clone());
    // Each task's exit arrives here, from a task waiting for it.
    let (exits_tx, mut exits) = mpsc::unbounded_channel::<(TaskId, TaskExit)>();

    let mut actions: VecDeque<Action> = core.start().into();
    let mut timers: HashMap<Timer, Instant> = HashMap::new();
    let mut subscribing: Option<Subscribing> = None;
    let mut stream: Option<EventStream> = None;
    // Process groups by task id, kept after their leaders exit.
    let mut groups: HashMap<String, i32> = HashMap::new();

    loop {
        while let Some(action) = actions.pop_front() {
            let input = match action {
                Action::Subscribe(call) => {
                    stream = None;
                    let client = client.clone();
                    subscribing = Some(Box::pin(async move { client.subscribe(&call).await }));
                    None
                }
                Action::Send(call) => {
                    let _ = outbox.send(call);
                    None
                }
                Action::Start(launch) => {
                    let sandbox = match &launch.sandbox {
                        Some(relative) => env.directory.join(relative),
                        None => env.directory.clone(),
                    };
                    let started = std::fs::create_dir_all(&sandbox)
                        .map_err(|e| format!("cannot create {}: {e}", sandbox.display()))
                        .and_then(|()| TaskProcess::start(&launch, &sandbox));
                    let task_id = launch.task_id.clone();
                    match started {
                        Ok(mut process) => {
                            tracing::info!(task_id = %task_id.value, pgid = process.pgid(), "task started");
                            groups.insert(task_id.value.clone(), process.pgid());
                            let exits_tx = exits_tx.clone();
                            let waited = task_id.clone();
                            tokio::spawn(async move {
                                let exit = process.wait().await;
                                let _ = exits_tx.send((waited, exit));
                            });
                            Some(Input::TaskStarted(task_id))
                        }
                        Err(error) => {
                            tracing::error!(task_id = %task_id.value, %error, "cannot start the task");
                            Some(Input::StartFailed { task_id, error })
                        }
                    }
                }
                Action::Signal(task_id, signal) => {
                    if let Some(pgid) = groups.get(&task_id.value) {
                        tracing::info!(task_id = %task_id.value, pgid, ?signal, "signalling the task's process group");
                        signal_group(*pgid, signal);
                    }
                    None
                }
                Action::StartTimer(timer, after) => {
                    timers.insert(timer, Instant::now() + after);
                    None
                }
                Action::CancelTimer(timer) => {
                    timers.remove(&timer);
                    None
                }
                Action::Exit(reason) => {
                    for pgid in groups.values() {
                        signal_group(*pgid, Signal::Kill);
                    }
                    // Let the calls still queued leave first, briefly.
                    drop(outbox);
                    let _ = tokio::time::timeout(FLUSH_LIMIT, sender).await;
                    tracing::info!(?reason, "executor exiting");
                    return Ok(reason);
                }
            };
            if let Some(input) = input {
                actions.extend(core.step(input, now()));
            }
        }

        let next_timer = timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(t, at)| (t.clone(), *at));
        let input = tokio::select! {
            result = async { subscribing.as_mut().expect("guarded").await }, if subscribing.is_some() => {
                subscribing = None;
                match result {
                    Ok(events) => {
                        stream = Some(events);
                        continue;
                    }
                    Err(why) => {
                        tracing::warn!(%why, "subscription failed");
                        Input::Disconnected { why }
                    }
                }
            }
            event = async { stream.as_mut().expect("guarded").next().await }, if stream.is_some() => {
                match event {
                    Ok(event) => Input::Event(Box::new(event)),
                    Err(why) => {
                        tracing::warn!(%why, "disconnected from the agent");
                        stream = None;
                        Input::Disconnected { why }
                    }
                }
            }
            Some((task_id, exit)) = exits.recv() => {
                tracing::info!(task_id = %task_id.value, ?exit, "task exited");
                Input::TaskExited(task_id, exit)
            }
            _ = sleep_until(next_timer.as_ref().map(|(_, at)| *at)), if next_timer.is_some() => {
                let (timer, _) = next_timer.expect("guarded");
                timers.remove(&timer);
                Input::TimerFired(timer)
            }
        };
        actions.extend(core.step(input, now()));
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// The queue non-subscribe calls leave through, one at a time, and the
/// task sending them.
fn spawn_sender(client: AgentClient) -> (mpsc::UnboundedSender<Call>, tokio::task::JoinHandle<()>) {
    let (outbox, mut calls) = mpsc::unbounded_channel::<Call>();
    let sender = tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            if let Err(error) = client.send(&call).await {
                // The update stays unacknowledged and is resent with the
                // next subscription.
                tracing::warn!(%error, call_type = ?call.r#type(), "call not accepted");
            }
        }
    });
    (outbox, sender)
}
