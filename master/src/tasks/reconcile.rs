//! Answers to RECONCILE (SPEC 6): what the master tells a framework about
//! its tasks, implicitly (all it knows) or explicitly (the tasks named).
//! Pure: the task table and the agents' standing are inputs.
//!
//! Answers carry `REASON_RECONCILIATION`, source `SOURCE_MASTER` and no
//! uuid (nobody acknowledges them).

use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{
    AgentId, FrameworkInfo, Task, TaskId, TaskState, TaskStatus, TimeInfo,
};
use mesoraft_registry::TimeNs;

use super::status::partition_aware;
use super::table::TaskTable;

/// What the leader knows of an agent a reconciliation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStanding {
    /// Registered with this leader (connected or briefly disconnected).
    Registered,
    /// Admitted before this term and not back yet: its tasks are unknown
    /// until it re-registers or times out.
    Recovered,
    Unreachable {
        since_ns: TimeNs,
    },
    Gone,
    /// Never seen, or pruned from the registry.
    Unknown,
}

/// Every task the framework has on agents that are not unreachable
/// (terminal but unacknowledged ones included), as [`known`] answers.
pub fn implicit(table: &TaskTable, framework_id: &str, now_ns: TimeNs) -> Vec<TaskStatus> {
    let mut tasks: Vec<&Task> = table
        .tasks_of_framework(framework_id)
        .filter(|t| !table.is_agent_unreachable(&t.agent_id.value))
        .collect();
    tasks.sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
    tasks.into_iter().map(|t| known(t, now_ns)).collect()
}

/// Answers for the tasks named: `standing` tells where each hinted agent
/// is, `any_recovered` whether some agent has still not come back.
/// Tasks that cannot be answered yet are left out (the framework asks
/// again).
pub fn explicit(
    table: &TaskTable,
    framework: &FrameworkInfo,
    requests: &[(String, Option<String>)],
    standing: impl Fn(&str) -> AgentStanding,
    any_recovered: bool,
    now_ns: TimeNs,
) -> Vec<TaskStatus> {
    let framework_id = framework.id.as_ref().map_or("", |id| id.value.as_str());
    let aware = partition_aware(framework);
    let mut answers = Vec::new();
    for (task_id, agent_hint) in requests {
        if let Some(task) = table.task(framework_id, task_id) {
            answers.push(known(task, now_ns));
            continue;
        }
        let hinted = agent_hint.as_deref().map(|a| (a, standing(a)));
        let (state, unreachable_since) = match hinted {
            Some((_, AgentStanding::Recovered)) => continue,
            None if any_recovered => continue,
            Some((_, AgentStanding::Registered)) => {
                (gone_or_lost(aware, TaskState::TaskGone), None)
            }
            Some((_, AgentStanding::Unreachable { since_ns })) => (
                gone_or_lost(aware, TaskState::TaskUnreachable),
                Some(since_ns),
            ),
            Some((_, AgentStanding::Gone)) => {
                (gone_or_lost(aware, TaskState::TaskGoneByOperator), None)
            }
            Some((_, AgentStanding::Unknown)) | None => {
                (gone_or_lost(aware, TaskState::TaskUnknown), None)
            }
        };
        answers.push(TaskStatus {
            task_id: TaskId {
                value: task_id.clone(),
            },
            state: state as i32,
            agent_id: agent_hint.clone().map(|value| AgentId { value }),
            unreachable_time: unreachable_since.map(|nanoseconds| TimeInfo { nanoseconds }),
            message: Some("Reconciliation: task is unknown".to_string()),
            ..reconciliation_status(now_ns)
        });
    }
    answers
}

/// Partition-aware frameworks learn the precise state; others TASK_LOST.
fn gone_or_lost(aware: bool, precise: TaskState) -> TaskState {
    if aware {
        precise
    } else {
        TaskState::TaskLost
    }
}

/// A known task's answer: the state of the update being delivered (Mesos's
/// `status_update_state`), or the latest state when none is, with its
/// latest status's details. Not the latest state: a task may have ended
/// on its agent while the updates before its end are still on their way
/// to the framework, and answering with the end would have the framework
/// see the task ended and then running (SPEC 5, 6).
fn known(task: &Task, now_ns: TimeNs) -> TaskStatus {
    let latest = task.statuses.last();
    TaskStatus {
        task_id: task.task_id.clone(),
        state: task.status_update_state.unwrap_or(task.state),
        agent_id: Some(task.agent_id.clone()),
        executor_id: task.executor_id.clone(),
        message: Some("Reconciliation: latest task status".to_string()),
        unreachable_time: latest.and_then(|s| s.unreachable_time),
        healthy: latest.and_then(|s| s.healthy),
        ..reconciliation_status(now_ns)
    }
}

fn reconciliation_status(now_ns: TimeNs) -> TaskStatus {
    TaskStatus {
        source: Some(Source::Master as i32),
        reason: Some(Reason::Reconciliation as i32),
        timestamp: Some(now_ns as f64 / 1e9),
        ..TaskStatus::default()
    }
}

#[cfg(test)]
mod tests;
