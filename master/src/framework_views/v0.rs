//! Mesos's v0 documents about frameworks and tasks (`master/
//! readonly_handler.cpp`, `common/http.cpp`): `/master/frameworks`,
//! `/master/tasks` and the framework part of `/master/state`. Times in
//! seconds, resources in Mesos's [`model`](crate::agent_views::model).

use std::collections::HashMap;

use mesoraft_proto::json::to_json;
use mesoraft_proto::mesos::v1::{Offer, Task, TaskState, TaskStatus};
use serde::Serialize;
use serde_json::Value;

use super::{completed_info, FrameworkRow, FrameworksView};
use crate::agent_views::model::{self, Model};
use crate::frameworks::CompletedFramework;
use crate::tasks::TasksView;

/// A task, as the v0 endpoints write it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskDoc {
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub executor_id: String,
    pub slave_id: String,
    pub state: String,
    pub resources: Model,
    pub role: String,
    pub statuses: Vec<StatusDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusDoc {
    pub state: String,
    pub timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// An offer, as `/master/frameworks` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfferDoc {
    pub id: String,
    pub framework_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<Value>,
    pub slave_id: String,
    pub resources: Model,
}

/// A framework with its tasks and offers (Mesos's `FullFrameworkWriter`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameworkDoc {
    pub id: String,
    pub name: String,
    pub used_resources: Model,
    pub offered_resources: Model,
    pub capabilities: Vec<Value>,
    pub hostname: String,
    pub webui_url: String,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    pub user: String,
    pub failover_timeout: f64,
    pub checkpoint: bool,
    pub registered_time: f64,
    /// Only once it subscribed again (Mesos leaves it out before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<f64>,
    pub unregistered_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub resources: Model,
    /// Multi-role frameworks list `roles`, the others `role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub tasks: Vec<TaskDoc>,
    pub unreachable_tasks: Vec<TaskDoc>,
    pub completed_tasks: Vec<TaskDoc>,
    pub offers: Vec<OfferDoc>,
    /// The executors' infos are not kept by the leader yet: always empty.
    pub executors: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Value>,
}

/// `GET /master/frameworks`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FrameworksDoc {
    pub frameworks: Vec<FrameworkDoc>,
    pub completed_frameworks: Vec<FrameworkDoc>,
    /// Always empty (as in Mesos since 1.0).
    pub unregistered_frameworks: Vec<String>,
}

/// `GET /master/tasks`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TasksDoc {
    pub tasks: Vec<TaskDoc>,
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn state_name(state: i32) -> String {
    TaskState::try_from(state)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("UNKNOWN_{state}"))
}

fn status_doc(status: &TaskStatus) -> StatusDoc {
    StatusDoc {
        state: state_name(status.state),
        timestamp: status.timestamp.unwrap_or(0.0),
        labels: status.labels.as_ref().map(to_json),
        healthy: status.healthy,
    }
}

pub fn task_doc(task: &Task) -> TaskDoc {
    TaskDoc {
        id: task.task_id.value.clone(),
        name: task.name.clone(),
        framework_id: task.framework_id.value.clone(),
        executor_id: task
            .executor_id
            .as_ref()
            .map(|e| e.value.clone())
            .unwrap_or_default(),
        slave_id: task.agent_id.value.clone(),
        state: state_name(task.state),
        resources: model::resources(&task.resources),
        role: task
            .resources
            .first()
            .and_then(|r| r.allocation_info.as_ref())
            .and_then(|a| a.role.clone())
            .unwrap_or_default(),
        statuses: task.statuses.iter().map(status_doc).collect(),
        user: task.user.clone(),
        labels: task.labels.as_ref().map(to_json),
    }
}

fn offer_doc(offer: &Offer) -> OfferDoc {
    OfferDoc {
        id: offer.id.value.clone(),
        framework_id: offer.framework_id.value.clone(),
        allocation_info: offer.allocation_info.as_ref().map(to_json),
        slave_id: offer.agent_id.value.clone(),
        resources: model::resources(&offer.resources),
    }
}

/// The tasks of each framework, by kind.
#[derive(Default)]
struct TasksOf<'a> {
    tasks: Vec<&'a Task>,
    unreachable: Vec<&'a Task>,
    completed: Vec<&'a Task>,
}

fn tasks_by_framework(tasks: &TasksView) -> HashMap<&str, TasksOf<'_>> {
    let mut by: HashMap<&str, TasksOf> = HashMap::new();
    for t in &tasks.tasks {
        by.entry(&t.framework_id.value).or_default().tasks.push(t);
    }
    for t in &tasks.unreachable_tasks {
        by.entry(&t.framework_id.value)
            .or_default()
            .unreachable
            .push(t);
    }
    for t in &tasks.completed_tasks {
        by.entry(&t.framework_id.value)
            .or_default()
            .completed
            .push(t);
    }
    by
}

