//! The vocabulary of the agent's executor table: what it is told
//! ([`Event`]), what it asks for ([`Action`]), and the small types both
//! share. No behaviour here; `table.rs` decides.

use std::time::Duration;

use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::executor::{call, Event as ExecutorEvent};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{
    ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Task, TaskId, TaskInfo, TaskState,
    TaskStatus,
};

pub use crate::keys::{ExecutorKey, RunKey};

/// How the tasks of an executor that ended are reported: the state,
/// reason and message of their last update.
#[derive(Debug, Clone, PartialEq)]
pub struct Termination {
    pub state: TaskState,
    pub reason: Reason,
    pub message: String,
}

/// The cpu and memory an executor's container may use: its own
/// resources plus its tasks'.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub cpus: Option<f64>,
    pub mem_mb: Option<f64>,
}

/// What the table reacts to. Events are built and consumed at once, so
/// their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    // From the master.
    RunTask {
        framework: FrameworkInfo,
        task: TaskInfo,
    },
    /// A task group, for the framework's default executor (`executor`,
    /// of type DEFAULT).
    RunTaskGroup {
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
    },
    KillTask {
        framework_id: FrameworkId,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    },
    ShutdownFramework {
        framework_id: FrameworkId,
    },
    /// A framework's SHUTDOWN of one of its executors.
    ShutdownExecutor {
        executor: ExecutorKey,
    },
    FrameworkMessage {
        executor: ExecutorKey,
        data: Vec<u8>,
    },
    // From executors (calls of the executor API).
    Subscribe {
        executor: ExecutorKey,
        connection: u64,
        subscribe: call::Subscribe,
    },
    Update {
        executor: ExecutorKey,
        status: TaskStatus,
    },
    ExecutorMessage {
        executor: ExecutorKey,
        data: Vec<u8>,
    },
    /// The executor's event stream closed.
    Disconnected {
        executor: ExecutorKey,
        connection: u64,
    },
    // From the containerizer.
    LaunchFailed {
        run: RunKey,
        error: String,
    },
    /// The executor's process ended (`limitation` when the containerizer
    /// ended it for using too much).
    ExecutorExited {
        run: RunKey,
        limitation: Option<Termination>,
    },
    // From the update manager: the master acknowledged the update that
    // ended a task, so the task is complete.
    TaskCompleted {
        framework_id: FrameworkId,
        task_id: TaskId,
    },
    Timer(TableTimer),
}

/// The table's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableTimer {
    /// An executor told to shut down gets this long before it is killed.
    ShutdownGrace(RunKey),
    /// An executor that never subscribes is killed.
    Registration(RunKey),
    /// After a restart, executors that did not subscribe again in time
    /// are killed and their tasks reported gone or lost.
    Reregistration,
}

/// Why the table refuses an executor's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Framework cannot be found")]
    UnknownFramework,
    #[error("Executor cannot be found")]
    UnknownExecutor,
    #[error("Executor is not subscribed")]
    NotSubscribed,
}

/// What the table asks its edges to do, in order.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start an executor process for a new run.
    Launch(Box<LaunchSpec>),
    /// Kill everything the run's container holds.
    Destroy(RunKey),
    /// Raise the container's limits (a task joined it).
    UpdateLimits {
        run: RunKey,
        limits: Limits,
    },
    /// An event for the executor's current subscription.
    Send {
        executor: ExecutorKey,
        event: Box<ExecutorEvent>,
    },
    /// End the executor's subscription stream.
    Close {
        executor: ExecutorKey,
    },
    /// Hand an update to the update manager; once it has it (recorded,
    /// for a checkpointing framework), acknowledge `ack_executor`.
    StatusUpdate {
        update: Box<StatusUpdate>,
        /// Where its stream is checkpointed; `None`: not checkpointed.
        checkpoint_run: Option<RunKey>,
        ack_executor: Option<ExecutorKey>,
    },
    /// Forget a framework's update streams (it is shutting down).
    DropUpdates {
        framework_id: FrameworkId,
    },
    /// A message for the framework's scheduler, through the master.
    ToFramework {
        executor: ExecutorKey,
        data: Vec<u8>,
    },
    StartTimer(TableTimer, Duration),
    Checkpoint(Checkpoint),
}

/// What to start for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    pub run: RunKey,
    pub executor: ExecutorInfo,
    pub framework: FrameworkInfo,
    /// Run the built-in command executor rather than `executor.command`
    /// (the built-in default executor runs for an `executor` of type
    /// DEFAULT).
    pub command_executor: bool,
    pub limits: Limits,
    pub shutdown_grace_period: Duration,
}

/// Records for a checkpointing framework's recovery.
#[derive(Debug, Clone, PartialEq)]
pub enum Checkpoint {
    Framework(FrameworkInfo),
    Executor {
        run: RunKey,
        info: ExecutorInfo,
        command_executor: bool,
    },
    Task {
        run: RunKey,
        task: Box<Task>,
    },
    /// The executor and its tasks are done: nothing of it to recover.
    RemoveExecutor(ExecutorKey),
    RemoveFramework(FrameworkId),
}
