//! The command executor's decisions, without I/O: which calls to send,
//! when to start, signal and give up on the task, which updates are still
//! unacknowledged, when to subscribe again and when to exit. The shell
//! (`run.rs`) feeds it [`Input`]s and carries out its [`Action`]s in order.
//!
//! Behaviour follows Mesos's command executor (`src/launcher/executor.cpp`)
//! and its executor library (`src/executor/executor.cpp`):
//! - one task per executor; TASK_STARTING before the command starts,
//!   TASK_RUNNING once it runs, then TASK_FINISHED (exit 0), TASK_FAILED
//!   (the exit status in the message) or TASK_KILLED (after a kill);
//! - every update gets a fresh uuid and stays unacknowledged until the
//!   agent's ACKNOWLEDGED; a SUBSCRIBE carries every unacknowledged update,
//!   and the task until any of its updates was acknowledged;
//! - KILL: SIGTERM to the task's process group (TASK_KILLING first if the
//!   framework can take it), SIGKILL after the grace period (the KILL's
//!   policy, else the task's, else the executor's shutdown grace period);
//!   a later KILL can only shorten the grace period;
//! - losing the agent: with checkpointing, subscribe again after a random
//!   delay up to the backoff ceiling until the recovery timeout; without,
//!   shut down;
//! - exit once the terminal update is acknowledged (or, Mesos's fail-safe,
//!   60 s after sending it while subscribed).

use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::executor::{call, event, Call, Event};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{
    CommandInfo, ExecutorId, FrameworkId, FrameworkInfo, KillPolicy, TaskId, TaskInfo, TaskState,
    TaskStatus,
};

/// How long the executor waits for the acknowledgement of its terminal
/// update before giving up (Mesos's fail-safe for HTTP executors).
pub const TERMINAL_ACK_LIMIT: Duration = Duration::from_secs(60);

/// What the shell needs from the outside world that is not an input:
/// fresh uuids and random samples.
pub trait Entropy {
    /// A fresh 16-byte uuid.
    fn uuid(&mut self) -> Vec<u8>;
    /// A uniform sample in `[0, 1]`.
    fn unit(&mut self) -> f64;
}

/// The clock readings an input happened at.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    /// Seconds since the Unix epoch, for update timestamps.
    pub unix_secs: f64,
}

/// How the task's process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskExit {
    Exited(i32),
    Signaled(i32),
    /// The wait itself failed.
    Unknown(String),
}

/// The executor's timers; starting one again replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// SIGKILL the task if it is still running.
    Escalate,
    /// Try to subscribe again.
    Resubscribe,
    /// Give up on reaching the agent.
    Recovery,
    /// Give up on the acknowledgement of the terminal update.
    TerminalAck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Why the executor exits; the process exit code follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// The task ended and the agent acknowledged its terminal update.
    Done,
    /// The agent asked for a shutdown and nothing runs any more.
    Shutdown,
    /// The agent could not be reached again in time.
    AgentLost,
    /// The terminal update was never acknowledged.
    TerminalUnacknowledged,
    /// The agent sent what this executor cannot do.
    Unsupported(String),
}

impl ExitReason {
    pub fn exit_code(&self) -> i32 {
        match self {
            ExitReason::Done | ExitReason::Shutdown => 0,
            _ => 1,
        }
    }
}

/// The task's command, to start in the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub task_id: TaskId,
    pub command: CommandInfo,
    /// Run as this user (when the executor may switch users).
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a subscription with this SUBSCRIBE call.
    Subscribe(Call),
    /// Send this call (UPDATE) on the current subscription.
    Send(Call),
    /// Start the task; answer with `TaskStarted` or `StartFailed`.
    Start(Launch),
    /// Signal the task's process group.
    Signal(Signal),
    StartTimer(Timer, Duration),
    CancelTimer(Timer),
    /// Stop the task's processes (if any) and exit.
    Exit(ExitReason),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The subscription attempt failed or the event stream ended.
    Disconnected {
        why: String,
    },
    Event(Box<Event>),
    TaskStarted,
    StartFailed {
        error: String,
    },
    TaskExited(TaskExit),
    TimerFired(Timer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// A SUBSCRIBE is on its way; no SUBSCRIBED yet.
    Subscribing,
    Subscribed,
    /// Waiting for the next attempt.
    Disconnected,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Asked the shell to start it.
    Starting,
    Running,
    Killing {
        since: Instant,
        deadline: Instant,
    },
    Terminated,
}

