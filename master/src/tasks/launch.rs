//! What a task must satisfy before the master sends it to an agent (the
//! subset of Mesos's task validation that needs no offer): a valid id,
//! exactly one of a command and an executor, some resources.

use mesoraft_proto::mesos::v1::{FrameworkInfo, TaskInfo};

/// Why a launch was refused. Nothing was sent to the agent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid task: {0}")]
    InvalidTask(String),
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
}
