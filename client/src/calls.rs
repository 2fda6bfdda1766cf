//! The calls a scheduler sends, built from their parts. Pure. The
//! `framework_id` is stamped when a call is sent (the session knows it).

use mesoraft_proto::mesos::v1::offer::operation::{self, Launch, LaunchGroup};
use mesoraft_proto::mesos::v1::offer::Operation;
use mesoraft_proto::mesos::v1::scheduler::call::{self, Type};
use mesoraft_proto::mesos::v1::scheduler::Call;
use mesoraft_proto::mesos::v1::{
    AgentId, CommandInfo, ExecutorId, ExecutorInfo, Filters, FrameworkInfo, OfferId, Resource,
    TaskGroupInfo, TaskId, TaskInfo, TaskStatus,
};

fn of_type(kind: Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Filters refusing the resources left over for `seconds`.
pub fn refuse_for(seconds: f64) -> Filters {
    Filters {
        refuse_seconds: Some(seconds),
    }
}

/// A task named and identified `id` running the shell command `command`
/// (`sh -c`) in a command executor on `agent_id`.
pub fn command_task(
    id: &str,
    agent_id: &AgentId,
    resources: Vec<Resource>,
    command: &str,
) -> TaskInfo {
    TaskInfo {
        name: id.to_string(),
        task_id: TaskId {
            value: id.to_string(),
        },
        agent_id: agent_id.clone(),
        resources,
        command: Some(CommandInfo {
            shell: Some(true),
            value: Some(command.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A LAUNCH operation of `tasks`.
pub fn launch(tasks: Vec<TaskInfo>) -> Operation {
    Operation {
        r#type: Some(operation::Type::Launch as i32),
        launch: Some(Launch { task_infos: tasks }),
        ..Default::default()
    }
}

/// A LAUNCH_GROUP operation: `group` runs in `executor`, all or nothing.
pub fn launch_group(executor: ExecutorInfo, group: TaskGroupInfo) -> Operation {
    Operation {
        r#type: Some(operation::Type::LaunchGroup as i32),
        launch_group: Some(LaunchGroup {
            executor,
            task_group: group,
        }),
        ..Default::default()
    }
}

pub fn accept(
    offer_ids: Vec<OfferId>,
    operations: Vec<Operation>,
    filters: Option<Filters>,
) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids,
            operations,
            filters,
        }),
        ..of_type(Type::Accept)
    }
}

pub fn decline(offer_ids: Vec<OfferId>, filters: Option<Filters>) -> Call {
    Call {
        decline: Some(call::Decline { offer_ids, filters }),
        ..of_type(Type::Decline)
    }
}

/// Empty `roles`: every role of the framework.
pub fn revive(roles: Vec<String>) -> Call {
    Call {
        revive: Some(call::Revive { roles }),
        ..of_type(Type::Revive)
    }
}

/// Empty `roles`: every role of the framework.
pub fn suppress(roles: Vec<String>) -> Call {
    Call {
        suppress: Some(call::Suppress { roles }),
        ..of_type(Type::Suppress)
    }
}

/// Without `agent_id` the master finds the task's agent.
pub fn kill(task_id: TaskId, agent_id: Option<AgentId>) -> Call {
    Call {
        kill: Some(call::Kill {
            task_id,
            agent_id,
            kill_policy: None,
        }),
        ..of_type(Type::Kill)
    }
}

pub fn shutdown(executor_id: ExecutorId, agent_id: AgentId) -> Call {
    Call {
        shutdown: Some(call::Shutdown {
            executor_id,
            agent_id,
        }),
        ..of_type(Type::Shutdown)
    }
}

pub fn acknowledge(agent_id: AgentId, task_id: TaskId, uuid: Vec<u8>) -> Call {
    Call {
        acknowledge: Some(call::Acknowledge {
            agent_id,
            task_id,
            uuid,
        }),
        ..of_type(Type::Acknowledge)
    }
}

/// The ACKNOWLEDGE a status needs: None when it needs none (no `uuid`:
/// reconciliation answers, master-made updates) or cannot have one (no
/// agent id).
pub fn acknowledgement_of(status: &TaskStatus) -> Option<Call> {
    let uuid = status.uuid.clone().filter(|u| !u.is_empty())?;
    let agent_id = status.agent_id.clone()?;
    Some(acknowledge(agent_id, status.task_id.clone(), uuid))
}

/// Explicit for `tasks` (task, agent hint); implicit when empty.
pub fn reconcile(tasks: Vec<call::reconcile::Task>) -> Call {
    Call {
        reconcile: Some(call::Reconcile { tasks }),
        ..of_type(Type::Reconcile)
    }
}

pub fn message(agent_id: AgentId, executor_id: ExecutorId, data: Vec<u8>) -> Call {
    Call {
        message: Some(call::Message {
            agent_id,
            executor_id,
            data,
        }),
        ..of_type(Type::Message)
    }
}

pub fn teardown() -> Call {
    of_type(Type::Teardown)
}

pub fn update_framework(framework_info: FrameworkInfo, suppressed_roles: Vec<String>) -> Call {
    Call {
        update_framework: Some(call::UpdateFramework {
            framework_info,
            suppressed_roles,
        }),
        ..of_type(Type::UpdateFramework)
    }
}

/// The tasks an ACCEPT launches, with their agents (what reconciliation
/// must ask about if their updates never come).
pub fn launched_tasks(call: &Call) -> Vec<(TaskId, AgentId)> {
    let Some(accept) = &call.accept else {
        return Vec::new();
    };
    let launch = accept
        .operations
        .iter()
        .filter_map(|op| op.launch.as_ref())
        .flat_map(|l| l.task_infos.iter());
    let group = accept
        .operations
        .iter()
        .filter_map(|op| op.launch_group.as_ref())
        .flat_map(|g| g.task_group.tasks.iter());
    launch
        .chain(group)
        .map(|t| (t.task_id.clone(), t.agent_id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::json::to_json_string;

    fn task(id: &str, agent: &str) -> TaskInfo {
        let agent = AgentId {
            value: agent.into(),
        };
        command_task(id, &agent, Vec::new(), "true")
    }

    #[test]
    fn an_accept_names_what_it_launches() {
        let call = accept(
            vec![OfferId { value: "o1".into() }],
            vec![
                launch(vec![task("t1", "a1")]),
                launch_group(
                    ExecutorInfo::default(),
                    TaskGroupInfo {
                        tasks: vec![task("t2", "a1")],
                    },
                ),
            ],
            Some(refuse_for(1.0)),
        );
        let ids: Vec<_> = launched_tasks(&call)
            .into_iter()
            .map(|(t, a)| (t.value, a.value))
            .collect();
        assert_eq!(
            ids,
            [("t1".into(), "a1".into()), ("t2".into(), "a1".into())]
        );
        let json = to_json_string(&call);
        assert!(json.contains(r#""type":"ACCEPT""#), "{json}");
        assert!(json.contains(r#""offer_ids":[{"value":"o1"}]"#), "{json}");
        assert!(launched_tasks(&decline(vec![], None)).is_empty());
    }

    #[test]
    fn only_updates_with_a_uuid_and_an_agent_are_acknowledged() {
        let mut status = TaskStatus {
            task_id: TaskId { value: "t".into() },
            agent_id: Some(AgentId { value: "a".into() }),
            ..Default::default()
        };
        assert!(acknowledgement_of(&status).is_none());
        status.uuid = Some(vec![1, 2, 3]);
        let ack = acknowledgement_of(&status).unwrap();
        let body = ack.acknowledge.unwrap();
        assert_eq!((body.uuid, body.task_id.value), (vec![1, 2, 3], "t".into()));
        status.agent_id = None;
        assert!(acknowledgement_of(&status).is_none());
    }
}
