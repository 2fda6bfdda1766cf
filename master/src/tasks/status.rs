//! Status updates the master writes itself (source `SOURCE_MASTER`, no
//! uuid: nobody acknowledges them), with the states and reasons of SPEC 3.

use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{FrameworkInfo, Task, TaskState, TaskStatus, TimeInfo};
use mesoraft_registry::TimeNs;

/// Whether a framework asked for the partition-aware states.
pub fn partition_aware(framework: &FrameworkInfo) -> bool {
    framework
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(Capability::PartitionAware as i32))
}

/// States after which a task never changes again (SPEC 4).
pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator)
    )
}

/// Why the master changes a task's state on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterReason {
    /// Its agent was marked unreachable (missed pings, or not back after a
    /// failover).
    AgentUnreachable { since_ns: TimeNs },
    /// The operator marked its agent gone.
    AgentGone,
    /// Its agent unregistered (shut down cleanly).
    AgentRemoved,
    /// Its agent came back and still runs it.
    AgentReregistered,
    /// Its agent re-registered without it: the agent never got it, or it
    /// ended and its updates were lost with the agent's work dir.
    MissingOnAgent,
    /// Its framework was removed (torn down, or its failover timeout ran
    /// out): its agents kill it and send no more updates for it.
    FrameworkRemoved,
}

/// The update the master sends the framework of `task` for `reason`, at
/// `now_ns`.
pub fn master_update(
    task: &Task,
    framework: &FrameworkInfo,
    reason: MasterReason,
    now_ns: TimeNs,
) -> TaskStatus {
    let aware = partition_aware(framework);
    let (state, why, unreachable_since, message) = match reason {
        MasterReason::AgentUnreachable { since_ns } => (
            if aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            },
            Reason::AgentRemoved,
            Some(since_ns),
            "Agent is unreachable".to_string(),
        ),
        MasterReason::AgentGone => (
            if aware {
                TaskState::TaskGoneByOperator
            } else {
                TaskState::TaskLost
            },
            Reason::AgentRemovedByOperator,
            None,
            "Agent has been marked gone".to_string(),
        ),
        MasterReason::AgentRemoved => (
            if aware {
                TaskState::TaskGone
            } else {
                TaskState::TaskLost
            },
            Reason::AgentRemoved,
            None,
            "Agent unregistered".to_string(),
        ),
        MasterReason::AgentReregistered => (
            TaskState::try_from(task.state).unwrap_or(TaskState::TaskRunning),
            Reason::AgentReregistered,
            None,
            "Agent reregistered".to_string(),
        ),
        MasterReason::MissingOnAgent => (
            if aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            },
            Reason::Reconciliation,
            None,
            "Task is unknown to the agent".to_string(),
        ),
        MasterReason::FrameworkRemoved => (
            TaskState::TaskKilled,
            Reason::FrameworkRemoved,
            None,
            "Framework removed".to_string(),
        ),
    };
    TaskStatus {
        task_id: task.task_id.clone(),
        state: state as i32,
        message: Some(message),
        source: Some(Source::Master as i32),
        reason: Some(why as i32),
        agent_id: Some(task.agent_id.clone()),
        executor_id: task.executor_id.clone(),
        timestamp: Some(now_ns as f64 / 1e9),
        unreachable_time: unreachable_since.map(|nanoseconds| TimeInfo { nanoseconds }),
        ..TaskStatus::default()
    }
}
