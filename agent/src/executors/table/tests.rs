//! The executor table, event by event.

use super::*;
use crate::executors::model::Limits;
use mesoraft_proto::mesos::v1::executor::call::{self, Update};
use mesoraft_proto::mesos::v1::executor::event;
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as FrameworkCapability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{value, AgentId, CommandInfo, ExecutorId, Resource, TaskStatus};

pub(super) struct Fixed(pub(super) u8);

impl Stamps for Fixed {
    fn uuid(&mut self) -> Vec<u8> {
        self.0 += 1;
        vec![self.0; 16]
    }
    fn unix_secs(&self) -> f64 {
        1_700_000_000.0
    }
}

pub(super) fn table() -> Table {
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

pub(super) fn framework(checkpoint: bool, partition_aware: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "fw".into(),
        id: Some(FrameworkId { value: "f1".into() }),
        checkpoint: Some(checkpoint),
        capabilities: partition_aware
            .then_some(FrameworkCapability {
                r#type: Some(Capability::PartitionAware as i32),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

pub(super) fn scalar(name: &str, amount: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Default::default()
    }
}

pub(super) fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: "c-S1".into(),
        },
        resources: vec![scalar("cpus", 0.5), scalar("mem", 64.0)],
        command: Some(CommandInfo {
            value: Some("sleep 1".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn key(task: &str) -> ExecutorKey {
    ExecutorKey {
        framework_id: "f1".into(),
        executor_id: task.into(),
    }
}

fn run_task(t: &mut Table, s: &mut Fixed, fw: FrameworkInfo, id: &str) -> Vec<Action> {
    t.step(
        Event::RunTask {
            framework: fw,
            task: task(id),
        },
        s,
    )
    .unwrap()
}

fn subscribe(t: &mut Table, s: &mut Fixed, id: &str, connection: u64) -> Vec<Action> {
    t.step(
        Event::Subscribe {
            executor: key(id),
            connection,
            subscribe: call::Subscribe::default(),
        },
        s,
    )
    .unwrap()
}

pub(super) fn status(id: &str, state: TaskState, uuid: u8) -> TaskStatus {
    TaskStatus {
        task_id: TaskId { value: id.into() },
        state: state as i32,
        uuid: Some(vec![uuid; 16]),
        timestamp: Some(1.0),
        ..Default::default()
    }
}

fn update(t: &mut Table, s: &mut Fixed, id: &str, state: TaskState, uuid: u8) -> Vec<Action> {
    t.step(
        Event::Update {
            executor: key(id),
            status: status(id, state, uuid),
        },
        s,
    )
    .unwrap()
}

/// A table whose executor `t1` (checkpointing or not) subscribed and
/// reported its task TASK_RUNNING.
fn running_t1(checkpoint: bool) -> (Table, Fixed, RunKey) {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(
        &mut t,
        &mut s,
        framework(checkpoint, false),
        "t1",
    ));
    subscribe(&mut t, &mut s, "t1", 1);
    update(&mut t, &mut s, "t1", TaskState::TaskRunning, 9);
    (t, s, run)
}

pub(super) fn run_of(actions: &[Action]) -> RunKey {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Launch(spec) => Some(spec.run.clone()),
            _ => None,
        })
        .expect("a launch")
}

/// The updates among `actions`: (task, state, reason, source).
pub(super) fn updates(
    actions: &[Action],
) -> Vec<(String, TaskState, Option<Reason>, Option<Source>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StatusUpdate { update, .. } => Some((
                update.status.task_id.value.clone(),
                update.status.state(),
                update.status.reason.map(|_| update.status.reason()),
                update.status.source.map(|_| update.status.source()),
            )),
            _ => None,
        })
        .collect()
}

