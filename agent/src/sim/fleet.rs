//! What each simulated agent is and reports, decided without I/O: its
//! name and hostname from the prefixes and its index, its info (the same
//! resources for every agent), and the running tasks, executors and
//! framework its re-registration carries.
//!
//! The info never changes between registrations, so a re-registration
//! after a failover matches what the registry holds and needs no registry
//! write on the master (MESOS-7711): the simulator measures the path a
//! healthy cluster takes.

use mesoraft_proto::agent::{agent_to_master, ReregisterSlaveMessage};
use mesoraft_proto::mesos::v1::{
    task_status, AgentId, AgentInfo, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId,
    FrameworkInfo, Resource, Task, TaskId, TaskState, TaskStatus,
};

use crate::driver::Reregistration;
use crate::resources::{parse_resources, scalar, ResourcesError};
use crate::session::reaction::{hello, VERSION};

/// The resources every simulated agent offers, unless given.
pub const DEFAULT_RESOURCES: &str = "cpus:8;mem:16384;disk:65536;ports:[31000-32000]";

/// The port every simulated agent advertises (nothing listens on it).
pub const ADVERTISED_PORT: i32 = 5051;

/// The simulated agents of one simulator process.
#[derive(Clone, Debug)]
pub struct Fleet {
    id_prefix: String,
    hostname_prefix: String,
    resources: Vec<Resource>,
    tasks_per_agent: usize,
}

impl Fleet {
    /// `resources` in Mesos's syntax (see [`crate::resources`]).
    pub fn new(
        id_prefix: &str,
        hostname_prefix: &str,
        resources: &str,
        tasks_per_agent: usize,
    ) -> Result<Self, ResourcesError> {
        Ok(Self {
            id_prefix: id_prefix.to_string(),
            hostname_prefix: hostname_prefix.to_string(),
            resources: parse_resources(resources)?,
            tasks_per_agent,
        })
    }

    /// The agent's name in the report: unique across simulator processes
    /// that use different `--id-prefix`es.
    pub fn name(&self, index: usize) -> String {
        format!("{}{index}", self.id_prefix)
    }

    pub fn hostname(&self, index: usize) -> String {
        format!("{}{index}", self.hostname_prefix)
    }

    /// The agent's info; `id` once a master gave it one.
    pub fn info(&self, index: usize, id: Option<&str>) -> AgentInfo {
        AgentInfo {
            hostname: self.hostname(index),
            port: Some(ADVERTISED_PORT),
            resources: self.resources.clone(),
            attributes: Vec::new(),
            id: id.map(|value| AgentId {
                value: value.to_string(),
            }),
            domain: None,
        }
    }

    /// The framework every task of the simulator belongs to.
    fn framework_id(&self) -> FrameworkId {
        FrameworkId {
            value: format!("{}framework", self.id_prefix),
        }
    }

    fn framework(&self) -> FrameworkInfo {
        FrameworkInfo {
            user: "root".into(),
            name: "agent-sim".into(),
            id: Some(self.framework_id()),
            checkpoint: Some(true),
            roles: vec!["*".into()],
            ..FrameworkInfo::default()
        }
    }

    /// The first message of a session: RegisterSlave without an id,
    /// otherwise a ReregisterSlave carrying everything the agent runs.
    pub fn hello(&self, index: usize, info: &AgentInfo) -> agent_to_master::Message {
        match &info.id {
            None => hello(info, Reregistration::default()),
            Some(id) => agent_to_master::Message::ReregisterSlave(self.reregistration(
                index,
                &id.value,
                info.clone(),
            )),
        }
    }

