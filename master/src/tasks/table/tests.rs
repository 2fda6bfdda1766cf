use mesoraft_proto::mesos::v1::framework_info::capability::Type as CapabilityType;
use mesoraft_proto::mesos::v1::framework_info::Capability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{CommandInfo, Resource};

use super::*;

const NOW: TimeNs = 1_000_000_000_000;

fn framework(id: &str, partition_aware: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        id: Some(FrameworkId { value: id.into() }),
        capabilities: if partition_aware {
            vec![Capability {
                r#type: Some(CapabilityType::PartitionAware as i32),
            }]
        } else {
            vec![]
        },
        ..FrameworkInfo::default()
    }
}

fn task_info(id: &str, agent: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: agent.into(),
        },
        command: Some(CommandInfo {
            value: Some("sleep 100".into()),
            ..CommandInfo::default()
        }),
        resources: vec![Resource {
            name: "cpus".into(),
            ..Resource::default()
        }],
        ..TaskInfo::default()
    }
}

fn update(framework_id: &str, task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
    StatusUpdate {
        framework_id: FrameworkId {
            value: framework_id.into(),
        },
        status: TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            source: Some(Source::Executor as i32),
            ..TaskStatus::default()
        },
        uuid: Some(vec![uuid; 16]),
        ..StatusUpdate::default()
    }
}

fn launched(partition_aware: bool) -> TaskTable {
    let mut table = TaskTable::default();
    table
        .launch(framework("f", partition_aware), task_info("t", "a"), true)
        .unwrap();
    table
}

