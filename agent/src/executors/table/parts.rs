//! The table's building blocks: the executor a task runs in, the task as
//! the master sees it, updates the agent makes itself, launching queued
//! tasks, shutting an executor down, container limits.

use std::time::Duration;

use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::executor::{event, Event as ExecutorEvent};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{
    value, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Resource, Task,
    TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

use super::{is_terminal, ExecState, Executor, Stamps, TaskEntry, TaskPhase};
use crate::executors::model::{Action, ExecutorKey, Limits, RunKey, TableTimer};

/// What the command executor itself is given (Mesos's defaults).
pub const COMMAND_EXECUTOR_CPUS: f64 = 0.1;
pub const COMMAND_EXECUTOR_MEM_MB: f64 = 32.0;

/// The executor a task runs in: the framework's, or a command executor
/// named after the task (as Mesos names it).
pub(super) fn executor_for(framework_id: &FrameworkId, task: &TaskInfo) -> (ExecutorInfo, bool) {
    if let Some(executor) = &task.executor {
        let mut info = executor.clone();
        info.framework_id = Some(framework_id.clone());
        return (info, false);
    }
    let command = task
        .command
        .as_ref()
        .and_then(|c| c.value.clone())
        .unwrap_or_default();
    let info = ExecutorInfo {
        executor_id: ExecutorId {
            value: task.task_id.value.clone(),
        },
        framework_id: Some(framework_id.clone()),
        name: Some(format!(
            "Command Executor (Task: {}) (Command: sh -c '{}')",
            task.task_id.value,
            command.chars().take(30).collect::<String>()
        )),
        command: Some(CommandInfo::default()),
        labels: task.labels.clone(),
        // Mesos gives the command executor itself these on top of the
        // task's (DEFAULT_EXECUTOR_CPUS, DEFAULT_EXECUTOR_MEM), so a task's
        // memory limit is not eaten by the executor process.
        resources: vec![
            crate::resources::scalar("cpus", COMMAND_EXECUTOR_CPUS),
            crate::resources::scalar("mem", COMMAND_EXECUTOR_MEM_MB),
        ],
        ..Default::default()
    };
    (info, true)
}

pub(super) fn task_of(
    info: &TaskInfo,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    agent_id: &mesoraft_proto::mesos::v1::AgentId,
) -> Task {
    Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: framework_id.clone(),
        executor_id: Some(executor_id.clone()),
        agent_id: agent_id.clone(),
        state: TaskState::TaskStaging as i32,
        resources: info.resources.clone(),
        labels: info.labels.clone(),
        kill_policy: info.kill_policy,
        limits: info.limits.clone(),
        ..Default::default()
    }
}

/// Sends every queued task to the executor, in the order they came: a
/// task alone as LAUNCH, the tasks of a group together as one
/// LAUNCH_GROUP.
pub(super) fn launch_queued(key: &ExecutorKey, executor: &mut Executor) -> Vec<Action> {
    let mut queued: Vec<&mut TaskEntry> = executor
        .tasks
        .values_mut()
        .filter(|t| t.phase == TaskPhase::Queued)
        .collect();
    queued.sort_by_key(|t| t.seq);
    let mut actions = Vec::new();
    // (group, its tasks), in the order their first tasks came.
    let mut groups: Vec<(u64, Vec<TaskInfo>)> = Vec::new();
    for entry in queued {
        entry.phase = TaskPhase::Launched;
        let Some(group) = entry.group else {
            actions.push(Action::Send {
                executor: key.clone(),
                event: Box::new(ExecutorEvent {
                    r#type: Some(event::Type::Launch as i32),
                    launch: Some(event::Launch {
                        task: entry.info.clone(),
                    }),
                    ..Default::default()
                }),
            });
            continue;
        };
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, tasks)) => tasks.push(entry.info.clone()),
            None => groups.push((group, vec![entry.info.clone()])),
        }
    }
    for (_, tasks) in groups {
        actions.push(Action::Send {
            executor: key.clone(),
            event: Box::new(ExecutorEvent {
                r#type: Some(event::Type::LaunchGroup as i32),
                launch_group: Some(event::LaunchGroup {
                    task_group: TaskGroupInfo { tasks },
                }),
                ..Default::default()
            }),
        });
    }
    if !actions.is_empty() {
        executor.ever_sent_task = true;
    }
    actions
}

/// Tells the executor to shut down; kills it after its grace period.
pub(super) fn shutdown_executor(
    key: &ExecutorKey,
    executor: &mut Executor,
    default_grace: Duration,
) -> Vec<Action> {
    let run = RunKey {
        executor: key.clone(),
        container_id: executor.container_id.clone(),
    };
    match executor.state {
        ExecState::Terminating | ExecState::Terminated => Vec::new(),
        ExecState::Running { .. } => {
            executor.state = ExecState::Terminating;
            vec![
                Action::Send {
                    executor: key.clone(),
                    event: Box::new(simple_event(event::Type::Shutdown)),
                },
                Action::StartTimer(
                    TableTimer::ShutdownGrace(run),
                    grace_of_executor(&executor.info, default_grace),
                ),
            ]
        }
        ExecState::Registering | ExecState::Disconnected => {
            // Nothing to tell it through: kill it.
            executor.state = ExecState::Terminating;
            vec![Action::Destroy(run)]
        }
    }
}

