//! The v1 operator API's `GET_FRAMEWORKS` and `GET_STATE` answers
//! (`mesos.v1.master.Response`), rendered to JSON by
//! `mesoraft_proto::json`.

use mesoraft_proto::mesos::v1::master::response::get_frameworks::Framework;
use mesoraft_proto::mesos::v1::master::response::{self, GetExecutors, GetFrameworks, GetState};
use mesoraft_proto::mesos::v1::master::Response;
use mesoraft_proto::mesos::v1::TimeInfo;

use super::{completed_info, ClusterView, FrameworkRow, FrameworksView};
use crate::frameworks::CompletedFramework;

fn time(nanoseconds: i64) -> TimeInfo {
    TimeInfo { nanoseconds }
}

/// A framework as GET_FRAMEWORKS lists it (also the FRAMEWORK_ADDED and
/// FRAMEWORK_UPDATED events of the operator stream).
pub fn framework(row: &FrameworkRow) -> Framework {
    Framework {
        framework_info: row.info.clone(),
        active: row.active(),
        connected: row.connected(),
        recovered: row.recovered(),
        registered_time: row.registered_ns.map(time),
        reregistered_time: row.reregistered_ns.map(time),
        unregistered_time: row.unregistered_ns.map(time),
        offers: row.offers.clone(),
        inverse_offers: Vec::new(),
        allocated_resources: row.allocated.clone(),
        offered_resources: row.offered.clone(),
    }
}

fn completed(c: &CompletedFramework) -> Framework {
    Framework {
        framework_info: completed_info(c),
        active: false,
        connected: false,
        recovered: false,
        registered_time: None,
        reregistered_time: None,
        unregistered_time: Some(time(c.completed_ns)),
        offers: Vec::new(),
        inverse_offers: Vec::new(),
        allocated_resources: Vec::new(),
        offered_resources: Vec::new(),
    }
}

fn frameworks_part(view: &FrameworksView) -> GetFrameworks {
    GetFrameworks {
        frameworks: view.frameworks.iter().map(framework).collect(),
        completed_frameworks: view.completed.iter().map(completed).collect(),
        recovered_frameworks: Vec::new(),
    }
}

pub fn get_frameworks(view: &FrameworksView) -> Response {
    Response {
        r#type: Some(response::Type::GetFrameworks as i32),
        get_frameworks: Some(frameworks_part(view)),
        ..Response::default()
    }
}

/// The `GetState` message: also the SUBSCRIBED event of the operator
/// stream. Executors are not listed: the leader does not keep their infos
/// yet.
pub fn state_part(view: &ClusterView) -> GetState {
    GetState {
        get_tasks: crate::tasks::render::get_tasks(&view.tasks).get_tasks,
        get_executors: Some(GetExecutors::default()),
        get_frameworks: Some(frameworks_part(&view.frameworks)),
        get_agents: crate::agent_views::v1::get_agents(&view.agents).get_agents,
    }
}

pub fn get_state(view: &ClusterView) -> Response {
    Response {
        r#type: Some(response::Type::GetState as i32),
        get_state: Some(state_part(view)),
        ..Response::default()
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::json::to_json;
    use serde_json::json;

    use super::super::fixtures;
    use super::*;

    #[test]
    fn frameworks_have_mesos_v1_shape() {
        let doc = to_json(&get_frameworks(&fixtures::cluster().frameworks));
        assert_eq!(doc["type"], "GET_FRAMEWORKS");
        let list = &doc["get_frameworks"];
        let f1 = &list["frameworks"][0];
        assert_eq!(f1["framework_info"]["id"], json!({"value": "F1"}));
        assert_eq!(f1["framework_info"]["roles"], json!(["web"]));
        assert_eq!(f1["active"], true);
        assert_eq!(f1["connected"], true);
        assert_eq!(f1["recovered"], false);
        assert_eq!(
            f1["registered_time"],
            json!({"nanoseconds": 1_700_000_000_000_000_000_i64})
        );
        assert_eq!(
            f1["reregistered_time"],
            json!({"nanoseconds": 1_700_000_050_000_000_000_i64})
        );
        assert_eq!(f1["offers"][0]["id"], json!({"value": "c-3-O7"}));
        assert_eq!(f1["allocated_resources"][0]["name"], "cpus");
        assert_eq!(f1["offered_resources"][0]["scalar"]["value"], 1.5);
        let f2 = &list["frameworks"][1];
        assert_eq!(f2["active"], false);
        assert_eq!(f2["connected"], false);
        assert_eq!(
            f2["unregistered_time"],
            json!({"nanoseconds": 1_700_000_100_000_000_000_i64})
        );
        assert!(f2.get("offers").is_none(), "empty lists are left out");
        let f0 = &list["completed_frameworks"][0];
        assert_eq!(f0["framework_info"]["id"], json!({"value": "F0"}));
        assert_eq!(f0["active"], false);
    }

    #[test]
    fn state_holds_every_part() {
        let doc = to_json(&get_state(&fixtures::cluster()));
        assert_eq!(doc["type"], "GET_STATE");
        let state = &doc["get_state"];
        assert_eq!(state["get_tasks"]["tasks"][0]["task_id"]["value"], "t1");
        assert_eq!(
            state["get_tasks"]["unreachable_tasks"][0]["state"],
            "TASK_UNREACHABLE"
        );
        assert_eq!(
            state["get_frameworks"]["frameworks"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            state["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
            "S1"
        );
        assert!(state.get("get_executors").is_some());
    }
}
