//! Task groups in the executor table.

use super::super::tests::{framework, run_of, sent_types, table, task, updates, Fixed};
use super::super::*;
use crate::executors::model::{ExecutorKey, Limits};
use mesoraft_proto::mesos::v1::executor::{call, event};
use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::ExecutorId;

fn default_executor() -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(ExecutorType::Default as i32),
        executor_id: ExecutorId {
            value: "pod".into(),
        },
        ..Default::default()
    }
}

fn group_task(id: &str) -> TaskInfo {
    let mut t = task(id);
    t.command.as_mut().unwrap().value = Some(format!("echo {id}"));
    t
}

fn run_group(t: &mut Table, s: &mut Fixed, executor: ExecutorInfo, ids: &[&str]) -> Vec<Action> {
    t.step(
        Event::RunTaskGroup {
            framework: framework(true, false),
            executor,
            tasks: ids.iter().map(|id| group_task(id)).collect(),
        },
        s,
    )
    .unwrap()
}

fn pod() -> ExecutorKey {
    ExecutorKey {
        framework_id: "f1".into(),
        executor_id: "pod".into(),
    }
}

fn subscribe_pod(t: &mut Table, s: &mut Fixed) -> Vec<Action> {
    t.step(
        Event::Subscribe {
            executor: pod(),
            connection: 1,
            subscribe: call::Subscribe::default(),
        },
        s,
    )
    .unwrap()
}

/// The task ids of each LAUNCH_GROUP among `actions`.
fn launched_groups(actions: &[Action]) -> Vec<Vec<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { event, .. } => event.launch_group.as_ref().map(|g| {
                g.task_group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.value.clone())
                    .collect()
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn a_group_starts_the_default_executor_and_reaches_it_as_one_launch_group() {
    let (mut t, mut s) = (table(), Fixed(0));
    let actions = run_group(&mut t, &mut s, default_executor(), &["a", "b"]);
    let Some(Action::Launch(spec)) = actions.iter().find(|a| matches!(a, Action::Launch(_))) else {
        panic!("{actions:?}")
    };
    assert!(!spec.command_executor);
    assert_eq!(spec.executor.r#type(), ExecutorType::Default);
    assert_eq!(spec.executor.framework_id.as_ref().unwrap().value, "f1");
    // The container holds both tasks.
    assert_eq!(
        spec.limits,
        Limits {
            cpus: Some(1.0),
            mem_mb: Some(128.0)
        }
    );
    // Checkpointed: the framework, the executor, each task.
    let checkpoints = actions
        .iter()
        .filter(|a| matches!(a, Action::Checkpoint(_)))
        .count();
    assert_eq!(checkpoints, 4);
    assert!(updates(&actions).is_empty());

    let actions = subscribe_pod(&mut t, &mut s);
    assert_eq!(
        sent_types(&actions),
        [event::Type::Subscribed, event::Type::LaunchGroup]
    );
    assert_eq!(launched_groups(&actions), [vec!["a", "b"]]);

    // A further group for the running executor goes at once, alone.
    let actions = run_group(&mut t, &mut s, default_executor(), &["c"]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Launch(_))));
    assert_eq!(launched_groups(&actions), [vec!["c"]]);
    let (tasks, executors, _) = t.reregistration();
    assert_eq!(tasks.len(), 3);
    assert_eq!(
        executors.len(),
        1,
        "the default executor is the framework's"
    );
}

#[test]
fn a_bad_group_is_refused_whole_as_task_group_invalid() {
    let mut custom = default_executor();
    custom.r#type = Some(ExecutorType::Custom as i32);
    let mut bad_id = default_executor();
    bad_id.executor_id.value = "../x".into();
    for (executor, ids) in [
        (custom, vec!["a", "b"]),
        (bad_id, vec!["a", "b"]),
        (default_executor(), vec!["a", "a"]),
        (default_executor(), vec!["a", "../b"]),
    ] {
        let (mut t, mut s) = (table(), Fixed(0));
        let actions = run_group(&mut t, &mut s, executor, &ids);
        let refused = updates(&actions);
        assert_eq!(refused.len(), 2, "{actions:?}");
        assert!(refused
            .iter()
            .all(|u| u.1 == TaskState::TaskError && u.2 == Some(Reason::TaskGroupInvalid)));
        assert!(!actions.iter().any(|a| matches!(a, Action::Launch(_))));
    }
    // A task with its own executor, a task already here.
    let (mut t, mut s) = (table(), Fixed(0));
    let mut own = group_task("a");
    own.executor = Some(default_executor());
    let actions = t
        .step(
            Event::RunTaskGroup {
                framework: framework(true, false),
                executor: default_executor(),
                tasks: vec![own, group_task("b")],
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(updates(&actions).len(), 2);
    run_group(&mut t, &mut s, default_executor(), &["c"]);
    let actions = run_group(&mut t, &mut s, default_executor(), &["c", "d"]);
    assert_eq!(updates(&actions).len(), 2);
    assert_eq!(updates(&actions)[0].2, Some(Reason::TaskGroupInvalid));
}

#[test]
fn killing_a_queued_task_of_a_group_kills_the_whole_group_before_launch() {
    let (mut t, mut s) = (table(), Fixed(0));
    let launch = run_group(&mut t, &mut s, default_executor(), &["a", "b"]);
    let run = run_of(&launch);
    let actions = t
        .step(
            Event::KillTask {
                framework_id: FrameworkId { value: "f1".into() },
                task_id: TaskId { value: "b".into() },
                kill_policy: None,
            },
            &mut s,
        )
        .unwrap();
    let killed: Vec<_> = updates(&actions)
        .into_iter()
        .map(|u| (u.0, u.1, u.2))
        .collect();
    assert_eq!(
        killed,
        [
            (
                "a".to_string(),
                TaskState::TaskKilled,
                Some(Reason::TaskKilledDuringLaunch)
            ),
            (
                "b".to_string(),
                TaskState::TaskKilled,
                Some(Reason::TaskKilledDuringLaunch)
            ),
        ]
    );
    // Nothing left for the executor: it is stopped.
    assert!(actions.contains(&Action::Destroy(run)));
}

#[test]
fn a_launched_group_task_is_killed_by_its_executor() {
    let (mut t, mut s) = (table(), Fixed(0));
    run_group(&mut t, &mut s, default_executor(), &["a", "b"]);
    subscribe_pod(&mut t, &mut s);
    let actions = t
        .step(
            Event::KillTask {
                framework_id: FrameworkId { value: "f1".into() },
                task_id: TaskId { value: "a".into() },
                kill_policy: None,
            },
            &mut s,
        )
        .unwrap();
    assert_eq!(sent_types(&actions), [event::Type::Kill]);
    assert!(updates(&actions).is_empty());
}