/// An update from an executor (an UPDATE call or one carried by a
/// SUBSCRIBE): stamped as the executor's, the task's state follows it.
pub(super) fn executor_status(
    key: &ExecutorKey,
    executor: &mut Executor,
    agent_id: &mesoraft_proto::mesos::v1::AgentId,
    checkpoint_run: Option<RunKey>,
    mut status: TaskStatus,
    stamps: &mut dyn Stamps,
) -> Vec<Action> {
    status.source = Some(Source::Executor as i32);
    status.executor_id = Some(executor.info.executor_id.clone());
    status.agent_id = Some(agent_id.clone());
    let timestamp = status.timestamp.unwrap_or_else(|| stamps.unix_secs());
    status.timestamp = Some(timestamp);
    if let Some(entry) = executor.tasks.get_mut(&status.task_id.value) {
        if entry.phase != TaskPhase::Terminated {
            set_state(entry, &status);
            if is_terminal(status.state()) {
                entry.phase = TaskPhase::Terminated;
            }
        }
    }
    let update = StatusUpdate {
        framework_id: FrameworkId {
            value: key.framework_id.clone(),
        },
        executor_id: Some(executor.info.executor_id.clone()),
        slave_id: Some(agent_id.clone()),
        uuid: status.uuid.clone(),
        timestamp,
        status,
        latest_state: None,
    };
    vec![status_action(update, checkpoint_run, Some(key.clone()))]
}

pub(super) fn set_state(entry: &mut TaskEntry, status: &TaskStatus) {
    entry.task.state = status.state;
    // The latest status only: a task's history is its framework's.
    entry.task.statuses = vec![status.clone()];
}

/// An update the agent makes itself (SOURCE_AGENT, a fresh uuid).
#[allow(clippy::too_many_arguments)]
pub(super) fn agent_update(
    framework_id: &FrameworkId,
    executor_id: Option<&ExecutorId>,
    agent_id: &mesoraft_proto::mesos::v1::AgentId,
    task_id: &TaskId,
    state: TaskState,
    reason: Reason,
    message: &str,
    stamps: &mut dyn Stamps,
) -> StatusUpdate {
    let uuid = stamps.uuid();
    let timestamp = stamps.unix_secs();
    StatusUpdate {
        framework_id: framework_id.clone(),
        executor_id: executor_id.cloned(),
        slave_id: Some(agent_id.clone()),
        status: TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(Source::Agent as i32),
            reason: Some(reason as i32),
            agent_id: Some(agent_id.clone()),
            executor_id: executor_id.cloned(),
            timestamp: Some(timestamp),
            uuid: Some(uuid.clone()),
            ..Default::default()
        },
        timestamp,
        uuid: Some(uuid),
        latest_state: None,
    }
}

pub(super) fn status_action(
    update: StatusUpdate,
    checkpoint_run: Option<RunKey>,
    ack_executor: Option<ExecutorKey>,
) -> Action {
    Action::StatusUpdate {
        update: Box::new(update),
        checkpoint_run,
        ack_executor,
    }
}

pub(super) fn simple_event(kind: event::Type) -> ExecutorEvent {
    ExecutorEvent {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

pub(super) fn partition_aware(info: &FrameworkInfo) -> bool {
    info.capabilities
        .iter()
        .any(|c| c.r#type() == Capability::PartitionAware)
}

pub(super) fn grace_of_executor(info: &ExecutorInfo, default: Duration) -> Duration {
    info.shutdown_grace_period
        .as_ref()
        .and_then(|d| u64::try_from(d.nanoseconds).ok())
        .map(Duration::from_nanos)
        .unwrap_or(default)
}

/// The container's limits: cpus and mem of the executor and every task
/// it has not finished.
pub(super) fn executor_limits(executor: &Executor) -> Limits {
    limits_of(
        executor.info.resources.iter().chain(
            executor
                .tasks
                .values()
                .filter(|t| t.phase != TaskPhase::Terminated)
                .flat_map(|t| &t.info.resources),
        ),
    )
}

pub(super) fn limits_of<'a>(resources: impl Iterator<Item = &'a Resource>) -> Limits {
    let mut limits = Limits::default();
    for resource in resources {
        if resource.r#type() != value::Type::Scalar {
            continue;
        }
        let Some(amount) = resource.scalar.as_ref().map(|s| s.value) else {
            continue;
        };
        if !amount.is_finite() || amount < 0.0 {
            continue;
        }
        match resource.name.as_str() {
            "cpus" => *limits.cpus.get_or_insert(0.0) += amount,
            "mem" => *limits.mem_mb.get_or_insert(0.0) += amount,
            _ => {}
        }
    }
    limits
}

/// A uuid's canonical text (container ids are uuids, as in Mesos).
pub fn uuid_text(bytes: &[u8]) -> String {
    match <[u8; 16]>::try_from(bytes) {
        Ok(b) => uuid::Uuid::from_bytes(b).to_string(),
        Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
