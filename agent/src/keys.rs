//! What names an executor and one run of it, across the agent: the table,
//! the update manager and the checkpoint all key their records by these.

use mesoraft_proto::mesos::v1::{ExecutorId, FrameworkId};

/// One executor of one framework.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutorKey {
    pub framework_id: String,
    pub executor_id: String,
}

impl ExecutorKey {
    pub fn new(framework_id: &FrameworkId, executor_id: &ExecutorId) -> Self {
        ExecutorKey {
            framework_id: framework_id.value.clone(),
            executor_id: executor_id.value.clone(),
        }
    }
}

impl std::fmt::Display for ExecutorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of framework {}", self.executor_id, self.framework_id)
    }
}

/// One run (container) of an executor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunKey {
    pub executor: ExecutorKey,
    pub container_id: String,
}
