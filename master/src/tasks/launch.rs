//! What a task must satisfy before the master sends it to an agent (the
//! subset of Mesos's task validation that needs no offer): a valid id,
//! exactly one of a command and an executor, some resources. A task group
//! (Mesos's `task::group::validate` and `validateTaskGroupAndExecutor`):
//! not empty, every task valid with a command and no executor of its own,
//! task ids unique, every task on the same agent, and an executor of type
//! DEFAULT with an id (and no command: the agent runs its own).

use std::collections::BTreeSet;

use mesoraft_proto::agent::LaunchTaskRequest;
use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::mesos::v1::{ExecutorInfo, FrameworkInfo, TaskGroupInfo, TaskInfo};

/// What the internal launch path was asked to launch.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // moved once to the task table
pub enum Launch {
    Task {
        framework: FrameworkInfo,
        task: TaskInfo,
    },
    Group {
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        task_group: TaskGroupInfo,
    },
}

impl Launch {
    /// The request's form: one task, or a task group with its executor.
    pub fn from_request(request: LaunchTaskRequest) -> Result<Launch, LaunchError> {
        match (request.task, request.executor, request.task_group) {
            (Some(task), None, None) => Ok(Launch::Task {
                framework: request.framework,
                task,
            }),
            (None, Some(executor), Some(task_group)) => Ok(Launch::Group {
                framework: request.framework,
                executor,
                task_group,
            }),
            (None, None, Some(_)) => Err(LaunchError::InvalidTaskGroup(
                "a task group needs its `executor` (an ExecutorInfo of type DEFAULT)".into(),
            )),
            _ => Err(LaunchError::InvalidTask(
                "give either `task`, or `executor` and `task_group`".into(),
            )),
        }
    }

    /// The agent the launch goes to (a group's tasks share it once valid).
    pub fn agent_id(&self) -> &str {
        match self {
            Launch::Task { task, .. } => &task.agent_id.value,
            Launch::Group { task_group, .. } => task_group
                .tasks
                .first()
                .map_or("", |t| t.agent_id.value.as_str()),
        }
    }
}

/// Why a launch was refused. Nothing was sent to the agent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid task: {0}")]
    InvalidTask(String),
    #[error("invalid task group: {0}")]
    InvalidTaskGroup(String),
    #[error("the framework has no id; give `framework.id`")]
    NoFrameworkId,
    #[error("task {task_id:?} of framework {framework_id:?} exists and has not ended; use another task id")]
    DuplicateTaskId {
        framework_id: String,
        task_id: String,
    },
    #[error("agent {0:?} is not registered with this master (unknown, recovered, disconnected, unreachable or gone); launch on a registered agent")]
    AgentNotRegistered(String),
}

/// Why a kill was refused. Nothing was sent to the agent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KillError {
    #[error("framework {framework_id:?} has no task {task_id:?} on this master")]
    UnknownTask {
        framework_id: String,
        task_id: String,
    },
    #[error("task {task_id:?} already ended")]
    Ended { task_id: String },
}

/// Mesos's id rule: not empty, not `.` or `..`, no `/`, `\` or control
/// characters (they end up in sandbox paths on the agent).
pub fn validate_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{kind} must not be empty"));
    }
    if id == "." || id == ".." {
        return Err(format!("{kind} must not be '.' or '..'"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| *c == '/' || *c == '\\' || c.is_control())
    {
        return Err(format!(
            "{kind} {id:?} must not contain {c:?} ('/', '\\' and control characters are not allowed)"
        ));
    }
    Ok(())
}

/// The checks that need nothing but the request.
pub fn validate(framework: &FrameworkInfo, task: &TaskInfo) -> Result<(), LaunchError> {
    let Some(framework_id) = framework.id.as_ref().filter(|id| !id.value.is_empty()) else {
        return Err(LaunchError::NoFrameworkId);
    };
    validate_id("framework id", &framework_id.value).map_err(LaunchError::InvalidTask)?;
    validate_id("task id", &task.task_id.value).map_err(LaunchError::InvalidTask)?;
    validate_id("agent id", &task.agent_id.value).map_err(LaunchError::InvalidTask)?;
    match (&task.command, &task.executor) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(LaunchError::InvalidTask(
                "a task needs exactly one of `command` and `executor`".into(),
            ))
        }
        (None, Some(executor)) => {
            validate_id("executor id", &executor.executor_id.value)
                .map_err(LaunchError::InvalidTask)?;
        }
        (Some(_), None) => {}
    }
    if task.resources.is_empty() {
        return Err(LaunchError::InvalidTask(
            "task uses no resources; give at least `cpus` and `mem`".into(),
        ));
    }
    Ok(())
}

