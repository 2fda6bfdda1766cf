//! What the built-in executors' decision cores and their shell say to
//! each other: the inputs a core is fed, the actions it asks for, and the
//! small types both use. Tasks are named by their task id, so one shell
//! serves the command executor (one task) and the default executor (a
//! group of tasks) alike. No behaviour here beyond formatting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::executor::{Call, Event};
use mesoraft_proto::mesos::v1::{CommandInfo, KillPolicy, TaskId};

/// How long an executor waits for the acknowledgement of its terminal
/// update(s) before giving up (Mesos's fail-safe for HTTP executors).
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

/// How a task's process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskExit {
    Exited(i32),
    Signaled(i32),
    /// The wait itself failed.
    Unknown(String),
}

/// An executor's timers; starting one again replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timer {
    /// SIGKILL the task (by task id) if it is still running.
    Escalate(String),
    /// Try to subscribe again.
    Resubscribe,
    /// Give up on reaching the agent.
    Recovery,
    /// Give up on the acknowledgement of the terminal update(s).
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
    /// The tasks ended and the agent acknowledged their terminal updates.
    Done,
    /// The agent asked for a shutdown and nothing runs any more.
    Shutdown,
    /// The agent could not be reached again in time.
    AgentLost,
    /// A terminal update was never acknowledged.
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

/// A task's command, to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub task_id: TaskId,
    pub command: CommandInfo,
    /// Run as this user (when the executor may switch users).
    pub user: Option<String>,
    /// The task's sandbox relative to the executor's (created if
    /// missing); `None`: the executor's sandbox itself.
    pub sandbox: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a subscription with this SUBSCRIBE call.
    Subscribe(Call),
    /// Send this call (UPDATE) on the current subscription.
    Send(Call),
    /// Start a task; answer with `TaskStarted` or `StartFailed`.
    Start(Launch),
    /// Signal a task's process group.
    Signal(TaskId, Signal),
    StartTimer(Timer, Duration),
    CancelTimer(Timer),
    /// Stop every task's processes (if any) and exit.
    Exit(ExitReason),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The subscription attempt failed or the event stream ended.
    Disconnected {
        why: String,
    },
    Event(Box<Event>),
    TaskStarted(TaskId),
    StartFailed {
        task_id: TaskId,
        error: String,
    },
    TaskExited(TaskId, TaskExit),
    TimerFired(Timer),
}

/// A decision core the shell drives (`run::run`).
pub trait ExecutorCore {
    /// The first actions.
    fn start(&mut self) -> Vec<Action>;
    fn step(&mut self, input: Input, now: Now) -> Vec<Action>;
}

/// The grace period a kill policy gives, if it gives one.
pub fn grace_of(policy: Option<&KillPolicy>) -> Option<Duration> {
    let nanos = policy?.grace_period.as_ref()?.nanoseconds;
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

/// The message of a task's terminal update, as Mesos's executors word it.
pub fn exit_message(exit: &TaskExit) -> String {
    match exit {
        TaskExit::Exited(code) => format!("Command exited with status {code}"),
        TaskExit::Signaled(signal) => {
            format!("Command terminated with signal {}", signal_name(*signal))
        }
        TaskExit::Unknown(why) => format!("Failed to get exit status for Command: {why}"),
    }
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