    /// ReregisterSlave with `tasks_per_agent` tasks in TASK_RUNNING, one
    /// command executor each (Mesos runs a command task in an executor of
    /// its own), and their framework.
    pub fn reregistration(
        &self,
        index: usize,
        agent_id: &str,
        info: AgentInfo,
    ) -> ReregisterSlaveMessage {
        let framework_id = self.framework_id();
        let mut tasks = Vec::with_capacity(self.tasks_per_agent);
        let mut executors = Vec::with_capacity(self.tasks_per_agent);
        for n in 0..self.tasks_per_agent {
            let name = format!("{}-task-{n}", self.name(index));
            let task_id = TaskId {
                value: name.clone(),
            };
            let executor_id = ExecutorId {
                value: name.clone(),
            };
            let resources = vec![scalar("cpus", 0.1), scalar("mem", 32.0)];
            let mut status = TaskStatus {
                task_id: task_id.clone(),
                agent_id: Some(AgentId {
                    value: agent_id.to_string(),
                }),
                executor_id: Some(executor_id.clone()),
                ..TaskStatus::default()
            };
            status.set_state(TaskState::TaskRunning);
            status.set_source(task_status::Source::Executor);
            let mut task = Task {
                name: name.clone(),
                task_id,
                framework_id: framework_id.clone(),
                executor_id: Some(executor_id.clone()),
                agent_id: AgentId {
                    value: agent_id.to_string(),
                },
                resources: resources.clone(),
                statuses: vec![status],
                ..Task::default()
            };
            task.set_state(TaskState::TaskRunning);
            task.set_status_update_state(TaskState::TaskRunning);
            tasks.push(task);
            executors.push(ExecutorInfo {
                executor_id,
                framework_id: Some(framework_id.clone()),
                command: Some(CommandInfo {
                    value: Some("sleep 1000000".into()),
                    ..CommandInfo::default()
                }),
                resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                name: Some(format!("Command Executor (Task: {name})")),
                ..ExecutorInfo::default()
            });
        }
        ReregisterSlaveMessage {
            slave: info,
            tasks,
            executor_infos: executors,
            version: Some(VERSION.into()),
            frameworks: if self.tasks_per_agent > 0 {
                vec![self.framework()]
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn fleet(tasks: usize) -> Fleet {
        Fleet::new("a-", "host-", DEFAULT_RESOURCES, tasks).unwrap()
    }

    #[test]
    fn names_and_infos_follow_the_prefixes_and_index() {
        let f = fleet(10);
        assert_eq!(f.name(7), "a-7");
        let info = f.info(7, None);
        assert_eq!(info.hostname, "host-7");
        assert_eq!(info.port, Some(ADVERTISED_PORT));
        assert_eq!(info.resources.len(), 4);
        assert!(crate::host_port::check_hostname(&info.hostname).is_ok());
        // The same agent gets the same info every time: a re-registration
        // matches what the master admitted.
        assert_eq!(f.info(7, Some("c-S1")), f.info(7, Some("c-S1")));
    }

    #[test]
    fn hello_registers_without_an_id_and_reregisters_with_tasks_with_one() {
        let f = fleet(10);
        assert!(matches!(
            f.hello(3, &f.info(3, None)),
            agent_to_master::Message::RegisterSlave(_)
        ));
        let agent_to_master::Message::ReregisterSlave(m) = f.hello(3, &f.info(3, Some("c-S9")))
        else {
            panic!("expected ReregisterSlave");
        };
        assert_eq!(m.slave, f.info(3, Some("c-S9")));
        assert_eq!(m.tasks.len(), 10);
        assert_eq!(m.executor_infos.len(), 10);
        assert_eq!(m.frameworks.len(), 1);
        for task in &m.tasks {
            assert_eq!(task.state(), TaskState::TaskRunning);
            assert_eq!(task.agent_id.value, "c-S9");
            assert_eq!(task.framework_id, f.framework_id());
        }
        let ids: std::collections::BTreeSet<_> =
            m.tasks.iter().map(|t| t.task_id.value.clone()).collect();
        assert_eq!(ids.len(), 10, "task ids are distinct");
        // What one agent puts on the wire after a failover.
        let bytes = m.encoded_len();
        assert!((2_000..16_000).contains(&bytes), "{bytes} bytes");
    }

    #[test]
    fn no_tasks_means_no_framework() {
        let f = fleet(0);
        let m = f.reregistration(1, "c-S1", f.info(1, Some("c-S1")));
        assert!(m.tasks.is_empty() && m.executor_infos.is_empty() && m.frameworks.is_empty());
    }
}