/// The checks of a task group that need nothing but the request.
pub fn validate_group(
    framework: &FrameworkInfo,
    executor: &ExecutorInfo,
    group: &TaskGroupInfo,
) -> Result<(), LaunchError> {
    let invalid = LaunchError::InvalidTaskGroup;
    let Some(framework_id) = framework.id.as_ref().filter(|id| !id.value.is_empty()) else {
        return Err(LaunchError::NoFrameworkId);
    };
    validate_id("framework id", &framework_id.value).map_err(invalid)?;
    if group.tasks.is_empty() {
        return Err(invalid("the task group has no tasks".into()));
    }
    validate_id("executor id", &executor.executor_id.value).map_err(invalid)?;
    if executor.r#type() != ExecutorType::Default {
        return Err(invalid(
            "a task group runs in an executor of type DEFAULT; set `executor.type` to \"DEFAULT\""
                .into(),
        ));
    }
    if executor.command.is_some() {
        return Err(invalid(
            "the DEFAULT executor must not have a `command` (the agent runs its own)".into(),
        ));
    }
    if let Some(id) = executor
        .framework_id
        .as_ref()
        .filter(|id| id.value != framework_id.value)
    {
        return Err(invalid(format!(
            "the executor belongs to framework {:?}, not {:?}",
            id.value, framework_id.value
        )));
    }
    let agent_id = &group.tasks[0].agent_id.value;
    let mut ids = BTreeSet::new();
    for task in &group.tasks {
        let id = &task.task_id.value;
        if task.executor.is_some() {
            return Err(invalid(format!(
                "task {id:?} must not have an `executor`: the group's runs it"
            )));
        }
        if task.command.is_none() {
            return Err(invalid(format!("task {id:?} needs a `command`")));
        }
        validate(framework, task).map_err(|e| match e {
            LaunchError::InvalidTask(why) => invalid(format!("task {id:?}: {why}")),
            other => other,
        })?;
        if !ids.insert(id.as_str()) {
            return Err(invalid(format!("task id {id:?} appears more than once")));
        }
        if &task.agent_id.value != agent_id {
            return Err(invalid(format!(
                "task {id:?} is for agent {:?}, the group's first for {agent_id:?}; every task of a group runs on one agent",
                task.agent_id.value
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{
        AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, Resource, TaskId,
    };

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            id: Some(FrameworkId { value: "f".into() }),
            ..FrameworkInfo::default()
        }
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskId { value: id.into() },
            agent_id: AgentId { value: "a".into() },
            command: Some(CommandInfo {
                value: Some("true".into()),
                ..CommandInfo::default()
            }),
            resources: vec![Resource {
                name: "cpus".into(),
                ..Resource::default()
            }],
            ..TaskInfo::default()
        }
    }

    #[test]
    fn a_plain_command_task_passes() {
        assert_eq!(validate(&framework(), &task("t1")), Ok(()));
    }

    #[test]
    fn ids_that_would_escape_a_sandbox_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb"] {
            let err = validate(&framework(), &task(bad)).unwrap_err();
            assert!(matches!(err, LaunchError::InvalidTask(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_task_needs_exactly_one_of_command_and_executor() {
        let mut both = task("t");
        both.executor = Some(ExecutorInfo {
            executor_id: ExecutorId { value: "e".into() },
            ..ExecutorInfo::default()
        });
        assert!(validate(&framework(), &both).is_err());
        let mut neither = task("t");
        neither.command = None;
        assert!(validate(&framework(), &neither).is_err());
    }

    #[test]
    fn a_framework_without_id_and_a_task_without_resources_are_refused() {
        assert_eq!(
            validate(&FrameworkInfo::default(), &task("t")),
            Err(LaunchError::NoFrameworkId)
        );
        let mut bare = task("t");
        bare.resources.clear();
        assert!(validate(&framework(), &bare).is_err());
    }

    fn default_executor() -> ExecutorInfo {
        ExecutorInfo {
            r#type: Some(ExecutorType::Default as i32),
            executor_id: ExecutorId {
                value: "pod".into(),
            },
            ..ExecutorInfo::default()
        }
    }

    fn group(ids: &[&str]) -> TaskGroupInfo {
        TaskGroupInfo {
            tasks: ids.iter().map(|id| task(id)).collect(),
        }
    }

    #[test]
    fn a_group_of_command_tasks_on_one_agent_with_a_default_executor_passes() {
        assert_eq!(
            validate_group(&framework(), &default_executor(), &group(&["a", "b"])),
            Ok(())
        );
    }

    #[test]
    fn every_group_rule_is_checked() {
        let is_group_error =
            |r: Result<(), LaunchError>| matches!(r, Err(LaunchError::InvalidTaskGroup(_)));
        let f = framework();
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &group(&[])
        )));
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &group(&["a", "a"])
        )));
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &group(&["a", "../b"])
        )));
        let mut custom = default_executor();
        custom.r#type = Some(ExecutorType::Custom as i32);
        assert!(is_group_error(validate_group(&f, &custom, &group(&["a"]))));
        let mut no_id = default_executor();
        no_id.executor_id.value.clear();
        assert!(is_group_error(validate_group(&f, &no_id, &group(&["a"]))));
        let mut with_command = default_executor();
        with_command.command = Some(CommandInfo::default());
        assert!(is_group_error(validate_group(
            &f,
            &with_command,
            &group(&["a"])
        )));
        let mut other_framework = default_executor();
        other_framework.framework_id = Some(FrameworkId { value: "g".into() });
        assert!(is_group_error(validate_group(
            &f,
            &other_framework,
            &group(&["a"])
        )));

        let mut two_agents = group(&["a", "b"]);
        two_agents.tasks[1].agent_id.value = "other".into();
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &two_agents
        )));
        let mut own_executor = group(&["a"]);
        own_executor.tasks[0].executor = Some(default_executor());
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &own_executor
        )));
        let mut no_command = group(&["a"]);
        no_command.tasks[0].command = None;
        assert!(is_group_error(validate_group(
            &f,
            &default_executor(),
            &no_command
        )));
        assert_eq!(
            validate_group(
                &FrameworkInfo::default(),
                &default_executor(),
                &group(&["a"])
            ),
            Err(LaunchError::NoFrameworkId)
        );
    }

    #[test]
    fn a_request_is_one_task_or_a_group_with_its_executor() {
        let request = |task: Option<TaskInfo>, executor, task_group| LaunchTaskRequest {
            framework: framework(),
            task,
            executor,
            task_group,
        };
        assert!(matches!(
            Launch::from_request(request(Some(task("t")), None, None)),
            Ok(Launch::Task { .. })
        ));
        let launch =
            Launch::from_request(request(None, Some(default_executor()), Some(group(&["a"]))))
                .unwrap();
        assert!(matches!(launch, Launch::Group { .. }));
        assert_eq!(launch.agent_id(), "a");
        assert!(matches!(
            Launch::from_request(request(None, None, Some(group(&["a"])))),
            Err(LaunchError::InvalidTaskGroup(_))
        ));
        assert!(Launch::from_request(request(None, None, None)).is_err());
        assert!(Launch::from_request(request(
            Some(task("t")),
            Some(default_executor()),
            Some(group(&["a"]))
        ))
        .is_err());
    }
}
