//! What an ACCEPT does with the offers it names (SPEC 8): each LAUNCH and
//! LAUNCH_GROUP operation, in order, takes its tasks' resources out of
//! the offered pool of its role; a task that is invalid or does not fit
//! ends in TASK_ERROR (REASON_TASK_INVALID) and takes nothing; when the
//! offers themselves are invalid every task is dropped (TASK_DROPPED for
//! partition-aware frameworks, TASK_LOST for others, with
//! REASON_INVALID_OFFERS). What no task took goes back to the allocator.
//! Pure: the shell launches the plan and recovers the rest.

use std::collections::{BTreeMap, BTreeSet};

use mesoraft_proto::mesos::v1::offer::operation::Type as OperationType;
use mesoraft_proto::mesos::v1::offer::Operation;
use mesoraft_proto::mesos::v1::resource::AllocationInfo;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{
    AgentId, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesoraft_registry::TimeNs;

use super::offers::Taken;
use crate::allocator::Resources;
use crate::tasks::launch::{self, Launch};
use crate::tasks::status::partition_aware;

/// One launch the plan makes, with what it takes from its role's pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedLaunch {
    pub role: String,
    pub resources: Resources,
    pub launch: Launch,
}

#[derive(Debug, Default, PartialEq)]
pub struct AcceptPlan {
    /// The agent of the offers (None when no offer was valid).
    pub agent_id: Option<String>,
    pub launches: Vec<PlannedLaunch>,
    /// Updates for the tasks that are not launched.
    pub refused: Vec<TaskStatus>,
    /// What no launch took, by role: back to the allocator (with the
    /// call's refusal filter).
    pub unused: BTreeMap<String, Resources>,
    /// Operations this master does not carry out (reservations, volumes),
    /// named for the log.
    pub skipped: Vec<String>,
}

/// Plans the ACCEPT of `framework` (its info has its id) over `taken`.
pub fn plan(
    framework: &FrameworkInfo,
    taken: Taken,
    operations: Vec<Operation>,
    now_ns: TimeNs,
) -> AcceptPlan {
    let mut plan = AcceptPlan {
        agent_id: taken.offers.first().map(|o| o.agent_id.clone()),
        ..AcceptPlan::default()
    };
    for offer in taken.offers {
        plan.unused
            .entry(offer.role)
            .or_default()
            .add(&offer.resources);
    }
    if let Some(why) = taken.invalid {
        let (state, message) = if partition_aware(framework) {
            (TaskState::TaskDropped, why)
        } else {
            (TaskState::TaskLost, why)
        };
        for task in operations.iter().flat_map(tasks_of) {
            plan.refused.push(refusal(
                task,
                state,
                Reason::InvalidOffers,
                &message,
                now_ns,
            ));
        }
        return plan;
    }
    let agent_id = plan.agent_id.clone().unwrap_or_default();
    let mut launched_ids = BTreeSet::new();
    for operation in operations {
        let kind = operation
            .r#type
            .and_then(|t| OperationType::try_from(t).ok());
        match kind {
            Some(OperationType::Launch) => {
                for task in operation.launch.map(|l| l.task_infos).unwrap_or_default() {
                    let group = Group::single(task);
                    plan.place(framework, &agent_id, group, &mut launched_ids, now_ns);
                }
            }
            Some(OperationType::LaunchGroup) => {
                if let Some(lg) = operation.launch_group {
                    let group = Group {
                        executor: Some(lg.executor),
                        tasks: lg.task_group.tasks,
                    };
                    plan.place(framework, &agent_id, group, &mut launched_ids, now_ns);
                }
            }
            other => plan
                .skipped
                .push(other.map_or("UNKNOWN".to_string(), |k| k.as_str_name().to_string())),
        }
    }
    plan.unused.retain(|_, r| !r.is_empty());
    plan
}

/// A LAUNCH's task (no executor of a group) or a LAUNCH_GROUP's tasks.
struct Group {
    executor: Option<mesoraft_proto::mesos::v1::ExecutorInfo>,
    tasks: Vec<TaskInfo>,
}

impl Group {
    fn single(task: TaskInfo) -> Group {
        Group {
            executor: None,
            tasks: vec![task],
        }
    }
}

