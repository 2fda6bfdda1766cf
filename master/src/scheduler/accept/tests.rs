use std::time::Instant;

use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::mesos::v1::framework_info::{capability, Capability};
use mesoraft_proto::mesos::v1::offer::{operation, Operation};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{
    AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskGroupInfo,
    TaskId, TaskInfo, TaskState,
};

use super::*;
use crate::allocator::Scalar;
use crate::scheduler::offers::Outstanding;

fn cpus_mem(cpus: u32, mem: u32) -> Resources {
    Resources::new()
        .with_scalar("cpus", Scalar::from_thousandths(cpus * 1000))
        .with_scalar("mem", Scalar::from_thousandths(mem * 1000))
}

fn framework(partition_aware: bool) -> FrameworkInfo {
    let mut info = FrameworkInfo {
        user: "u".into(),
        name: "f".into(),
        id: Some(FrameworkId { value: "f1".into() }),
        ..FrameworkInfo::default()
    };
    if partition_aware {
        info.capabilities.push(Capability {
            r#type: Some(capability::Type::PartitionAware as i32),
        });
    }
    info
}

fn offers(agent: &str, resources: Resources) -> Taken {
    Taken {
        offers: vec![Outstanding {
            id: "o1".into(),
            framework_id: "f1".into(),
            agent_id: agent.into(),
            role: "*".into(),
            resources,
            made_at: Instant::now(),
        }],
        invalid: None,
    }
}

fn task(id: &str, agent: &str, cpus: u32, mem: u32) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: agent.into(),
        },
        resources: cpus_mem(cpus, mem).to_proto(None),
        command: Some(CommandInfo {
            value: Some("true".into()),
            ..CommandInfo::default()
        }),
        ..TaskInfo::default()
    }
}

fn launch(tasks: Vec<TaskInfo>) -> Operation {
    Operation {
        r#type: Some(operation::Type::Launch as i32),
        launch: Some(operation::Launch { task_infos: tasks }),
        ..Operation::default()
    }
}

fn states(plan: &AcceptPlan) -> Vec<(String, TaskState, Option<Reason>)> {
    plan.refused
        .iter()
        .map(|s| {
            (
                s.task_id.value.clone(),
                TaskState::try_from(s.state).unwrap(),
                s.reason.and_then(|r| Reason::try_from(r).ok()),
            )
        })
        .collect()
}

#[test]
fn a_task_that_fits_is_launched_with_the_offer_role_and_the_rest_returns() {
    let plan = plan(
        &framework(false),
        offers("a1", cpus_mem(4, 1024)),
        vec![launch(vec![task("t1", "a1", 1, 256)])],
        0,
    );
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(plan.launches.len(), 1);
    let launched = &plan.launches[0];
    assert_eq!(launched.role, "*");
    assert_eq!(launched.resources, cpus_mem(1, 256));
    let Launch::Task { task, .. } = &launched.launch else {
        panic!("not a task launch");
    };
    assert!(task.resources.iter().all(|r| r
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
        == Some("*")));
    assert_eq!(plan.unused["*"], cpus_mem(3, 768));
}

#[test]
fn tasks_take_from_the_pool_in_order_and_the_one_that_does_not_fit_is_an_error() {
    let plan = plan(
        &framework(false),
        offers("a1", cpus_mem(2, 1024)),
        vec![launch(vec![
            task("t1", "a1", 1, 256),
            task("t2", "a1", 2, 256),
            task("t3", "a1", 1, 256),
        ])],
        0,
    );
    assert_eq!(plan.launches.len(), 2);
    assert_eq!(
        states(&plan),
        vec![("t2".into(), TaskState::TaskError, Some(Reason::TaskInvalid))]
    );
    assert!(plan.refused[0]
        .message
        .as_deref()
        .unwrap()
        .contains("more resources"));
    assert_eq!(plan.unused["*"], cpus_mem(0, 512));
}

#[test]
fn invalid_offers_drop_every_task_as_the_framework_understands_it() {
    for (aware, state) in [(true, TaskState::TaskDropped), (false, TaskState::TaskLost)] {
        let mut taken = offers("a1", cpus_mem(4, 1024));
        taken.invalid = Some("Offer o9 is no longer valid".into());
        let plan = plan(
            &framework(aware),
            taken,
            vec![launch(vec![task("t1", "a1", 1, 1)])],
            0,
        );
        assert!(plan.launches.is_empty());
        assert_eq!(
            states(&plan),
            vec![("t1".into(), state, Some(Reason::InvalidOffers))]
        );
        assert_eq!(plan.unused["*"], cpus_mem(4, 1024));
    }
}

#[test]
fn a_task_id_twice_another_agent_or_an_invalid_task_is_an_error() {
    let mut no_command = task("t4", "a1", 1, 1);
    no_command.command = None;
    let plan = plan(
        &framework(false),
        offers("a1", cpus_mem(8, 8192)),
        vec![launch(vec![
            task("t1", "a1", 1, 1),
            task("t1", "a1", 1, 1),
            task("t3", "a2", 1, 1),
            no_command,
        ])],
        0,
    );
    assert_eq!(plan.launches.len(), 1);
    let refused: Vec<_> = states(&plan).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(refused, vec!["t1", "t3", "t4"]);
    assert!(plan
        .refused
        .iter()
        .all(|s| s.state == TaskState::TaskError as i32));
}

#[test]
fn a_task_group_launches_whole_or_not_at_all() {
    let group = |cpus: u32| Operation {
        r#type: Some(operation::Type::LaunchGroup as i32),
        launch_group: Some(operation::LaunchGroup {
            executor: ExecutorInfo {
                r#type: Some(ExecutorType::Default as i32),
                executor_id: ExecutorId { value: "e".into() },
                resources: cpus_mem(0, 32).to_proto(None),
                ..ExecutorInfo::default()
            },
            task_group: TaskGroupInfo {
                tasks: vec![task("g1", "a1", cpus, 64), task("g2", "a1", cpus, 64)],
            },
        }),
        ..Operation::default()
    };
    let fits = plan(
        &framework(false),
        offers("a1", cpus_mem(2, 1024)),
        vec![group(1)],
        0,
    );
    assert!(fits.refused.is_empty(), "{:?}", fits.refused);
    assert_eq!(fits.launches[0].resources, cpus_mem(2, 160));
    let too_big = plan(
        &framework(false),
        offers("a1", cpus_mem(2, 1024)),
        vec![group(2)],
        0,
    );
    assert!(too_big.launches.is_empty());
    assert_eq!(too_big.refused.len(), 2);
}

#[test]
fn reservations_are_skipped_and_named() {
    let plan = plan(
        &framework(false),
        offers("a1", cpus_mem(1, 64)),
        vec![Operation {
            r#type: Some(operation::Type::Reserve as i32),
            ..Operation::default()
        }],
        0,
    );
    assert_eq!(plan.skipped, vec!["RESERVE"]);
    assert_eq!(plan.unused["*"], cpus_mem(1, 64));
}
