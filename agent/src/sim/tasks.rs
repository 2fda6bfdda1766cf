//! What a simulated agent answers when the master hands it work, decided
//! without I/O: by default nothing (the agent measures registration
//! only); with `--tasks run` every launched task reports TASK_RUNNING and
//! stays; with `--tasks finish` it reports TASK_RUNNING and TASK_FINISHED
//! at once, so a scheduling benchmark sees short tasks end without any
//! process being started. A kill is answered with TASK_KILLED in both.
//!
//! The simulator keeps no update streams: each update carries a fresh
//! uuid and is sent once, and the acknowledgements that come back are
//! dropped. Nothing here retries, so a master that loses an update (a
//! failover) leaves the task to reconciliation, as the benchmark expects
//! of a simulator.

use mesoraft_proto::agent::{
    agent_to_master, master_to_agent, KillTaskMessage, RunTaskGroupMessage, RunTaskMessage,
    StatusUpdate, StatusUpdateMessage,
};
use mesoraft_proto::mesos::v1::{
    task_status, AgentId, ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// How launched tasks behave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskMode {
    /// Launches are ignored: no update is ever sent (the tasks stay
    /// STAGING on the master).
    #[default]
    Ignore,
    /// Every launched task reports TASK_RUNNING and keeps its resources.
    Run,
    /// Every launched task reports TASK_RUNNING, then TASK_FINISHED at
    /// once.
    Finish,
}

/// A status update to send, before its uuid and time are stamped.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub task_id: TaskId,
    pub state: TaskState,
}

/// The states a launched task reports under `mode`, in order.
fn launch_states(mode: TaskMode) -> &'static [TaskState] {
    match mode {
        TaskMode::Ignore => &[],
        TaskMode::Run => &[TaskState::TaskRunning],
        TaskMode::Finish => &[TaskState::TaskRunning, TaskState::TaskFinished],
    }
}

/// The executor a task runs in: its own, or (a command task) a command
/// executor named after the task, as Mesos names it.
fn executor_of(task: &TaskInfo) -> ExecutorId {
    task.executor
        .as_ref()
        .map(|e| e.executor_id.clone())
        .unwrap_or_else(|| ExecutorId {
            value: task.task_id.value.clone(),
        })
}

fn planned(
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    states: &[TaskState],
    out: &mut Vec<Planned>,
) {
    out.extend(states.iter().map(|state| Planned {
        framework_id: framework_id.clone(),
        executor_id: executor_id.clone(),
        task_id: task_id.clone(),
        state: *state,
    }));
}

/// The updates `message` calls for under `mode` (none for messages that
/// are not about tasks).
pub fn answer(mode: TaskMode, message: &master_to_agent::Message) -> Vec<Planned> {
    let mut out = Vec::new();
    if mode == TaskMode::Ignore {
        return out;
    }
    match message {
        master_to_agent::Message::RunTask(RunTaskMessage {
            framework_id,
            framework,
            task,
        }) => {
            // The message's own id first, as the agent reads it; the
            // framework's info carries it too.
            let Some(framework_id) = framework_id.as_ref().or(framework.id.as_ref()) else {
                return out;
            };
            let states = launch_states(mode);
            planned(
                framework_id,
                &executor_of(task),
                &task.task_id,
                states,
                &mut out,
            );
        }
        master_to_agent::Message::RunTaskGroup(RunTaskGroupMessage {
            framework,
            executor,
            task_group,
        }) => {
            let Some(framework_id) = framework.id.as_ref().or(executor.framework_id.as_ref())
            else {
                return out;
            };
            for task in &task_group.tasks {
                planned(
                    framework_id,
                    &executor.executor_id,
                    &task.task_id,
                    launch_states(mode),
                    &mut out,
                );
            }
        }
        master_to_agent::Message::KillTask(KillTaskMessage {
            framework_id,
            task_id,
            ..
        }) => {
            // The simulator does not remember its tasks' executors: the
            // command executor's name is the best guess, and the master
            // keys tasks by framework and task id only.
            let executor_id = ExecutorId {
                value: task_id.value.clone(),
            };
            planned(
                framework_id,
                &executor_id,
                task_id,
                &[TaskState::TaskKilled],
                &mut out,
            );
        }
        _ => {}
    }
    out
}