impl AcceptPlan {
    /// Validates `group`, takes its resources from the pool, and records
    /// the launch; or refuses every task of it.
    fn place(
        &mut self,
        framework: &FrameworkInfo,
        agent_id: &str,
        mut group: Group,
        launched_ids: &mut BTreeSet<String>,
        now_ns: TimeNs,
    ) {
        let pool_role = self.single_role();
        let checked = (|| {
            for task in &mut group.tasks {
                if task.agent_id.value != agent_id {
                    return Err(format!(
                        "Task {} uses agent {} but the offers are for agent {agent_id}",
                        task.task_id.value, task.agent_id.value
                    ));
                }
                if launched_ids.contains(&task.task_id.value) {
                    return Err(format!(
                        "Task {} is launched twice in this call",
                        task.task_id.value
                    ));
                }
                inject_role(&mut task.resources, pool_role.as_deref());
            }
            if let Some(executor) = group.executor.as_mut() {
                inject_role(&mut executor.resources, pool_role.as_deref());
            }
            let launch = match group.executor.clone() {
                None => {
                    let task = group.tasks[0].clone();
                    launch::validate(framework, &task).map_err(|e| e.to_string())?;
                    Launch::Task {
                        framework: framework.clone(),
                        task,
                    }
                }
                Some(executor) => {
                    let task_group = mesoraft_proto::mesos::v1::TaskGroupInfo {
                        tasks: group.tasks.clone(),
                    };
                    launch::validate_group(framework, &executor, &task_group)
                        .map_err(|e| e.to_string())?;
                    Launch::Group {
                        framework: framework.clone(),
                        executor,
                        task_group,
                    }
                }
            };
            let (role, resources) = self.demand(&group)?;
            Ok((role, resources, launch))
        })();
        match checked {
            Ok((role, resources, launch)) => {
                if let Some(pool) = self.unused.get_mut(&role) {
                    if let Some(rest) = pool.checked_sub(&resources) {
                        *pool = rest;
                    }
                }
                launched_ids.extend(group.tasks.iter().map(|t| t.task_id.value.clone()));
                self.launches.push(PlannedLaunch {
                    role,
                    resources,
                    launch,
                });
            }
            Err(message) => {
                for task in &group.tasks {
                    self.refused.push(refusal(
                        task,
                        TaskState::TaskError,
                        Reason::TaskInvalid,
                        &message,
                        now_ns,
                    ));
                }
            }
        }
    }

    /// The one role all offers are in, if they are in one.
    fn single_role(&self) -> Option<String> {
        let mut roles = self.unused.keys();
        match (roles.next(), roles.next()) {
            (Some(role), None) => Some(role.clone()),
            _ => None,
        }
    }

    /// What the group takes, in which role, if that role's pool has it.
    fn demand(&self, group: &Group) -> Result<(String, Resources), String> {
        let mut list: Vec<Resource> = group
            .tasks
            .iter()
            .flat_map(|t| t.resources.clone())
            .collect();
        if let Some(executor) = &group.executor {
            list.extend(executor.resources.clone());
        }
        let wanted = Resources::from_allocated_proto(&list).map_err(|e| e.to_string())?;
        let pool = self.unused.get(&wanted.role).ok_or_else(|| {
            format!(
                "Task uses resources allocated to role '{}', but no offer is in that role",
                wanted.role
            )
        })?;
        if !pool.contains(&wanted.resources) {
            return Err(format!(
                "Task uses more resources {} than available {}",
                wanted.resources, pool
            ));
        }
        Ok((wanted.role, wanted.resources))
    }
}

/// A framework that is not MULTI_ROLE sends resources without
/// `allocation_info`; Mesos fills in the offers' role.
fn inject_role(resources: &mut [Resource], role: Option<&str>) {
    let Some(role) = role else {
        return;
    };
    for r in resources {
        r.allocation_info.get_or_insert_with(|| AllocationInfo {
            role: Some(role.to_string()),
        });
    }
}

fn tasks_of(operation: &Operation) -> Vec<&TaskInfo> {
    let mut tasks: Vec<&TaskInfo> = Vec::new();
    if let Some(l) = &operation.launch {
        tasks.extend(l.task_infos.iter());
    }
    if let Some(g) = &operation.launch_group {
        tasks.extend(g.task_group.tasks.iter());
    }
    tasks
}

/// The master's update for a task it does not launch.
fn refusal(
    task: &TaskInfo,
    state: TaskState,
    reason: Reason,
    message: &str,
    now_ns: TimeNs,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task.task_id.value.clone(),
        },
        state: state as i32,
        message: Some(message.to_string()),
        source: Some(Source::Master as i32),
        reason: Some(reason as i32),
        agent_id: Some(AgentId {
            value: task.agent_id.value.clone(),
        }),
        timestamp: Some(now_ns as f64 / 1e9),
        ..TaskStatus::default()
    }
}

#[cfg(test)]
mod tests;