fn docs(tasks: &[&Task]) -> Vec<TaskDoc> {
    tasks.iter().map(|t| task_doc(t)).collect()
}

fn framework_doc(row: &FrameworkRow, tasks: Option<&TasksOf>) -> FrameworkDoc {
    let info = &row.info;
    let used = model::resources(&row.allocated);
    let offered = model::resources(&row.offered);
    let both: Vec<_> = row.allocated.iter().chain(&row.offered).cloned().collect();
    let multi_role = info.capabilities.iter().any(|c| {
        c.r#type
            == Some(mesoraft_proto::mesos::v1::framework_info::capability::Type::MultiRole as i32)
    });
    #[allow(deprecated)] // `FrameworkInfo.role`: Mesos still writes it.
    let role = info.role.clone().unwrap_or_else(|| "*".to_string());
    FrameworkDoc {
        id: row.id().to_string(),
        name: info.name.clone(),
        used_resources: used,
        offered_resources: offered,
        capabilities: info.capabilities.iter().map(to_json).collect(),
        hostname: info.hostname.clone().unwrap_or_default(),
        webui_url: info.webui_url.clone().unwrap_or_default(),
        active: row.active(),
        connected: row.connected(),
        recovered: row.recovered(),
        user: info.user.clone(),
        failover_timeout: info.failover_timeout.unwrap_or(0.0),
        checkpoint: info.checkpoint.unwrap_or(false),
        registered_time: row.registered_ns.map_or(0.0, seconds),
        reregistered_time: row.reregistered_ns.map(seconds),
        unregistered_time: row.unregistered_ns.map_or(0.0, seconds),
        principal: info.principal.clone(),
        resources: model::resources(&both),
        roles: multi_role.then(|| info.roles.clone()),
        role: (!multi_role).then_some(role),
        tasks: tasks.map(|t| docs(&t.tasks)).unwrap_or_default(),
        unreachable_tasks: tasks.map(|t| docs(&t.unreachable)).unwrap_or_default(),
        completed_tasks: tasks.map(|t| docs(&t.completed)).unwrap_or_default(),
        offers: row.offers.iter().map(offer_doc).collect(),
        executors: Vec::new(),
        labels: info.labels.as_ref().map(to_json),
    }
}

fn completed_doc(c: &CompletedFramework, tasks: Option<&TasksOf>) -> FrameworkDoc {
    let row = FrameworkRow {
        info: completed_info(c),
        state: crate::frameworks::FrameworkState::Removing,
        registered_ns: None,
        reregistered_ns: None,
        unregistered_ns: Some(c.completed_ns),
        offers: Vec::new(),
        allocated: Vec::new(),
        offered: Vec::new(),
    };
    let mut doc = framework_doc(&row, tasks);
    // A completed framework runs nothing: every task it had is completed.
    doc.tasks.clear();
    doc.unreachable_tasks.clear();
    doc
}

/// `/master/frameworks`, and the framework lists of `/master/state`.
pub fn frameworks(view: &FrameworksView, tasks: &TasksView) -> FrameworksDoc {
    let by = tasks_by_framework(tasks);
    FrameworksDoc {
        frameworks: view
            .frameworks
            .iter()
            .map(|row| framework_doc(row, by.get(row.id())))
            .collect(),
        completed_frameworks: view
            .completed
            .iter()
            .map(|c| completed_doc(c, by.get(c.framework_id.as_str())))
            .collect(),
        unregistered_frameworks: Vec::new(),
    }
}

/// The query of `/master/tasks`, as Mesos reads it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct TasksQuery {
    /// At most this many tasks (Mesos's default: 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// `asc` or `des` (the default) by the time of the first status.
    pub order: Option<String>,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
}

/// Mesos's default `limit` of `/master/tasks`.
pub const DEFAULT_TASKS_LIMIT: usize = 100;