#[derive(Debug, Clone)]
struct TaskRun {
    info: TaskInfo,
    phase: Phase,
    killed: bool,
    /// The agent acknowledged one of its updates, so it knows the task.
    acknowledged: bool,
    /// A kill that arrived while the task was starting.
    pending_kill: Option<Duration>,
}

/// The command executor's state.
pub struct CommandExecutor {
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    checkpoint: bool,
    recovery_timeout: Duration,
    backoff_max: Duration,
    shutdown_grace: Duration,
    link: Link,
    ever_subscribed: bool,
    recovery_running: bool,
    framework: Option<FrameworkInfo>,
    task: Option<TaskRun>,
    /// Unacknowledged updates in the order they were made.
    unacknowledged: Vec<call::Update>,
    terminal_uuid: Option<Vec<u8>>,
    shutting_down: bool,
    entropy: Box<dyn Entropy + Send>,
}

/// The executor's settings the decisions depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
}

impl CommandExecutor {
    pub fn new(settings: Settings, entropy: Box<dyn Entropy + Send>) -> Self {
        CommandExecutor {
            framework_id: settings.framework_id,
            executor_id: settings.executor_id,
            checkpoint: settings.checkpoint,
            recovery_timeout: settings.recovery_timeout,
            backoff_max: settings.subscription_backoff_max,
            shutdown_grace: settings.shutdown_grace_period,
            link: Link::Disconnected,
            ever_subscribed: false,
            recovery_running: false,
            framework: None,
            task: None,
            unacknowledged: Vec::new(),
            terminal_uuid: None,
            shutting_down: false,
            entropy,
        }
    }

    /// The first actions: subscribe, and give up if the agent cannot be
    /// reached within the recovery timeout.
    pub fn start(&mut self) -> Vec<Action> {
        self.recovery_running = true;
        self.link = Link::Subscribing;
        vec![
            Action::StartTimer(Timer::Recovery, self.recovery_timeout),
            Action::Subscribe(self.subscribe_call()),
        ]
    }

    /// The updates not acknowledged yet (for tests and logs).
    pub fn unacknowledged_uuids(&self) -> Vec<Vec<u8>> {
        self.unacknowledged
            .iter()
            .filter_map(|u| u.status.uuid.clone())
            .collect()
    }

    pub fn step(&mut self, input: Input, now: Now) -> Vec<Action> {
        match input {
            Input::Disconnected { why } => self.disconnected(&why, now),
            Input::Event(event) => self.event(*event, now),
            Input::TaskStarted => self.task_started(now),
            Input::StartFailed { error } => self.start_failed(error, now),
            Input::TaskExited(exit) => self.task_exited(exit, now),
            Input::TimerFired(timer) => self.timer(timer),
        }
    }