pub(super) fn sent_types(actions: &[Action]) -> Vec<event::Type> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { event, .. } => Some(event.r#type()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_task_is_queued_until_its_command_executor_subscribes_then_launched() {
    let (mut t, mut s) = (table(), Fixed(0));
    let actions = run_task(&mut t, &mut s, framework(true, false), "t1");
    assert!(matches!(
        &actions[0],
        Action::Checkpoint(Checkpoint::Framework(_))
    ));
    assert!(matches!(
        &actions[1],
        Action::Checkpoint(Checkpoint::Executor {
            command_executor: true,
            ..
        })
    ));
    let Action::Launch(spec) = &actions[2] else {
        panic!("{actions:?}")
    };
    assert!(spec.command_executor);
    assert_eq!(spec.executor.executor_id.value, "t1");
    // The task's resources plus the command executor's own.
    assert_eq!(
        spec.limits,
        Limits {
            cpus: Some(0.5 + parts::COMMAND_EXECUTOR_CPUS),
            mem_mb: Some(64.0 + parts::COMMAND_EXECUTOR_MEM_MB)
        }
    );
    assert_eq!(spec.shutdown_grace_period, Duration::from_secs(5));
    assert!(matches!(
        &actions[3],
        Action::StartTimer(TableTimer::Registration(_), REGISTRATION_TIMEOUT)
    ));
    assert!(matches!(
        &actions[4],
        Action::Checkpoint(Checkpoint::Task { .. })
    ));
    let (tasks, executors, frameworks) = t.reregistration();
    assert_eq!(tasks[0].state(), TaskState::TaskStaging);
    assert!(executors.is_empty(), "command executors are not reported");
    assert_eq!(frameworks.len(), 1);

    let actions = subscribe(&mut t, &mut s, "t1", 1);
    assert_eq!(
        sent_types(&actions),
        [event::Type::Subscribed, event::Type::Launch]
    );
    let Action::Send { event, .. } = &actions[0] else {
        panic!()
    };
    let subscribed = event.subscribed.as_ref().unwrap();
    assert_eq!(subscribed.agent_info.id.as_ref().unwrap().value, "c-S1");
    assert_eq!(subscribed.framework_info.id.as_ref().unwrap().value, "f1");
    assert!(subscribed.container_id.is_some());
}

#[test]
fn executor_updates_move_the_task_and_go_to_the_update_manager_with_an_executor_ack() {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(true, false), "t1"));
    subscribe(&mut t, &mut s, "t1", 1);
    let actions = update(&mut t, &mut s, "t1", TaskState::TaskRunning, 9);
    let [Action::StatusUpdate {
        update: running,
        checkpoint_run,
        ack_executor,
    }] = &actions[..]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(running.uuid, Some(vec![9; 16]));
    assert_eq!(running.status.source(), Source::Executor);
    assert_eq!(running.status.executor_id.as_ref().unwrap().value, "t1");
    assert_eq!(running.slave_id.as_ref().unwrap().value, "c-S1");
    assert_eq!(checkpoint_run.as_ref(), Some(&run));
    assert_eq!(ack_executor.as_ref(), Some(&key("t1")));
    assert_eq!(t.reregistration().0[0].state(), TaskState::TaskRunning);

    // The master is told the latest state with each forwarded update.
    let mut forwarded = (**running).clone();
    t.forwarding(&mut forwarded);
    assert_eq!(forwarded.latest_state, Some(TaskState::TaskRunning as i32));

    update(&mut t, &mut s, "t1", TaskState::TaskFinished, 10);
    let actions = t
        .step(
            Event::ExecutorExited {
                run: run.clone(),
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert!(
        updates(&actions).is_empty(),
        "the task had ended: {actions:?}"
    );
    // Still reported until its terminal update is acknowledged.
    assert_eq!(t.reregistration().0[0].state(), TaskState::TaskFinished);
    let actions = t
        .step(
            Event::TaskCompleted {
                framework_id: FrameworkId { value: "f1".into() },
                task_id: TaskId { value: "t1".into() },
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        actions,
        vec![
            Action::Checkpoint(Checkpoint::RemoveExecutor(key("t1"))),
            Action::Checkpoint(Checkpoint::RemoveFramework(FrameworkId {
                value: "f1".into()
            })),
        ]
    );
    assert_eq!(t.reregistration(), (vec![], vec![], vec![]));
}

#[test]
fn calls_from_unknown_or_unsubscribed_executors_are_refused() {
    let (mut t, mut s) = (table(), Fixed(0));
    let unknown = t.step(
        Event::Subscribe {
            executor: key("t1"),
            connection: 1,
            subscribe: Default::default(),
        },
        &mut s,
    );
    assert_eq!(unknown, Err(Refusal::UnknownFramework));
    run_task(&mut t, &mut s, framework(false, false), "t1");
    let other = t.step(
        Event::Subscribe {
            executor: key("t9"),
            connection: 1,
            subscribe: Default::default(),
        },
        &mut s,
    );
    assert_eq!(other, Err(Refusal::UnknownExecutor));
    let early = t.step(
        Event::Update {
            executor: key("t1"),
            status: status("t1", TaskState::TaskRunning, 1),
        },
        &mut s,
    );
    assert_eq!(early, Err(Refusal::NotSubscribed));
    let message = t.step(
        Event::ExecutorMessage {
            executor: key("t1"),
            data: vec![1],
        },
        &mut s,
    );
    assert_eq!(message, Err(Refusal::NotSubscribed));
}

#[test]
fn killing_a_queued_task_answers_killed_and_shuts_its_unused_executor_down() {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(false, false), "t1"));
    let actions = t
        .step(
            Event::KillTask {
                framework_id: FrameworkId { value: "f1".into() },
                task_id: TaskId { value: "t1".into() },
                kill_policy: None,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskKilled,
            Some(Reason::TaskKilledDuringLaunch),
            Some(Source::Agent)
        )]
    );
    assert_eq!(actions.last(), Some(&Action::Destroy(run)));
}