fn statuses_to_framework(actions: &[Action]) -> Vec<(i32, Option<i32>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ToFramework { status, .. } => Some((status.state, status.reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_launch_sends_run_task_and_records_a_staging_task() {
    let mut table = TaskTable::default();
    let actions = table
        .launch(framework("f", false), task_info("t", "a"), true)
        .unwrap();
    assert!(matches!(
        &actions[..],
        [Action::ToAgent { agent_id, message: master_to_agent::Message::RunTask(m) }]
            if agent_id == "a" && m.task.task_id.value == "t"
    ));
    let task = table.task("f", "t").unwrap();
    assert_eq!(task.state, TaskState::TaskStaging as i32);
    assert_eq!(task.user.as_deref(), Some("root"));
}

#[test]
fn a_launch_is_refused_on_an_unregistered_agent_and_for_a_live_duplicate() {
    let mut table = TaskTable::default();
    assert_eq!(
        table.launch(framework("f", false), task_info("t", "a"), false),
        Err(LaunchError::AgentNotRegistered("a".into()))
    );
    assert!(table.is_empty());
    table
        .launch(framework("f", false), task_info("t", "a"), true)
        .unwrap();
    assert!(matches!(
        table.launch(framework("f", false), task_info("t", "b"), true),
        Err(LaunchError::DuplicateTaskId { .. })
    ));
}

#[test]
fn updates_are_recorded_and_forwarded_with_their_uuid() {
    let mut table = launched(false);
    let actions = table.step(
        Event::Update {
            agent_id: "a".into(),
            update: update("f", "t", TaskState::TaskRunning, 1),
        },
        NOW,
    );
    match &actions[..] {
        [Action::ToFramework {
            framework_id,
            status,
        }] => {
            assert_eq!(framework_id, "f");
            assert_eq!(status.uuid.as_deref(), Some(&[1u8; 16][..]));
            assert_eq!(status.agent_id.as_ref().unwrap().value, "a");
        }
        other => panic!("{other:?}"),
    }
    let task = table.task("f", "t").unwrap();
    assert_eq!(task.state, TaskState::TaskRunning as i32);
    assert_eq!(task.statuses.len(), 1);
}

#[test]
fn the_acknowledgement_of_a_terminal_update_completes_the_task() {
    let mut table = launched(false);
    table.step(
        Event::Update {
            agent_id: "a".into(),
            update: update("f", "t", TaskState::TaskFinished, 2),
        },
        NOW,
    );
    // An acknowledgement of another uuid (a retry's) does not end it.
    table.step(
        Event::Acknowledged {
            agent_id: "a".into(),
            framework_id: "f".into(),
            task_id: "t".into(),
            uuid: vec![9; 16],
        },
        NOW,
    );
    assert!(table.task("f", "t").is_some());
    let actions = table.step(
        Event::Acknowledged {
            agent_id: "a".into(),
            framework_id: "f".into(),
            task_id: "t".into(),
            uuid: vec![2; 16],
        },
        NOW,
    );
    assert!(matches!(
        &actions[..],
        [Action::ToAgent { agent_id, message: master_to_agent::Message::StatusUpdateAcknowledgement(m) }]
            if agent_id == "a" && m.uuid == vec![2; 16]
    ));
    assert!(table.task("f", "t").is_none());
    assert_eq!(table.view().completed_tasks.len(), 1);
}

#[test]
fn an_unreachable_agent_makes_its_tasks_unreachable_or_lost() {
    for (aware, expected) in [
        (true, TaskState::TaskUnreachable),
        (false, TaskState::TaskLost),
    ] {
        let mut table = launched(aware);
        let actions = table.step(
            Event::AgentDeparted {
                agent_id: "a".into(),
                departure: Departure::Unreachable { since_ns: NOW - 5 },
            },
            NOW,
        );
        assert_eq!(
            statuses_to_framework(&actions),
            vec![(expected as i32, Some(Reason::AgentRemoved as i32))]
        );
        let Action::ToFramework { status, .. } = &actions[0] else {
            unreachable!()
        };
        assert_eq!(status.source, Some(Source::Master as i32));
        assert_eq!(status.uuid, None);
        assert_eq!(status.unreachable_time.unwrap().nanoseconds, NOW - 5);
        // Kept for the agent's return, shown as unreachable.
        let view = table.view();
        assert_eq!(view.unreachable_tasks.len(), 1);
        assert!(view.tasks.is_empty());
    }
}

#[test]
fn a_returning_agent_reports_its_running_tasks_as_reregistered() {
    for aware in [true, false] {
        let mut table = launched(aware);
        table.step(
            Event::Update {
                agent_id: "a".into(),
                update: update("f", "t", TaskState::TaskRunning, 1),
            },
            NOW,
        );
        table.step(
            Event::AgentDeparted {
                agent_id: "a".into(),
                departure: Departure::Unreachable { since_ns: NOW },
            },
            NOW,
        );
        let mut running = table.task("f", "t").unwrap().clone();
        running.state = TaskState::TaskRunning as i32;
        let actions = table.step(
            Event::AgentReregistered {
                agent_id: "a".into(),
                tasks: vec![running],
                frameworks: vec![],
                was_unreachable: false,
            },
            NOW,
        );
        assert_eq!(
            statuses_to_framework(&actions),
            vec![(
                TaskState::TaskRunning as i32,
                Some(Reason::AgentReregistered as i32)
            )],
            "partition aware: {aware}"
        );
        let view = table.view();
        assert_eq!(view.tasks.len(), 1);
        assert_eq!(view.tasks[0].state, TaskState::TaskRunning as i32);
    }
}

#[test]
fn after_a_failover_an_agent_back_from_unreachable_still_gets_reregistered_updates() {
    // The new leader knows no tasks; the registry said unreachable.
    let mut table = TaskTable::default();
    let task = Task {
        name: "t".into(),
        task_id: TaskId { value: "t".into() },
        framework_id: FrameworkId { value: "f".into() },
        agent_id: AgentId { value: "a".into() },
        state: TaskState::TaskRunning as i32,
        ..Task::default()
    };
    let actions = table.step(
        Event::AgentReregistered {
            agent_id: "a".into(),
            tasks: vec![task],
            frameworks: vec![framework("f", true)],
            was_unreachable: true,
        },
        NOW,
    );
    assert_eq!(
        statuses_to_framework(&actions),
        vec![(
            TaskState::TaskRunning as i32,
            Some(Reason::AgentReregistered as i32)
        )]
    );
    // A plain re-registration (the failover path) reports nothing.
    let mut table = TaskTable::default();
    let actions = table.step(
        Event::AgentReregistered {
            agent_id: "a".into(),
            tasks: vec![],
            frameworks: vec![],
            was_unreachable: false,
        },
        NOW,
    );
    assert!(actions.is_empty());
}

#[test]
fn tasks_missing_from_a_reregistration_are_dropped_or_lost() {
    for (aware, expected) in [(true, TaskState::TaskDropped), (false, TaskState::TaskLost)] {
        let mut table = launched(aware);
        let actions = table.step(
            Event::AgentReregistered {
                agent_id: "a".into(),
                tasks: vec![],
                frameworks: vec![],
                was_unreachable: false,
            },
            NOW,
        );
        assert_eq!(
            statuses_to_framework(&actions),
            vec![(expected as i32, Some(Reason::Reconciliation as i32))]
        );
        assert!(table.task("f", "t").is_none());
    }
}

#[test]
fn a_gone_agent_ends_its_tasks_gone_by_operator_or_lost() {
    for (aware, expected) in [
        (true, TaskState::TaskGoneByOperator),
        (false, TaskState::TaskLost),
    ] {
        let mut table = launched(aware);
        let actions = table.step(
            Event::AgentDeparted {
                agent_id: "a".into(),
                departure: Departure::Gone,
            },
            NOW,
        );
        assert_eq!(
            statuses_to_framework(&actions),
            vec![(expected as i32, Some(Reason::AgentRemovedByOperator as i32))]
        );
        assert!(table.task("f", "t").is_none());
        assert_eq!(table.view().completed_tasks.len(), 1);
    }
}

#[test]
fn a_removed_framework_s_tasks_end_killed_and_complete() {
    let mut table = launched(true);
    let actions = table.step(
        Event::FrameworkRemoved {
            framework_id: "f".into(),
        },
        NOW,
    );
    assert_eq!(
        statuses_to_framework(&actions),
        vec![(
            TaskState::TaskKilled as i32,
            Some(Reason::FrameworkRemoved as i32)
        )]
    );
    assert!(table.task("f", "t").is_none());
    let completed = table.view().completed_tasks;
    assert_eq!(completed[0].state, TaskState::TaskKilled as i32);
    // Another framework's removal leaves nothing to do.
    let none = table.step(
        Event::FrameworkRemoved {
            framework_id: "other".into(),
        },
        NOW,
    );
    assert!(none.is_empty());
}

#[test]
fn kill_goes_to_the_agent_of_a_live_task_only() {
    let mut table = launched(false);
    let actions = table.kill("f", "t").unwrap();
    assert!(matches!(
        &actions[..],
        [Action::ToAgent {
            message: master_to_agent::Message::KillTask(_),
            ..
        }]
    ));
    assert!(matches!(
        table.kill("f", "nope"),
        Err(KillError::UnknownTask { .. })
    ));
    table.step(
        Event::Update {
            agent_id: "a".into(),
            update: update("f", "t", TaskState::TaskKilled, 3),
        },
        NOW,
    );
    assert!(matches!(table.kill("f", "t"), Err(KillError::Ended { .. })));
}

#[test]
fn an_update_from_another_agent_does_not_move_the_task() {
    let mut table = launched(false);
    table.step(
        Event::Update {
            agent_id: "b".into(),
            update: update("f", "t", TaskState::TaskFailed, 1),
        },
        NOW,
    );
    assert_eq!(
        table.task("f", "t").unwrap().state,
        TaskState::TaskStaging as i32
    );
}

#[test]
fn completed_tasks_and_statuses_are_bounded() {
    let mut table = TaskTable::default();
    for i in 0..COMPLETED_TASKS_KEPT + 10 {
        let id = format!("t{i}");
        table
            .launch(framework("f", false), task_info(&id, "a"), true)
            .unwrap();
    }
    table.step(
        Event::AgentDeparted {
            agent_id: "a".into(),
            departure: Departure::Removed,
        },
        NOW,
    );
    assert_eq!(table.view().completed_tasks.len(), COMPLETED_TASKS_KEPT);

    let mut table = launched(false);
    for i in 0..STATUSES_KEPT + 5 {
        table.step(
            Event::Update {
                agent_id: "a".into(),
                update: update("f", "t", TaskState::TaskRunning, i as u8),
            },
            NOW,
        );
    }
    assert_eq!(table.task("f", "t").unwrap().statuses.len(), STATUSES_KEPT);
}

fn default_executor() -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(mesoraft_proto::mesos::v1::executor_info::Type::Default as i32),
        executor_id: ExecutorId {
            value: "pod".into(),
        },
        ..ExecutorInfo::default()
    }
}

fn group(ids: &[&str], agent: &str) -> TaskGroupInfo {
    TaskGroupInfo {
        tasks: ids.iter().map(|id| task_info(id, agent)).collect(),
    }
}

#[test]
fn a_group_launch_sends_run_task_group_and_records_every_task_with_its_executor() {
    let mut table = TaskTable::default();
    let actions = table
        .launch_group(
            framework("f", false),
            default_executor(),
            group(&["a", "b"], "ag"),
            true,
        )
        .unwrap();
    let [Action::ToAgent {
        agent_id,
        message: master_to_agent::Message::RunTaskGroup(m),
    }] = &actions[..]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(agent_id, "ag");
    assert_eq!(m.task_group.tasks.len(), 2);
    assert_eq!(m.executor.framework_id.as_ref().unwrap().value, "f");
    for id in ["a", "b"] {
        let task = table.task("f", id).unwrap();
        assert_eq!(task.state(), TaskState::TaskStaging);
        assert_eq!(task.executor_id.as_ref().unwrap().value, "pod");
        assert_eq!(task.agent_id.value, "ag");
    }
}

#[test]
fn a_group_is_refused_whole_when_invalid_or_any_task_id_is_live() {
    let mut table = launched(false);
    // "t" is live: nothing of the group is recorded.
    let err = table
        .launch_group(
            framework("f", false),
            default_executor(),
            group(&["x", "t"], "a"),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, LaunchError::DuplicateTaskId { .. }), "{err}");
    assert!(table.task("f", "x").is_none());
    let err = table
        .launch_group(
            framework("f", false),
            default_executor(),
            group(&["x"], "a"),
            false,
        )
        .unwrap_err();
    assert_eq!(err, LaunchError::AgentNotRegistered("a".into()));
    let err = table
        .launch_group(
            framework("f", false),
            default_executor(),
            group(&[], "a"),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, LaunchError::InvalidTaskGroup(_)), "{err}");
    assert_eq!(table.len(), 1);
}

#[test]
fn a_terminal_latest_state_releases_the_task_s_resources_once() {
    let mut table = launched(false);
    let released = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| {
                matches!(a, Action::Released { agent_id, framework_id, resources }
                if agent_id == "a" && framework_id == "f" && resources.len() == 1)
            })
            .count()
    };
    let running = table.step(
        Event::Update {
            agent_id: "a".into(),
            update: update("f", "t", TaskState::TaskRunning, 1),
        },
        NOW,
    );
    assert_eq!(released(&running), 0);
    // The stream's head is still RUNNING but the task has finished: the
    // latest state frees the resources, before any acknowledgement.
    let mut head = update("f", "t", TaskState::TaskRunning, 1);
    head.latest_state = Some(TaskState::TaskFinished as i32);
    assert_eq!(
        released(&table.step(
            Event::Update {
                agent_id: "a".into(),
                update: head
            },
            NOW
        )),
        1
    );
    let finished = update("f", "t", TaskState::TaskFinished, 2);
    assert_eq!(
        released(&table.step(
            Event::Update {
                agent_id: "a".into(),
                update: finished
            },
            NOW
        )),
        0
    );
}