/// The message that sends `planned` from `agent_id`, stamped with `uuid`
/// and `timestamp` (seconds since the Unix epoch).
pub fn update_message(
    planned: Planned,
    agent_id: &str,
    uuid: Vec<u8>,
    timestamp: f64,
) -> agent_to_master::Message {
    let agent = AgentId {
        value: agent_id.to_string(),
    };
    let mut status = TaskStatus {
        task_id: planned.task_id,
        agent_id: Some(agent.clone()),
        executor_id: Some(planned.executor_id.clone()),
        timestamp: Some(timestamp),
        uuid: Some(uuid.clone()),
        ..TaskStatus::default()
    };
    status.set_state(planned.state);
    status.set_source(task_status::Source::Executor);
    let mut update = StatusUpdate {
        framework_id: planned.framework_id,
        executor_id: Some(planned.executor_id),
        slave_id: Some(agent),
        status,
        timestamp,
        uuid: Some(uuid),
        latest_state: None,
    };
    update.set_latest_state(planned.state);
    agent_to_master::Message::StatusUpdate(StatusUpdateMessage { update })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{ExecutorInfo, FrameworkInfo, TaskGroupInfo};

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            ..TaskInfo::default()
        }
    }

    fn run(id: &str) -> master_to_agent::Message {
        master_to_agent::Message::RunTask(RunTaskMessage {
            framework_id: Some(FrameworkId { value: "f1".into() }),
            framework: FrameworkInfo::default(),
            task: task(id),
        })
    }

    fn states(planned: &[Planned]) -> Vec<(String, TaskState)> {
        planned
            .iter()
            .map(|p| (p.task_id.value.clone(), p.state))
            .collect()
    }

    #[test]
    fn a_launch_runs_then_finishes_in_finish_mode_and_only_runs_in_run_mode() {
        let finish = answer(TaskMode::Finish, &run("t1"));
        assert_eq!(
            states(&finish),
            [
                ("t1".into(), TaskState::TaskRunning),
                ("t1".into(), TaskState::TaskFinished)
            ]
        );
        assert_eq!(finish[0].framework_id.value, "f1");
        assert_eq!(finish[0].executor_id.value, "t1");
        assert_eq!(
            states(&answer(TaskMode::Run, &run("t1"))),
            [("t1".into(), TaskState::TaskRunning)]
        );
        assert!(answer(TaskMode::Ignore, &run("t1")).is_empty());
    }

    #[test]
    fn a_group_reports_every_task_in_its_executor_and_a_kill_is_killed() {
        let group = master_to_agent::Message::RunTaskGroup(RunTaskGroupMessage {
            framework: FrameworkInfo {
                id: Some(FrameworkId { value: "f2".into() }),
                ..FrameworkInfo::default()
            },
            executor: ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                ..ExecutorInfo::default()
            },
            task_group: TaskGroupInfo {
                tasks: vec![task("a"), task("b")],
            },
        });
        let planned = answer(TaskMode::Run, &group);
        assert_eq!(
            states(&planned),
            [
                ("a".into(), TaskState::TaskRunning),
                ("b".into(), TaskState::TaskRunning)
            ]
        );
        assert!(planned.iter().all(|p| p.executor_id.value == "e1"));
        let kill = master_to_agent::Message::KillTask(KillTaskMessage {
            framework_id: FrameworkId { value: "f2".into() },
            task_id: TaskId { value: "a".into() },
            kill_policy: None,
        });
        assert_eq!(
            states(&answer(TaskMode::Finish, &kill)),
            [("a".into(), TaskState::TaskKilled)]
        );
        // A launch without any framework id has nobody to report to.
        let orphan = master_to_agent::Message::RunTask(RunTaskMessage {
            framework_id: None,
            framework: FrameworkInfo::default(),
            task: task("t"),
        });
        assert!(answer(TaskMode::Finish, &orphan).is_empty());
    }

    #[test]
    fn an_update_carries_its_uuid_state_and_agent_twice_as_the_master_reads_them() {
        let planned = answer(TaskMode::Finish, &run("t1")).remove(1);
        let message = update_message(planned, "c-S3", vec![7; 16], 12.5);
        let update = match message {
            agent_to_master::Message::StatusUpdate(StatusUpdateMessage { update }) => update,
            other => panic!("not an update: {other:?}"),
        };
        assert_eq!(update.uuid.as_deref(), Some(&[7u8; 16][..]));
        assert_eq!(update.status.uuid, update.uuid);
        assert_eq!(update.status.state(), TaskState::TaskFinished);
        assert_eq!(update.latest_state(), TaskState::TaskFinished);
        assert_eq!(update.slave_id.map(|a| a.value).as_deref(), Some("c-S3"));
        assert_eq!(update.status.source(), task_status::Source::Executor);
        assert_eq!(update.timestamp, 12.5);
    }
}