#[test]
fn killing_a_launched_task_goes_to_its_executor_and_an_unknown_one_is_lost_or_dropped() {
    let (mut t, mut s) = (table(), Fixed(0));
    run_task(&mut t, &mut s, framework(false, false), "t1");
    subscribe(&mut t, &mut s, "t1", 1);
    let kill = |id: &str| Event::KillTask {
        framework_id: FrameworkId { value: "f1".into() },
        task_id: TaskId { value: id.into() },
        kill_policy: None,
    };
    let actions = t.step(kill("t1"), &mut s).unwrap();
    assert_eq!(sent_types(&actions), [event::Type::Kill]);
    let actions = t.step(kill("t9"), &mut s).unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t9".into(),
            TaskState::TaskLost,
            Some(Reason::ExecutorTerminated),
            Some(Source::Agent)
        )]
    );

    let (mut t, mut s) = (table(), Fixed(0));
    run_task(&mut t, &mut s, framework(false, true), "t1");
    let actions = t.step(kill("t9"), &mut s).unwrap();
    assert_eq!(updates(&actions)[0].1, TaskState::TaskDropped);
}

#[test]
fn an_executor_that_ends_fails_its_unfinished_tasks_with_the_reason() {
    let (mut t, mut s, run) = running_t1(false);
    let actions = t
        .step(
            Event::ExecutorExited {
                run: run.clone(),
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskFailed,
            Some(Reason::ExecutorTerminated),
            Some(Source::Agent)
        )]
    );
    // Reported twice by nothing: a second exit of the same run is a no-op.
    let again = t
        .step(
            Event::ExecutorExited {
                run,
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert!(again.is_empty());

    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(false, false), "t1"));
    subscribe(&mut t, &mut s, "t1", 1);
    let memory = Termination {
        state: TaskState::TaskFailed,
        reason: Reason::ContainerLimitationMemory,
        message: "Memory limit exceeded".into(),
    };
    let actions = t
        .step(
            Event::ExecutorExited {
                run,
                limitation: Some(memory),
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions)[0].2,
        Some(Reason::ContainerLimitationMemory)
    );
}

