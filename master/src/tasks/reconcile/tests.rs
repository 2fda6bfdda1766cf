use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::framework_info::capability::Type as CapabilityType;
use mesoraft_proto::mesos::v1::framework_info::Capability;
use mesoraft_proto::mesos::v1::{CommandInfo, FrameworkId, Resource, TaskInfo};

use super::*;
use crate::tasks::table::{Departure, Event};

const NOW: TimeNs = 5_000_000_000;

fn framework(aware: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        id: Some(FrameworkId { value: "f".into() }),
        capabilities: if aware {
            vec![Capability {
                r#type: Some(CapabilityType::PartitionAware as i32),
            }]
        } else {
            vec![]
        },
        ..FrameworkInfo::default()
    }
}

fn table_with(tasks: &[(&str, &str)]) -> TaskTable {
    let mut table = TaskTable::default();
    for (task, agent) in tasks {
        let info = TaskInfo {
            name: task.to_string(),
            task_id: TaskId {
                value: task.to_string(),
            },
            agent_id: AgentId {
                value: agent.to_string(),
            },
            command: Some(CommandInfo::default()),
            resources: vec![Resource {
                name: "cpus".into(),
                ..Resource::default()
            }],
            ..TaskInfo::default()
        };
        table.launch(framework(true), info, true).unwrap();
    }
    table
}

fn running(table: &mut TaskTable, task: &str, agent: &str) {
    table.step(
        Event::Update {
            agent_id: agent.into(),
            update: StatusUpdate {
                framework_id: FrameworkId { value: "f".into() },
                status: TaskStatus {
                    task_id: TaskId { value: task.into() },
                    state: TaskState::TaskRunning as i32,
                    ..TaskStatus::default()
                },
                uuid: Some(vec![1; 16]),
                ..StatusUpdate::default()
            },
        },
        NOW,
    );
}

fn states(answers: &[TaskStatus]) -> Vec<(String, TaskState)> {
    answers
        .iter()
        .map(|s| {
            (
                s.task_id.value.clone(),
                TaskState::try_from(s.state).unwrap(),
            )
        })
        .collect()
}

#[test]
fn implicit_reconciliation_reports_tasks_on_reachable_agents_with_their_latest_state() {
    let mut table = table_with(&[("t1", "a"), ("t2", "b")]);
    running(&mut table, "t1", "a");
    table.step(
        Event::AgentDeparted {
            agent_id: "b".into(),
            departure: Departure::Unreachable { since_ns: 1 },
        },
        NOW,
    );
    let answers = implicit(&table, "f", NOW);
    assert_eq!(
        states(&answers),
        vec![("t1".into(), TaskState::TaskRunning)]
    );
    let a = &answers[0];
    assert_eq!(a.reason, Some(Reason::Reconciliation as i32));
    assert_eq!(a.source, Some(Source::Master as i32));
    assert_eq!(a.uuid, None);
    assert!(implicit(&table, "other", NOW).is_empty());
}

#[test]
fn explicit_reconciliation_follows_the_spec_table() {
    let table = table_with(&[("known", "a")]);
    let standing = |agent: &str| match agent {
        "registered" => AgentStanding::Registered,
        "recovered" => AgentStanding::Recovered,
        "unreachable" => AgentStanding::Unreachable { since_ns: 42 },
        "gone" => AgentStanding::Gone,
        _ => AgentStanding::Unknown,
    };
    let ask = |id: &str, agent: Option<&str>| (id.to_string(), agent.map(str::to_string));
    let requests = vec![
        ask("known", None),
        ask("t-recovered", Some("recovered")),
        ask("t-registered", Some("registered")),
        ask("t-unreachable", Some("unreachable")),
        ask("t-gone", Some("gone")),
        ask("t-pruned", Some("pruned")),
        ask("t-nohint", None),
    ];
    let aware = explicit(&table, &framework(true), &requests, standing, false, NOW);
    assert_eq!(
        states(&aware),
        vec![
            ("known".into(), TaskState::TaskStaging),
            ("t-registered".into(), TaskState::TaskGone),
            ("t-unreachable".into(), TaskState::TaskUnreachable),
            ("t-gone".into(), TaskState::TaskGoneByOperator),
            ("t-pruned".into(), TaskState::TaskUnknown),
            ("t-nohint".into(), TaskState::TaskUnknown),
        ]
    );
    assert_eq!(
        aware[2].unreachable_time,
        Some(TimeInfo { nanoseconds: 42 })
    );
    let others = explicit(&table, &framework(false), &requests, standing, false, NOW);
    assert!(states(&others)[1..]
        .iter()
        .all(|(_, s)| *s == TaskState::TaskLost));
    assert_eq!(
        others[2].unreachable_time,
        Some(TimeInfo { nanoseconds: 42 })
    );
}

#[test]
fn while_an_agent_is_recovered_an_unhinted_unknown_task_is_not_answered() {
    let table = table_with(&[]);
    let requests = vec![
        ("t".to_string(), None),
        ("u".to_string(), Some("registered".to_string())),
    ];
    let answers = explicit(
        &table,
        &framework(true),
        &requests,
        |_| AgentStanding::Registered,
        true,
        NOW,
    );
    assert_eq!(states(&answers), vec![("u".into(), TaskState::TaskGone)]);
}

/// The task ended on its agent while its RUNNING update still waits for
/// its acknowledgement: reconciliation answers RUNNING, the state of the
/// update being delivered, never the end the framework has not been sent.
#[test]
fn a_task_whose_end_is_still_behind_its_updates_is_answered_with_the_update_s_state() {
    let mut table = table_with(&[("t1", "a")]);
    table.step(
        Event::Update {
            agent_id: "a".into(),
            update: StatusUpdate {
                framework_id: FrameworkId { value: "f".into() },
                status: TaskStatus {
                    task_id: TaskId { value: "t1".into() },
                    state: TaskState::TaskRunning as i32,
                    ..TaskStatus::default()
                },
                uuid: Some(vec![1; 16]),
                latest_state: Some(TaskState::TaskFinished as i32),
                ..StatusUpdate::default()
            },
        },
        NOW,
    );
    let running = vec![("t1".to_string(), TaskState::TaskRunning)];
    assert_eq!(states(&implicit(&table, "f", NOW)), running);
    let answers = explicit(
        &table,
        &framework(true),
        &[("t1".to_string(), None)],
        |_| AgentStanding::Registered,
        false,
        NOW,
    );
    assert_eq!(states(&answers), running);
}
