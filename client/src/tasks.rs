//! The tasks the scheduler knows are not over, with the agent each was
//! last seen on: what reconciliation asks about. Pure.
//!
//! A task enters when it is launched through the handle (or given in the
//! configuration, for a scheduler restarting with stored tasks) and leaves
//! with its first terminal update.

use std::collections::BTreeMap;

use mesoraft_proto::mesos::v1::{AgentId, TaskId, TaskState, TaskStatus};

/// Whether `state` is final: the task will not run again (SPEC section 4;
/// UNREACHABLE and UNKNOWN may still change).
pub fn is_terminal(state: TaskState) -> bool {
    use TaskState::*;
    matches!(
        state,
        TaskFinished
            | TaskFailed
            | TaskKilled
            | TaskLost
            | TaskError
            | TaskDropped
            | TaskGone
            | TaskGoneByOperator
    )
}

/// Non-terminal tasks: id -> (agent, latest state).
#[derive(Debug, Default, Clone)]
pub struct TaskTable {
    tasks: BTreeMap<String, (Option<AgentId>, TaskState)>,
}

impl TaskTable {
    /// A task launched (or known from before): staging until heard of.
    pub fn launched(&mut self, task_id: &TaskId, agent_id: Option<AgentId>) {
        self.tasks
            .entry(task_id.value.clone())
            .or_insert((agent_id, TaskState::TaskStaging));
    }

    /// A status arrived: the task's state and agent are updated; a terminal
    /// status removes it.
    pub fn updated(&mut self, status: &TaskStatus) {
        let state = status.state();
        if is_terminal(state) {
            self.tasks.remove(&status.task_id.value);
            return;
        }
        let entry = self
            .tasks
            .entry(status.task_id.value.clone())
            .or_insert((None, state));
        entry.1 = state;
        if status.agent_id.is_some() {
            entry.0 = status.agent_id.clone();
        }
    }

    /// The scheduler no longer cares about `task_id`.
    pub fn forget(&mut self, task_id: &TaskId) {
        self.tasks.remove(&task_id.value);
    }

    /// What reconciliation asks about.
    pub fn non_terminal(&self) -> Vec<(TaskId, Option<AgentId>)> {
        self.tasks
            .iter()
            .map(|(id, (agent, _))| (TaskId { value: id.clone() }, agent.clone()))
            .collect()
    }

    pub fn state(&self, task_id: &str) -> Option<TaskState> {
        self.tasks.get(task_id).map(|(_, s)| *s)
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(task: &str, state: TaskState, agent: Option<&str>) -> TaskStatus {
        let mut s = TaskStatus {
            task_id: TaskId { value: task.into() },
            agent_id: agent.map(|a| AgentId { value: a.into() }),
            ..Default::default()
        };
        s.set_state(state);
        s
    }

    #[test]
    fn tasks_live_from_launch_to_their_terminal_update() {
        let mut table = TaskTable::default();
        let t = TaskId { value: "t".into() };
        table.launched(&t, Some(AgentId { value: "a1".into() }));
        assert_eq!(table.state("t"), Some(TaskState::TaskStaging));
        table.updated(&status("t", TaskState::TaskRunning, None));
        assert_eq!(table.state("t"), Some(TaskState::TaskRunning));
        assert_eq!(
            table.non_terminal()[0].1.as_ref().unwrap().value,
            "a1",
            "an update without an agent keeps the known one"
        );
        table.updated(&status("u", TaskState::TaskUnreachable, Some("a2")));
        assert_eq!(table.len(), 2);
        table.updated(&status("t", TaskState::TaskFinished, Some("a1")));
        table.forget(&TaskId { value: "u".into() });
        assert!(table.is_empty());
    }

    #[test]
    fn terminal_states_are_specs() {
        assert!(is_terminal(TaskState::TaskGoneByOperator));
        assert!(!is_terminal(TaskState::TaskUnreachable));
        assert!(!is_terminal(TaskState::TaskUnknown));
        assert!(!is_terminal(TaskState::TaskKilling));
    }
}
