//! The command executor's I/O shell: one loop feeding the decision core
//! (`core.rs`) with the agent's events, the task's exit and the timers,
//! and carrying out its actions. Calls other than SUBSCRIBE leave through
//! one queue in order (STARTING must reach the agent before RUNNING).

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mesoraft_proto::mesos::v1::executor::Call;
use tokio::sync::mpsc;

use super::client::{AgentClient, EventStream};
use super::core::{
    Action, CommandExecutor, Entropy, ExitReason, Input, Now, Settings, Signal, Timer,
};
use super::env::ExecutorEnv;
use super::task_process::{signal_group, TaskProcess};

struct RandomEntropy;

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

/// Runs the executor until it exits; the reason gives the exit code.
pub async fn run(env: ExecutorEnv) -> Result<ExitReason, String> {
    let client = AgentClient::new(env.api_url())?;
    let settings = Settings {
        framework_id: env.framework_id.clone(),
        executor_id: env.executor_id.clone(),
        checkpoint: env.checkpoint,
        recovery_timeout: env.recovery_timeout,
        subscription_backoff_max: env.subscription_backoff_max,
        shutdown_grace_period: env.shutdown_grace_period,
    };
    tracing::info!(
        framework_id = %env.framework_id.value,
        executor_id = %env.executor_id.value,
        agent = %env.agent_endpoint,
        checkpoint = env.checkpoint,
        "command executor starting"
    );
    let mut core = CommandExecutor::new(settings, Box::new(RandomEntropy));
    let (outbox, sender) = spawn_sender(client.clone());

    let mut actions: VecDeque<Action> = core.start().into();
    let mut timers: HashMap<Timer, Instant> = HashMap::new();
    let mut subscribing: Option<Subscribing> = None;
    let mut stream: Option<EventStream> = None;
    let mut task: Option<TaskProcess> = None;
    // The task's group stays signalable after its leader exits.
    let mut task_group: Option<i32> = None;

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
                Action::Start(launch) => match TaskProcess::start(&launch, &env.directory) {
                    Ok(process) => {
                        tracing::info!(task_id = %launch.task_id.value, pgid = process.pgid(), "task started");
                        task_group = Some(process.pgid());
                        task = Some(process);
                        Some(Input::TaskStarted)
                    }
                    Err(error) => {
                        tracing::error!(task_id = %launch.task_id.value, %error, "cannot start the task");
                        Some(Input::StartFailed { error })
                    }
                },
                Action::Signal(signal) => {
                    if let Some(pgid) = task_group {
                        tracing::info!(pgid, ?signal, "signalling the task's process group");
                        signal_group(pgid, signal);
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
                    if let Some(pgid) = task_group {
                        signal_group(pgid, Signal::Kill);
                    }
                    // Let the calls still queued leave first, briefly.
                    drop(outbox);
                    let _ = tokio::time::timeout(FLUSH_LIMIT, sender).await;
                    tracing::info!(?reason, "command executor exiting");
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
            .map(|(t, at)| (*t, *at));
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
            exit = async { task.as_mut().expect("guarded").wait().await }, if task.is_some() => {
                tracing::info!(?exit, "task exited");
                task = None;
                Input::TaskExited(exit)
            }
            _ = sleep_until(next_timer.map(|(_, at)| at)), if next_timer.is_some() => {
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
