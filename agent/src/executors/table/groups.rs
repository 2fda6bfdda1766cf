//! Task groups (Mesos's `RunTaskGroupMessage`): every task of a group
//! runs in the framework's default executor (an `ExecutorInfo` of type
//! DEFAULT, which the agent starts as `mesoraft default-executor`). The
//! group is checked as a whole, as the agent of Mesos does: one bad task
//! refuses them all with TASK_ERROR / REASON_TASK_GROUP_INVALID. Queued,
//! its tasks wait together and go to the executor in one LAUNCH_GROUP.

use std::collections::BTreeSet;

use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{ExecutorInfo, FrameworkInfo, TaskInfo, TaskState};

use super::parts::{agent_update, status_action};
use super::{Stamps, Table};
use crate::checkpoint::layout::check_id;
use crate::executors::model::Action;

impl Table {
    pub(super) fn run_task_group(
        &mut self,
        framework: FrameworkInfo,
        mut executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let Some(framework_id) = framework.id.clone() else {
            tracing::warn!(
                tasks = tasks.len(),
                "task group without a framework id: ignored"
            );
            return Vec::new();
        };
        if self
            .frameworks
            .get(&framework_id.value)
            .is_some_and(|f| f.terminating)
        {
            tracing::warn!(framework_id = %framework_id.value, "task group of a terminating framework: ignored");
            return Vec::new();
        }
        if let Err(problem) = self.check_group(&framework_id.value, &executor, &tasks) {
            tracing::warn!(framework_id = %framework_id.value, %problem, "task group refused");
            let agent_id = self.agent.id.clone().unwrap_or_default();
            return tasks
                .iter()
                .map(|task| {
                    let update = agent_update(
                        &framework_id,
                        None,
                        &agent_id,
                        &task.task_id,
                        TaskState::TaskError,
                        Reason::TaskGroupInvalid,
                        &problem,
                        stamps,
                    );
                    status_action(update, None, None)
                })
                .collect();
        }
        executor.framework_id = Some(framework_id);
        self.admit(framework, executor, false, tasks, true, stamps)
    }

    /// Why the group cannot run here, if it cannot.
    fn check_group(
        &self,
        framework_id: &str,
        executor: &ExecutorInfo,
        tasks: &[TaskInfo],
    ) -> Result<(), String> {
        // Ids name directories of the sandbox and the checkpoint.
        check_id("framework id", framework_id)?;
        check_id("executor id", &executor.executor_id.value)?;
        if executor.r#type() != ExecutorType::Default {
            return Err(format!(
                "Task group executor {:?} must be of type DEFAULT (the default executor runs task groups)",
                executor.executor_id.value
            ));
        }
        if tasks.is_empty() {
            return Err("Task group is empty".into());
        }
        if let Some(existing) = self.executor(&crate::executors::model::ExecutorKey {
            framework_id: framework_id.to_string(),
            executor_id: executor.executor_id.value.clone(),
        }) {
            if existing.command_executor || existing.info.r#type() != ExecutorType::Default {
                return Err(format!(
                    "Executor {:?} already runs here and is not a default executor",
                    executor.executor_id.value
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for task in tasks {
            let id = &task.task_id.value;
            check_id("task id", id)?;
            if !seen.insert(id.as_str()) {
                return Err(format!("Task id {id:?} appears twice in the task group"));
            }
            if task.executor.is_some() {
                return Err(format!(
                    "Task {id:?} of a task group must not have its own executor"
                ));
            }
            if self.find_task(framework_id, id).is_some() {
                return Err(format!("Task {id:?} already runs on this agent"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