#[test]
fn shutting_a_framework_down_tells_its_executors_then_kills_them_and_sends_no_updates() {
    let (mut t, mut s, run) = running_t1(true);
    let actions = t
        .step(
            Event::ShutdownFramework {
                framework_id: FrameworkId { value: "f1".into() },
            },
            &mut s,
        )
        .unwrap();
    assert!(matches!(actions[0], Action::DropUpdates { .. }));
    assert_eq!(sent_types(&actions), [event::Type::Shutdown]);
    assert!(actions.contains(&Action::StartTimer(
        TableTimer::ShutdownGrace(run.clone()),
        Duration::from_secs(5)
    )));
    // Its updates from now on are dropped; new tasks too.
    assert!(update(&mut t, &mut s, "t1", TaskState::TaskKilled, 10).is_empty());
    assert!(run_task(&mut t, &mut s, framework(true, false), "t2").is_empty());

    let actions = t
        .step(Event::Timer(TableTimer::ShutdownGrace(run.clone())), &mut s)
        .unwrap();
    assert_eq!(actions, vec![Action::Destroy(run.clone())]);
    let actions = t
        .step(
            Event::ExecutorExited {
                run,
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert!(updates(&actions).is_empty());
    assert!(
        actions.contains(&Action::Checkpoint(Checkpoint::RemoveFramework(
            FrameworkId { value: "f1".into() }
        )))
    );
    assert_eq!(t.reregistration(), (vec![], vec![], vec![]));
}

#[test]
fn a_shutdown_of_one_executor_tells_it_then_kills_it_and_keeps_its_updates() {
    let (mut t, mut s, run) = running_t1(true);
    let actions = t
        .step(
            Event::ShutdownExecutor {
                executor: key("t1"),
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(sent_types(&actions), [event::Type::Shutdown]);
    assert!(actions.contains(&Action::StartTimer(
        TableTimer::ShutdownGrace(run.clone()),
        Duration::from_secs(5)
    )));
    // Unlike a framework's shutdown, the task's end still goes out.
    let killed = update(&mut t, &mut s, "t1", TaskState::TaskKilled, 10);
    assert_eq!(updates(&killed)[0].1, TaskState::TaskKilled);
    // Twice, or of an executor not here: nothing more.
    for executor in ["t1", "t9"] {
        let actions = t
            .step(
                Event::ShutdownExecutor {
                    executor: key(executor),
                },
                &mut s,
            )
            .unwrap();
        assert!(actions.is_empty(), "{executor}: {actions:?}");
    }
}

#[test]
fn a_lost_stream_shuts_a_non_checkpointing_executor_down_but_a_checkpointing_one_may_return() {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(false, false), "t1"));
    subscribe(&mut t, &mut s, "t1", 1);
    // A stale stream closing changes nothing.
    assert!(t
        .step(
            Event::Disconnected {
                executor: key("t1"),
                connection: 0
            },
            &mut s
        )
        .unwrap()
        .is_empty());
    let actions = t
        .step(
            Event::Disconnected {
                executor: key("t1"),
                connection: 1,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        actions,
        vec![Action::StartTimer(
            TableTimer::ShutdownGrace(run),
            Duration::from_secs(5)
        )]
    );

    let (mut t, mut s) = (table(), Fixed(0));
    run_task(&mut t, &mut s, framework(true, false), "t1");
    subscribe(&mut t, &mut s, "t1", 1);
    update(&mut t, &mut s, "t1", TaskState::TaskRunning, 9);
    let actions = t
        .step(
            Event::Disconnected {
                executor: key("t1"),
                connection: 1,
            },
            &mut s,
        )
        .unwrap();
    assert!(actions.is_empty());
    // A kill waits for the executor to come back.
    let kill = t
        .step(
            Event::KillTask {
                framework_id: FrameworkId { value: "f1".into() },
                task_id: TaskId { value: "t1".into() },
                kill_policy: None,
            },
            &mut s,
        )
        .unwrap();
    assert!(kill.is_empty());
    let actions = t
        .step(
            Event::Subscribe {
                executor: key("t1"),
                connection: 2,
                subscribe: call::Subscribe {
                    unacknowledged_tasks: vec![],
                    unacknowledged_updates: vec![Update {
                        status: status("t1", TaskState::TaskRunning, 9),
                    }],
                },
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(updates(&actions)[0].1, TaskState::TaskRunning);
    assert_eq!(
        sent_types(&actions),
        [event::Type::Subscribed, event::Type::Kill]
    );
}

#[test]
fn a_staging_task_the_resubscribing_executor_never_got_is_lost() {
    let (mut t, mut s) = (table(), Fixed(0));
    run_task(&mut t, &mut s, framework(true, false), "t1");
    subscribe(&mut t, &mut s, "t1", 1);
    t.step(
        Event::Disconnected {
            executor: key("t1"),
            connection: 1,
        },
        &mut s,
    )
    .unwrap();
    let actions = subscribe(&mut t, &mut s, "t1", 2);
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskLost,
            Some(Reason::AgentRestarted),
            Some(Source::Agent)
        )]
    );
}

#[test]
fn an_executor_that_never_subscribes_is_killed_and_its_tasks_fail() {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(false, false), "t1"));
    let actions = t
        .step(Event::Timer(TableTimer::Registration(run.clone())), &mut s)
        .unwrap();
    assert_eq!(actions, vec![Action::Destroy(run.clone())]);
    let actions = t
        .step(
            Event::ExecutorExited {
                run,
                limitation: None,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions)[0].2,
        Some(Reason::ExecutorRegistrationTimeout)
    );
}

