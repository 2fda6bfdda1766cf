//! What the operator endpoints show of frameworks and tasks, as plain
//! values built from the leader's [`FrameworksView`] and
//! [`TasksView`](crate::tasks::TasksView): Mesos's v1 `GET_FRAMEWORKS` and
//! `GET_STATE` answers ([`v1`]), and the v0 `/master/frameworks`,
//! `/master/tasks` and framework part of `/master/state` ([`v0`]), and the
//! operator event stream ([`events`]). Pure:
//! the driver builds the views in one step, the HTTP handlers render them.

pub mod events;
pub mod v0;
pub mod v1;

use mesoraft_proto::mesos::v1::{FrameworkInfo, Offer, Resource};
use mesoraft_registry::TimeNs;

use crate::driver::AgentsView;
use crate::frameworks::{CompletedFramework, FrameworkState};
use crate::tasks::TasksView;

/// A framework the leader knows and has not completed.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkRow {
    /// Its info, `id` set.
    pub info: FrameworkInfo,
    pub state: FrameworkState,
    /// When the registry added it, if this leader knows.
    pub registered_ns: Option<TimeNs>,
    /// When it last subscribed again to this leader.
    pub reregistered_ns: Option<TimeNs>,
    /// When its stream ended (its failover timer runs since).
    pub unregistered_ns: Option<TimeNs>,
    /// Its outstanding offers.
    pub offers: Vec<Offer>,
    /// What its non-terminal tasks hold, merged per role.
    pub allocated: Vec<Resource>,
    /// What its outstanding offers hold, merged per role.
    pub offered: Vec<Resource>,
}

impl FrameworkRow {
    pub fn id(&self) -> &str {
        self.info.id.as_ref().map_or("", |id| id.value.as_str())
    }

    /// Mesos's `active`: subscribed, offers may go to it.
    pub fn active(&self) -> bool {
        self.state == FrameworkState::Active
    }

    /// Mesos's `connected`: a scheduler stream is bound to it.
    pub fn connected(&self) -> bool {
        matches!(
            self.state,
            FrameworkState::Active | FrameworkState::Subscribing
        )
    }

    /// Mesos's `recovered`: not subscribed since the masters' failover.
    pub fn recovered(&self) -> bool {
        self.state == FrameworkState::Recovered
    }
}

/// The frameworks as the leader sees them, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameworksView {
    pub frameworks: Vec<FrameworkRow>,
    /// Newest first, at most the framework policy's completed capacity.
    pub completed: Vec<CompletedFramework>,
}

/// Everything `GET_STATE` and `/master/state` show, read in one step of
/// the driver so that the parts agree with each other.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    pub agents: AgentsView,
    pub frameworks: FrameworksView,
    pub tasks: TasksView,
}

/// A completed framework's info; an empty one with its id when the
/// registry kept only the id (completed before this term).
fn completed_info(completed: &CompletedFramework) -> FrameworkInfo {
    let mut info = completed.info.clone().unwrap_or_default();
    info.id = Some(mesoraft_proto::mesos::v1::FrameworkId {
        value: completed.framework_id.clone(),
    });
    info
}

#[cfg(test)]
pub(crate) mod fixtures {
    use mesoraft_proto::mesos::v1::{
        resource::AllocationInfo, value, AgentId, FrameworkId, OfferId, Task, TaskId, TaskState,
        TaskStatus,
    };

    use super::*;

    pub fn scalar(name: &str, amount: f64, role: &str) -> Resource {
        #[allow(deprecated)]
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: amount }),
            role: Some("*".into()),
            allocation_info: Some(AllocationInfo {
                role: Some(role.into()),
            }),
            ..Resource::default()
        }
    }

    pub fn info(id: &str, name: &str) -> FrameworkInfo {
        FrameworkInfo {
            user: "root".into(),
            name: name.into(),
            id: Some(FrameworkId { value: id.into() }),
            failover_timeout: Some(60.0),
            checkpoint: Some(true),
            roles: vec!["web".into()],
            capabilities: vec![mesoraft_proto::mesos::v1::framework_info::Capability {
                r#type: Some(
                    mesoraft_proto::mesos::v1::framework_info::capability::Type::MultiRole as i32,
                ),
            }],
            ..FrameworkInfo::default()
        }
    }

    pub fn task(framework: &str, id: &str, agent: &str, state: TaskState) -> Task {
        Task {
            name: format!("task {id}"),
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId {
                value: framework.into(),
            },
            agent_id: AgentId {
                value: agent.into(),
            },
            state: state as i32,
            resources: vec![scalar("cpus", 0.5, "web"), scalar("mem", 64.0, "web")],
            statuses: vec![TaskStatus {
                task_id: TaskId { value: id.into() },
                state: state as i32,
                timestamp: Some(1_700_000_000.25),
                ..TaskStatus::default()
            }],
            ..Task::default()
        }
    }

    /// F1 active with one running task and one offer; F2 disconnected
    /// since t=1_700_000_100 s; F0 completed.
    pub fn cluster() -> ClusterView {
        let offer = Offer {
            id: OfferId {
                value: "c-3-O7".into(),
            },
            framework_id: FrameworkId { value: "F1".into() },
            agent_id: AgentId { value: "S1".into() },
            hostname: "host-S1".into(),
            resources: vec![scalar("cpus", 1.5, "web")],
            allocation_info: Some(AllocationInfo {
                role: Some("web".into()),
            }),
            ..Offer::default()
        };
        let frameworks = FrameworksView {
            frameworks: vec![
                FrameworkRow {
                    info: info("F1", "one"),
                    state: FrameworkState::Active,
                    registered_ns: Some(1_700_000_000_000_000_000),
                    reregistered_ns: Some(1_700_000_050_000_000_000),
                    unregistered_ns: None,
                    offers: vec![offer.clone()],
                    allocated: vec![scalar("cpus", 0.5, "web"), scalar("mem", 64.0, "web")],
                    offered: offer.resources.clone(),
                },
                FrameworkRow {
                    info: info("F2", "two"),
                    state: FrameworkState::Inactive,
                    registered_ns: Some(1_700_000_000_000_000_000),
                    reregistered_ns: None,
                    unregistered_ns: Some(1_700_000_100_000_000_000),
                    offers: vec![],
                    allocated: vec![],
                    offered: vec![],
                },
            ],
            completed: vec![CompletedFramework {
                framework_id: "F0".into(),
                info: None,
                completed_ns: 1_600_000_000_000_000_000,
            }],
        };
        let tasks = TasksView {
            tasks: vec![task("F1", "t1", "S1", TaskState::TaskRunning)],
            unreachable_tasks: vec![task("F2", "t2", "S5", TaskState::TaskUnreachable)],
            completed_tasks: vec![task("F0", "t0", "S1", TaskState::TaskFinished)],
            frameworks: vec![],
        };
        ClusterView {
            agents: crate::agent_views::fixtures::view(),
            frameworks,
            tasks,
        }
    }
}
