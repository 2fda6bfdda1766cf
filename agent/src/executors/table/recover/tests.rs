//! The table rebuilt after a restart.

use super::*;
use crate::checkpoint::runtime::RecoveredTask;
use crate::executors::model::{Event, ExecutorKey};
use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::executor::{call, event};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as FrameworkCapability;
use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Task, TaskId,
    TaskStatus,
};

struct Fixed(u8);

impl Stamps for Fixed {
    fn uuid(&mut self) -> Vec<u8> {
        self.0 += 1;
        vec![self.0; 16]
    }
    fn unix_secs(&self) -> f64 {
        1.0
    }
}

fn table() -> Table {
    Table::new(
        AgentInfo {
            hostname: "a1".into(),
            id: Some(AgentId {
                value: "c-S1".into(),
            }),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
}

fn run(executor: &str) -> RunKey {
    RunKey {
        executor: ExecutorKey {
            framework_id: "f1".into(),
            executor_id: executor.into(),
        },
        container_id: format!("c-{executor}"),
    }
}

fn update(task: &str, state: TaskState, uuid: u8) -> Record {
    Record::Update(Box::new(StatusUpdate {
        framework_id: FrameworkId { value: "f1".into() },
        status: TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(vec![uuid; 16]),
        ..Default::default()
    }))
}

fn task(id: &str, updates: Vec<Record>) -> RecoveredTask {
    RecoveredTask {
        task: Task {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "f1".into() },
            agent_id: AgentId {
                value: "c-S1".into(),
            },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        },
        updates,
    }
}

fn executor(id: &str, tasks: Vec<RecoveredTask>) -> RecoveredExecutor {
    RecoveredExecutor {
        info: ExecutorInfo {
            executor_id: ExecutorId { value: id.into() },
            ..Default::default()
        },
        run: run(id),
        command_executor: true,
        pid: Some(100),
        start_time: Some(1),
        tasks,
    }
}

fn framework(partition_aware: bool, executors: Vec<RecoveredExecutor>) -> RecoveredFramework {
    RecoveredFramework {
        info: FrameworkInfo {
            user: "root".into(),
            name: "fw".into(),
            id: Some(FrameworkId { value: "f1".into() }),
            checkpoint: Some(true),
            capabilities: partition_aware
                .then_some(FrameworkCapability {
                    r#type: Some(Capability::PartitionAware as i32),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        },
        executors,
    }
}

/// (task, state, reason) of the updates among `actions`, with whether
/// each is checkpointed.
fn updates(actions: &[Action]) -> Vec<(String, TaskState, Option<Reason>, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StatusUpdate {
                update,
                checkpoint_run,
                ..
            } => {
                assert_eq!(update.status.source(), Source::Agent);
                Some((
                    update.status.task_id.value.clone(),
                    update.status.state(),
                    update.status.reason.map(|_| update.status.reason()),
                    checkpoint_run.is_some(),
                ))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_live_executor_waits_to_subscribe_again_with_its_tasks_as_last_recorded() {
    let (mut t, mut s) = (table(), Fixed(0));
    let recovered = framework(
        false,
        vec![executor(
            "e1",
            vec![
                task(
                    "running",
                    vec![
                        update("running", TaskState::TaskRunning, 1),
                        Record::Ack(vec![1; 16]),
                    ],
                ),
                task(
                    "done",
                    vec![
                        update("done", TaskState::TaskFinished, 2),
                        Record::Ack(vec![2; 16]),
                    ],
                ),
                task("ended", vec![update("ended", TaskState::TaskFailed, 3)]),
            ],
        )],
    );
    let actions = t.recover(vec![recovered], |_| true, Duration::from_secs(2), &mut s);
    assert_eq!(
        actions,
        vec![Action::StartTimer(
            TableTimer::Reregistration,
            Duration::from_secs(2)
        )]
    );
    assert_eq!(t.recovering(), vec![run("e1")]);
    let (tasks, _, frameworks) = t.reregistration();
    let states: Vec<_> = tasks
        .iter()
        .map(|t| (t.task_id.value.as_str(), t.state()))
        .collect();
    // The acknowledged terminal task is complete; the other ended one
    // waits for its acknowledgement.
    assert_eq!(
        states,
        [
            ("running", TaskState::TaskRunning),
            ("ended", TaskState::TaskFailed)
        ]
    );
    assert_eq!(frameworks.len(), 1);

    // It subscribes again: no launch, its executor gets SUBSCRIBED only.
    let actions = t
        .step(
            Event::Subscribe {
                executor: run("e1").executor,
                connection: 1,
                subscribe: call::Subscribe::default(),
            },
            &mut s,
        )
        .unwrap();
    let sent: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { event, .. } => Some(event.r#type()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [event::Type::Subscribed]);
    assert!(t.recovering().is_empty());
    // In time: the timer finds nothing to kill.
    let late = t
        .step(Event::Timer(TableTimer::Reregistration), &mut s)
        .unwrap();
    assert!(late.is_empty());
}

#[test]
fn the_tasks_of_a_dead_executor_are_lost_or_gone_through_the_update_stream() {
    for (partition_aware, state) in [(false, TaskState::TaskLost), (true, TaskState::TaskGone)] {
        let (mut t, mut s) = (table(), Fixed(0));
        let recovered = framework(
            partition_aware,
            vec![executor(
                "e1",
                vec![task("t1", vec![update("t1", TaskState::TaskRunning, 1)])],
            )],
        );
        let actions = t.recover(vec![recovered], |_| false, Duration::from_secs(2), &mut s);
        assert_eq!(
            updates(&actions),
            [(
                "t1".into(),
                state,
                Some(Reason::ExecutorReregistrationTimeout),
                true
            )]
        );
        assert!(!actions
            .iter()
            .any(|a| matches!(a, Action::StartTimer(TableTimer::Reregistration, _))));
    }
}

#[test]
fn a_live_executor_that_does_not_subscribe_in_time_is_killed_and_its_tasks_lost() {
    let (mut t, mut s) = (table(), Fixed(0));
    let recovered = framework(
        false,
        vec![executor(
            "e1",
            vec![task("t1", vec![update("t1", TaskState::TaskRunning, 1)])],
        )],
    );
    t.recover(vec![recovered], |_| true, Duration::from_secs(2), &mut s);
    let actions = t
        .step(Event::Timer(TableTimer::Reregistration), &mut s)
        .unwrap();
    assert_eq!(actions, vec![Action::Destroy(run("e1"))]);
    let actions = t
        .step(
            Event::ExecutorExited {
                run: run("e1"),
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskLost,
            Some(Reason::ExecutorReregistrationTimeout),
            true
        )]
    );
}

#[test]
fn a_task_never_updated_that_the_executor_does_not_know_is_lost_on_resubscription() {
    let (mut t, mut s) = (table(), Fixed(0));
    let recovered = framework(false, vec![executor("e1", vec![task("t1", vec![])])]);
    t.recover(vec![recovered], |_| true, Duration::from_secs(2), &mut s);
    let actions = t
        .step(
            Event::Subscribe {
                executor: run("e1").executor,
                connection: 1,
                subscribe: call::Subscribe::default(),
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskLost,
            Some(Reason::AgentRestarted),
            true
        )]
    );
}
