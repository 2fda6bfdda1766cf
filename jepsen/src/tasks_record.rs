//! What the `tasks` workload records in the history, as typed values:
//! launches and kills its frameworks asked for (`task-launch`,
//! `task-kill`), every status its frameworks were given (`task-status`:
//! an update from the event stream, or a reconciliation answer), the
//! acknowledgements they sent (`task-ack`), and, at the end, the markers
//! the tasks left in their sandboxes (`task-markers`: one per run of a
//! task, so a task that ran twice leaves two).
//!
//! The workload writes these; `checker::tasks` reads them back. Reading is
//! lenient: a value of another shape reads as `None` and is skipped.

use serde::{Deserialize, Serialize};

use crate::history::HistoryValue;

/// `f` of an ACCEPT with one LAUNCH. `ok`: the master answered 202;
/// `fail`: it certainly refused the call; `info`: unknown.
pub const TASK_LAUNCH: &str = "task-launch";
/// `f` of a KILL call.
pub const TASK_KILL: &str = "task-kill";
/// `f` of a status a framework was given (recorded as it arrives).
pub const TASK_STATUS: &str = "task-status";
/// `f` of an ACKNOWLEDGE call; `ok` when the master answered 202.
pub const TASK_ACK: &str = "task-ack";
/// `f` of the final collection of the tasks' sandbox markers.
pub const TASK_MARKERS: &str = "task-markers";
/// `f` of what happened to a framework's subscription (subscribed,
/// disconnected, stopped): for the report and for diagnosis, not judged.
pub const TASK_FRAMEWORK: &str = "task-framework";
/// `f` of the final explicit reconciliation, after every fault was healed
/// and every task was killed: its completion says the run got that far.
pub const TASK_FINAL_RECONCILE: &str = "task-final-reconcile";

/// States a task never leaves (Mesos's terminal states but TASK_LOST,
/// which a framework that is not partition-aware sees before its task
/// comes back).
pub const FINAL_STATES: [&str; 7] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

pub fn is_final(state: &str) -> bool {
    FINAL_STATES.contains(&state)
}

/// A task of one framework (task ids are unique within a framework).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    pub framework: String,
    pub task_id: String,
}

/// The value of a `task-framework` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkNote {
    /// The workload's number of the framework.
    pub framework_index: usize,
    /// Its id, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// `subscribed`, `disconnected` or `stopped`.
    pub event: String,
    /// The master subscribed to, or why the stream ended.
    pub detail: String,
}

/// The value of a `task-launch` invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchAsk {
    #[serde(flatten)]
    pub task: TaskRef,
    /// Whether the framework declared PARTITION_AWARE.
    pub partition_aware: bool,
    /// The agent the offer was for.
    pub agent_id: String,
}

/// Where a framework got a status from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusSource {
    /// An UPDATE event that carries a uuid (to be acknowledged).
    Update,
    /// An UPDATE without a uuid: the master's answer to reconciliation,
    /// or a state the master decided and does not resend.
    Reconcile,
}

/// The value of a `task-status` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    #[serde(flatten)]
    pub task: TaskRef,
    /// Mesos's name: `TASK_RUNNING`, ...
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub source: StatusSource,
}

/// The value of a `task-ack` invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckAsk {
    #[serde(flatten)]
    pub task: TaskRef,
    pub uuid: String,
}

/// One run of a task, as its sandbox shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Marker {
    #[serde(flatten)]
    pub task: TaskRef,
    /// The agent process (the harness's number) whose work dir held it.
    pub agent: u64,
    /// The sandbox directory: a second run gets a new one.
    pub sandbox: String,
}

/// The value of a `task-markers` completion.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markers {
    pub markers: Vec<Marker>,
}

impl HistoryValue for FrameworkNote {}
impl HistoryValue for LaunchAsk {}
impl HistoryValue for Delivered {}
impl HistoryValue for AckAsk {}
impl HistoryValue for Markers {}
impl HistoryValue for TaskRef {}