    fn event(&mut self, event: Event, now: Now) -> Vec<Action> {
        use event::Type;
        match event.r#type() {
            Type::Subscribed => match event.subscribed {
                Some(subscribed) => self.subscribed(subscribed),
                None => Vec::new(),
            },
            Type::Launch => match event.launch {
                Some(launch) => self.launch(launch.task, now),
                None => Vec::new(),
            },
            Type::LaunchGroup => {
                // Task groups go to the default executor, never here.
                vec![Action::Exit(ExitReason::Unsupported(
                    "LAUNCH_GROUP is not supported by the command executor".into(),
                ))]
            }
            Type::Kill => match event.kill {
                Some(kill) => self.kill_event(kill.task_id, kill.kill_policy, now),
                None => Vec::new(),
            },
            Type::Acknowledged => match event.acknowledged {
                Some(ack) => self.acknowledged(&ack.task_id, &ack.uuid),
                None => Vec::new(),
            },
            Type::Shutdown => self.shutdown(now),
            Type::Message | Type::Error | Type::Heartbeat | Type::Unknown => Vec::new(),
        }
    }

    fn subscribed(&mut self, subscribed: event::Subscribed) -> Vec<Action> {
        self.link = Link::Subscribed;
        self.ever_subscribed = true;
        self.recovery_running = false;
        self.framework = Some(subscribed.framework_info);
        let mut actions = vec![
            Action::CancelTimer(Timer::Recovery),
            Action::CancelTimer(Timer::Resubscribe),
        ];
        if self.terminal_uuid.is_some() {
            actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
        }
        actions
    }

    fn launch(&mut self, task: TaskInfo, now: Now) -> Vec<Action> {
        if self.task.is_some() {
            let status = self.status(
                task.task_id.clone(),
                TaskState::TaskFailed,
                None,
                Some("Attempted to run multiple tasks using a \"command\" executor".into()),
                now,
            );
            return self.forward(status);
        }
        let task_id = task.task_id.clone();
        let command = task.command.clone();
        let user = command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| self.framework.as_ref().map(|f| f.user.clone()))
            .filter(|u| !u.is_empty());
        self.task = Some(TaskRun {
            info: task,
            phase: Phase::Starting,
            killed: false,
            acknowledged: false,
            pending_kill: None,
        });
        let starting = self.status(task_id.clone(), TaskState::TaskStarting, None, None, now);
        let mut actions = self.forward(starting);
        match command.filter(|c| c.value.as_deref().is_some_and(|v| !v.is_empty())) {
            Some(command) => actions.push(Action::Start(Launch {
                task_id,
                command,
                user,
            })),
            None => actions.extend(self.start_failed(
                "the task has no command to run (CommandInfo.value is missing)".into(),
                now,
            )),
        }
        actions
    }

    fn task_started(&mut self, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        if task.phase != Phase::Starting {
            return Vec::new();
        }
        task.phase = Phase::Running;
        let pending_kill = task.pending_kill.take();
        let task_id = task.info.task_id.clone();
        let running = self.status(task_id.clone(), TaskState::TaskRunning, None, None, now);
        let mut actions = self.forward(running);
        if let Some(grace) = pending_kill {
            actions.extend(self.kill(&task_id, grace, now));
        }
        actions
    }

    fn start_failed(&mut self, error: String, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        task.phase = Phase::Terminated;
        let task_id = task.info.task_id.clone();
        let failed = self.status(
            task_id,
            TaskState::TaskFailed,
            Some(Reason::CommandExecutorFailed),
            Some(format!("Failed to launch the command: {error}")),
            now,
        );
        self.terminal(failed)
    }

    fn kill_event(&mut self, task_id: TaskId, policy: Option<KillPolicy>, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_ref() else {
            // Mesos's command executor terminates on a kill before any
            // launch (MESOS-8297): there is nothing it could ever run.
            return vec![Action::Exit(ExitReason::Shutdown)];
        };
        let grace = grace_of(policy.as_ref())
            .or_else(|| grace_of(task.info.kill_policy.as_ref()))
            .unwrap_or(self.shutdown_grace);
        self.kill(&task_id, grace, now)
    }

    fn kill(&mut self, task_id: &TaskId, grace: Duration, now: Now) -> Vec<Action> {
        let killing_capable = self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type() == Capability::TaskKillingState)
        });
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        if &task.info.task_id != task_id {
            return Vec::new();
        }
        match task.phase.clone() {
            Phase::Terminated => Vec::new(),
            Phase::Starting => {
                task.pending_kill = Some(task.pending_kill.map_or(grace, |g| g.min(grace)));
                Vec::new()
            }
            Phase::Running => {
                task.killed = true;
                task.phase = Phase::Killing {
                    since: now.mono,
                    deadline: now.mono + grace,
                };
                let mut actions = Vec::new();
                if killing_capable {
                    let killing =
                        self.status(task_id.clone(), TaskState::TaskKilling, None, None, now);
                    actions.extend(self.forward(killing));
                }
                actions.push(Action::Signal(Signal::Term));
                actions.push(Action::StartTimer(Timer::Escalate, grace));
                actions
            }
            Phase::Killing { since, deadline } => {
                // Only ever shorten: a retried kill must not restart the
                // clock, a longer one must not extend it.
                let wanted = since + grace;
                if wanted >= deadline {
                    return Vec::new();
                }
                let deadline = wanted.max(now.mono);
                task.phase = Phase::Killing { since, deadline };
                vec![Action::StartTimer(
                    Timer::Escalate,
                    deadline.saturating_duration_since(now.mono),
                )]
            }
        }
    }

    fn shutdown(&mut self, now: Now) -> Vec<Action> {
        self.shutting_down = true;
        // Leave time for the terminal update before the agent's own
        // deadline (Mesos keeps a similar margin).
        let margin = Duration::from_secs(2).min(self.shutdown_grace / 2);
        let grace = self.shutdown_grace - margin;
        let running = self.task.as_ref().map(|t| t.phase.clone());
        match running {
            Some(Phase::Running) | Some(Phase::Killing { .. }) | Some(Phase::Starting) => {
                let task_id = self
                    .task
                    .as_ref()
                    .map(|t| t.info.task_id.clone())
                    .unwrap_or_default();
                self.kill(&task_id, grace, now)
            }
            Some(Phase::Terminated) if self.terminal_uuid.is_some() => Vec::new(),
            _ => vec![Action::Exit(ExitReason::Shutdown)],
        }
    }

    fn task_exited(&mut self, exit: TaskExit, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        if task.phase == Phase::Terminated {
            return Vec::new();
        }
        task.phase = Phase::Terminated;
        let state = match &exit {
            _ if task.killed => TaskState::TaskKilled,
            TaskExit::Exited(0) => TaskState::TaskFinished,
            _ => TaskState::TaskFailed,
        };
        let message = match &exit {
            TaskExit::Exited(code) => format!("Command exited with status {code}"),
            TaskExit::Signaled(signal) => {
                format!("Command terminated with signal {}", signal_name(*signal))
            }
            TaskExit::Unknown(why) => format!("Failed to get exit status for Command: {why}"),
        };
        let task_id = task.info.task_id.clone();
        let status = self.status(task_id, state, None, Some(message), now);
        let mut actions = vec![Action::CancelTimer(Timer::Escalate)];
        actions.extend(self.terminal(status));
        actions
    }

    /// Sends a terminal update; after it the executor only waits for its
    /// acknowledgement (or exits at once when no agent can hear it).
    fn terminal(&mut self, status: TaskStatus) -> Vec<Action> {
        self.terminal_uuid = status.uuid.clone();
        let mut actions = self.forward(status);
        if self.shutting_down && self.link != Link::Subscribed && !self.checkpoint {
            actions.push(Action::Exit(ExitReason::Shutdown));
        } else if self.link == Link::Subscribed {
            actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
        }
        actions
    }

    fn acknowledged(&mut self, task_id: &TaskId, uuid: &[u8]) -> Vec<Action> {
        let before = self.unacknowledged.len();
        self.unacknowledged
            .retain(|u| u.status.uuid.as_deref() != Some(uuid));
        if self.unacknowledged.len() == before {
            return Vec::new();
        }
        if let Some(task) = self.task.as_mut().filter(|t| &t.info.task_id == task_id) {
            task.acknowledged = true;
        }
        if self.terminal_uuid.as_deref() == Some(uuid) {
            return vec![
                Action::CancelTimer(Timer::TerminalAck),
                Action::Exit(if self.shutting_down {
                    ExitReason::Shutdown
                } else {
                    ExitReason::Done
                }),
            ];
        }
        Vec::new()
    }

    fn disconnected(&mut self, _why: &str, now: Now) -> Vec<Action> {
        let was_subscribed = self.link == Link::Subscribed;
        self.link = Link::Disconnected;
        let mut actions = vec![Action::CancelTimer(Timer::TerminalAck)];
        if was_subscribed && !self.checkpoint {
            // Nothing will come back for a framework without
            // checkpointing: the agent is gone for good.
            let idle = self
                .task
                .as_ref()
                .is_none_or(|t| t.phase == Phase::Terminated);
            if idle {
                actions.push(Action::Exit(ExitReason::AgentLost));
            } else {
                actions.extend(self.shutdown(now));
            }
            return actions;
        }
        if was_subscribed && !self.recovery_running {
            self.recovery_running = true;
            actions.push(Action::StartTimer(Timer::Recovery, self.recovery_timeout));
        }
        let delay = self
            .backoff_max
            .mul_f64(self.entropy.unit().clamp(0.0, 1.0));
        actions.push(Action::StartTimer(Timer::Resubscribe, delay));
        actions
    }

    fn timer(&mut self, timer: Timer) -> Vec<Action> {
        match timer {
            Timer::Escalate => match self.task.as_ref().map(|t| &t.phase) {
                Some(Phase::Killing { .. }) => vec![Action::Signal(Signal::Kill)],
                _ => Vec::new(),
            },
            Timer::Resubscribe if self.link == Link::Disconnected => {
                self.link = Link::Subscribing;
                vec![Action::Subscribe(self.subscribe_call())]
            }
            Timer::Resubscribe => Vec::new(),
            Timer::Recovery if self.link != Link::Subscribed && self.recovery_running => {
                vec![Action::Exit(ExitReason::AgentLost)]
            }
            Timer::Recovery => Vec::new(),
            Timer::TerminalAck if self.link == Link::Subscribed => {
                vec![Action::Exit(ExitReason::TerminalUnacknowledged)]
            }
            Timer::TerminalAck => Vec::new(),
        }
    }

    /// Records `status` as unacknowledged and sends it if subscribed; a
    /// later SUBSCRIBE carries it otherwise.
    fn forward(&mut self, status: TaskStatus) -> Vec<Action> {
        let update = call::Update { status };
        self.unacknowledged.push(update.clone());
        if self.link != Link::Subscribed {
            return Vec::new();
        }
        vec![Action::Send(Call {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            r#type: Some(call::Type::Update as i32),
            update: Some(update),
            ..Default::default()
        })]
    }

    fn subscribe_call(&self) -> Call {
        let unacknowledged_tasks = self
            .task
            .as_ref()
            .filter(|t| !t.acknowledged)
            .map(|t| vec![t.info.clone()])
            .unwrap_or_default();
        Call {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks,
                unacknowledged_updates: self.unacknowledged.clone(),
            }),
            ..Default::default()
        }
    }

    fn status(
        &mut self,
        task_id: TaskId,
        state: TaskState,
        reason: Option<Reason>,
        message: Option<String>,
        now: Now,
    ) -> TaskStatus {
        TaskStatus {
            task_id,
            state: state as i32,
            message,
            source: Some(Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            executor_id: Some(self.executor_id.clone()),
            timestamp: Some(now.unix_secs),
            uuid: Some(self.entropy.uuid()),
            ..Default::default()
        }
    }
}

fn grace_of(policy: Option<&KillPolicy>) -> Option<Duration> {
    let nanos = policy?.grace_period.as_ref()?.nanoseconds;
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

/// The signal's description, as `strsignal` gives it (Mesos's messages).
pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "Hangup".into(),
        libc::SIGINT => "Interrupt".into(),
        libc::SIGQUIT => "Quit".into(),
        libc::SIGABRT => "Aborted".into(),
        libc::SIGKILL => "Killed".into(),
        libc::SIGSEGV => "Segmentation fault".into(),
        libc::SIGPIPE => "Broken pipe".into(),
        libc::SIGTERM => "Terminated".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests;