#[test]
fn a_failed_launch_fails_the_tasks_with_container_launch_failed() {
    let (mut t, mut s) = (table(), Fixed(0));
    let run = run_of(&run_task(&mut t, &mut s, framework(false, false), "t1"));
    let actions = t
        .step(
            Event::LaunchFailed {
                run,
                error: "no such file".into(),
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "t1".into(),
            TaskState::TaskFailed,
            Some(Reason::ContainerLaunchFailed),
            Some(Source::Agent)
        )]
    );
}

#[test]
fn a_framework_s_own_executor_runs_several_tasks_and_is_reported() {
    let (mut t, mut s) = (table(), Fixed(0));
    let custom = ExecutorInfo {
        executor_id: ExecutorId { value: "ex".into() },
        command: Some(CommandInfo {
            value: Some("./my-executor".into()),
            ..Default::default()
        }),
        resources: vec![scalar("mem", 32.0)],
        ..Default::default()
    };
    let with_executor = |id: &str| TaskInfo {
        executor: Some(custom.clone()),
        command: None,
        ..task(id)
    };
    let actions = t
        .step(
            Event::RunTask {
                framework: framework(false, false),
                task: with_executor("t1"),
            },
            &mut s,
        )
        .unwrap();
    let Action::Launch(spec) = &actions[0] else {
        panic!("{actions:?}")
    };
    assert!(!spec.command_executor);
    assert_eq!(spec.limits.mem_mb, Some(96.0));
    let ex = ExecutorKey {
        framework_id: "f1".into(),
        executor_id: "ex".into(),
    };
    t.step(
        Event::Subscribe {
            executor: ex.clone(),
            connection: 1,
            subscribe: Default::default(),
        },
        &mut s,
    )
    .unwrap();
    let actions = t
        .step(
            Event::RunTask {
                framework: framework(false, false),
                task: with_executor("t2"),
            },
            &mut s,
        )
        .unwrap();
    assert!(matches!(
        actions[0],
        Action::UpdateLimits {
            limits: Limits {
                mem_mb: Some(160.0),
                ..
            },
            ..
        }
    ));
    assert_eq!(sent_types(&actions), [event::Type::Launch]);
    let (tasks, executors, _) = t.reregistration();
    assert_eq!(tasks.len(), 2);
    assert_eq!(executors[0].executor_id.value, "ex");
    assert_eq!(executors[0].framework_id.as_ref().unwrap().value, "f1");
}

#[test]
fn a_task_whose_ids_cannot_name_directories_is_refused_as_invalid() {
    let (mut t, mut s) = (table(), Fixed(0));
    let mut bad = task("../etc");
    bad.task_id.value = "../etc".into();
    let actions = t
        .step(
            Event::RunTask {
                framework: framework(true, false),
                task: bad,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(
        updates(&actions),
        [(
            "../etc".into(),
            TaskState::TaskError,
            Some(Reason::TaskInvalid),
            Some(Source::Agent)
        )]
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Launch(_) | Action::Checkpoint(_))));
}