/// `/master/tasks`: live, unreachable and completed tasks, ordered by
/// the time of their first status (then id), filtered and paged.
pub fn tasks(view: &TasksView, query: &TasksQuery) -> Result<TasksDoc, String> {
    let ascending = match query.order.as_deref() {
        None | Some("des") => false,
        Some("asc") => true,
        Some(other) => return Err(format!("order must be 'asc' or 'des', not {other:?}")),
    };
    let mut all: Vec<&Task> = view
        .tasks
        .iter()
        .chain(&view.unreachable_tasks)
        .chain(&view.completed_tasks)
        .filter(|t| {
            query
                .framework_id
                .as_ref()
                .is_none_or(|f| &t.framework_id.value == f)
                && query
                    .task_id
                    .as_ref()
                    .is_none_or(|id| &t.task_id.value == id)
        })
        .collect();
    let started = |t: &Task| t.statuses.first().and_then(|s| s.timestamp).unwrap_or(0.0);
    all.sort_by(|a, b| {
        started(a)
            .total_cmp(&started(b))
            .then_with(|| a.task_id.value.cmp(&b.task_id.value))
    });
    if !ascending {
        all.reverse();
    }
    let tasks = all
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(query.limit.unwrap_or(DEFAULT_TASKS_LIMIT))
        .map(task_doc)
        .collect();
    Ok(TasksDoc { tasks })
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::mesos::v1::TaskState;
    use serde_json::json;

    use super::super::fixtures;
    use super::*;

    #[test]
    fn a_framework_has_mesos_v0_shape_with_its_tasks_and_offers() {
        let cluster = fixtures::cluster();
        let doc = serde_json::to_value(frameworks(&cluster.frameworks, &cluster.tasks)).unwrap();
        let f1 = &doc["frameworks"][0];
        assert_eq!(f1["id"], "F1");
        assert_eq!(f1["name"], "one");
        assert_eq!(f1["active"], true);
        assert_eq!(f1["connected"], true);
        assert_eq!(f1["recovered"], false);
        assert_eq!(f1["user"], "root");
        assert_eq!(f1["failover_timeout"], 60.0);
        assert_eq!(f1["checkpoint"], true);
        assert_eq!(f1["registered_time"], 1_700_000_000.0);
        assert_eq!(f1["reregistered_time"], 1_700_000_050.0);
        assert_eq!(f1["roles"], json!(["web"]));
        assert!(f1.get("role").is_none(), "multi-role: roles only");
        assert_eq!(f1["capabilities"], json!([{"type": "MULTI_ROLE"}]));
        assert_eq!(f1["used_resources"]["cpus"], 0.5);
        assert_eq!(f1["offered_resources"]["cpus"], 1.5);
        assert_eq!(f1["resources"]["cpus"], 2.0);
        assert_eq!(f1["tasks"][0]["id"], "t1");
        assert_eq!(
            f1["offers"][0],
            json!({"id": "c-3-O7", "framework_id": "F1", "slave_id": "S1",
                   "allocation_info": {"role": "web"},
                   "resources": {"cpus": 1.5, "gpus": 0.0, "mem": 0.0, "disk": 0.0}})
        );
        let f2 = &doc["frameworks"][1];
        assert_eq!(f2["connected"], false);
        assert!(f2.get("reregistered_time").is_none(), "never re-subscribed");
        assert_eq!(f2["unregistered_time"], 1_700_000_100.0);
        assert_eq!(f2["unreachable_tasks"][0]["state"], "TASK_UNREACHABLE");
        let f0 = &doc["completed_frameworks"][0];
        assert_eq!(f0["id"], "F0");
        assert_eq!(f0["completed_tasks"][0]["id"], "t0");
        assert_eq!(doc["unregistered_frameworks"], json!([]));
    }

    #[test]
    fn a_task_has_mesos_v0_shape() {
        let task = fixtures::task("F1", "t1", "S1", TaskState::TaskRunning);
        assert_eq!(
            serde_json::to_value(task_doc(&task)).unwrap(),
            json!({
                "id": "t1", "name": "task t1", "framework_id": "F1", "executor_id": "",
                "slave_id": "S1", "state": "TASK_RUNNING", "role": "web",
                "resources": {"cpus": 0.5, "gpus": 0.0, "mem": 64.0, "disk": 0.0},
                "statuses": [{"state": "TASK_RUNNING", "timestamp": 1_700_000_000.25}]
            })
        );
    }

    #[test]
    fn tasks_are_ordered_filtered_and_paged() {
        let mut view = fixtures::cluster().tasks;
        view.tasks[0].statuses[0].timestamp = Some(3.0);
        view.unreachable_tasks[0].statuses[0].timestamp = Some(2.0);
        view.completed_tasks[0].statuses[0].timestamp = Some(1.0);
        let ids = |q: TasksQuery| -> Vec<String> {
            tasks(&view, &q)
                .unwrap()
                .tasks
                .into_iter()
                .map(|t| t.id)
                .collect()
        };
        assert_eq!(ids(TasksQuery::default()), ["t1", "t2", "t0"]);
        let asc = TasksQuery {
            order: Some("asc".into()),
            ..Default::default()
        };
        assert_eq!(ids(asc), ["t0", "t2", "t1"]);
        let paged = TasksQuery {
            offset: Some(1),
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(ids(paged), ["t2"]);
        let of_f1 = TasksQuery {
            framework_id: Some("F1".into()),
            ..Default::default()
        };
        assert_eq!(ids(of_f1), ["t1"]);
        let bad = TasksQuery {
            order: Some("up".into()),
            ..Default::default()
        };
        assert!(tasks(&view, &bad).unwrap_err().contains("order"));
    }
}
