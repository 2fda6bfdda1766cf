//! The operator API's event stream (`SUBSCRIBE` on `POST /api/v1`,
//! `mesos.v1.master.Event`): SUBSCRIBED with the whole state, then one
//! event per change. Pure builders; the driver decides when.

use mesoraft_proto::mesos::v1::master::event::{
    self, AgentAdded, AgentRemoved, FrameworkAdded, FrameworkRemoved, FrameworkUpdated, Subscribed,
    TaskAdded, TaskUpdated,
};
use mesoraft_proto::mesos::v1::master::Event;
use mesoraft_proto::mesos::v1::{AgentId, FrameworkId, FrameworkInfo, Task, TaskStatus};

use super::{v1, ClusterView, FrameworkRow};
use crate::driver::AgentRow;

/// Mesos's period of HEARTBEAT events on an operator stream.
pub const HEARTBEAT_INTERVAL_SECS: f64 = 15.0;

fn of_type(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Event::default()
    }
}

pub fn subscribed(view: &ClusterView) -> Event {
    Event {
        subscribed: Some(Subscribed {
            get_state: Some(v1::state_part(view)),
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL_SECS),
        }),
        ..of_type(event::Type::Subscribed)
    }
}

pub fn heartbeat() -> Event {
    of_type(event::Type::Heartbeat)
}

pub fn task_added(task: &Task) -> Event {
    Event {
        task_added: Some(TaskAdded { task: task.clone() }),
        ..of_type(event::Type::TaskAdded)
    }
}

/// `state`: the task's latest state, which may be ahead of
/// `status.state` while earlier updates are still being delivered.
pub fn task_updated(framework_id: &str, status: &TaskStatus, state: i32) -> Event {
    let mut status = status.clone();
    // Operators see states, not the executor's payload.
    status.data = None;
    Event {
        task_updated: Some(TaskUpdated {
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            status,
            state,
        }),
        ..of_type(event::Type::TaskUpdated)
    }
}

/// A registered agent, its session open.
pub fn agent_added(row: &AgentRow) -> Event {
    Event {
        agent_added: Some(AgentAdded {
            agent: crate::agent_views::v1::agent(row, true),
        }),
        ..of_type(event::Type::AgentAdded)
    }
}

pub fn agent_removed(agent_id: &str) -> Event {
    Event {
        agent_removed: Some(AgentRemoved {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
        }),
        ..of_type(event::Type::AgentRemoved)
    }
}

/// FRAMEWORK_ADDED the first time a stream hears of the framework,
/// FRAMEWORK_UPDATED afterwards.
pub fn framework(row: &FrameworkRow, added: bool) -> Event {
    let framework = v1::framework(row);
    if added {
        Event {
            framework_added: Some(FrameworkAdded { framework }),
            ..of_type(event::Type::FrameworkAdded)
        }
    } else {
        Event {
            framework_updated: Some(FrameworkUpdated { framework }),
            ..of_type(event::Type::FrameworkUpdated)
        }
    }
}

pub fn framework_removed(info: FrameworkInfo) -> Event {
    Event {
        framework_removed: Some(FrameworkRemoved {
            framework_info: info,
        }),
        ..of_type(event::Type::FrameworkRemoved)
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::json::to_json;
    use mesoraft_proto::mesos::v1::TaskState;
    use serde_json::json;

    use super::super::fixtures;
    use super::*;

    #[test]
    fn subscribed_carries_the_state_and_the_heartbeat_interval() {
        let doc = to_json(&subscribed(&fixtures::cluster()));
        assert_eq!(doc["type"], "SUBSCRIBED");
        assert_eq!(doc["subscribed"]["heartbeat_interval_seconds"], 15.0);
        assert_eq!(
            doc["subscribed"]["get_state"]["get_tasks"]["tasks"][0]["task_id"]["value"],
            "t1"
        );
    }

    #[test]
    fn task_events_have_mesos_shape() {
        let task = fixtures::task("F1", "t1", "S1", TaskState::TaskStaging);
        let added = to_json(&task_added(&task));
        assert_eq!(added["type"], "TASK_ADDED");
        assert_eq!(added["task_added"]["task"]["state"], "TASK_STAGING");
        let mut status = task.statuses[0].clone();
        status.state = TaskState::TaskRunning as i32;
        status.data = Some(b"secret".to_vec());
        let updated = to_json(&task_updated("F1", &status, TaskState::TaskFinished as i32));
        assert_eq!(updated["type"], "TASK_UPDATED");
        assert_eq!(
            updated["task_updated"]["framework_id"],
            json!({"value": "F1"})
        );
        assert_eq!(updated["task_updated"]["status"]["state"], "TASK_RUNNING");
        assert_eq!(updated["task_updated"]["state"], "TASK_FINISHED");
        assert!(updated["task_updated"]["status"].get("data").is_none());
    }

    #[test]
    fn framework_and_agent_events_have_mesos_shape() {
        let cluster = fixtures::cluster();
        let row = &cluster.frameworks.frameworks[0];
        let added = to_json(&framework(row, true));
        assert_eq!(added["type"], "FRAMEWORK_ADDED");
        assert_eq!(
            added["framework_added"]["framework"]["framework_info"]["name"],
            "one"
        );
        let updated = to_json(&framework(row, false));
        assert_eq!(updated["type"], "FRAMEWORK_UPDATED");
        assert_eq!(updated["framework_updated"]["framework"]["active"], true);
        let removed = to_json(&framework_removed(row.info.clone()));
        assert_eq!(removed["type"], "FRAMEWORK_REMOVED");
        assert_eq!(
            removed["framework_removed"]["framework_info"]["id"]["value"],
            "F1"
        );
        let agent = to_json(&agent_added(&cluster.agents.agents[0]));
        assert_eq!(agent["type"], "AGENT_ADDED");
        assert_eq!(
            agent["agent_added"]["agent"]["agent_info"]["id"]["value"],
            "S1"
        );
        let gone = to_json(&agent_removed("S5"));
        assert_eq!(
            gone,
            json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "S5"}}})
        );
        assert_eq!(to_json(&heartbeat()), json!({"type": "HEARTBEAT"}));
    }
}
