//! The v1 operator API's `GET_AGENTS` answer (`mesos.v1.master.Response`),
//! rendered to JSON by `mesoraft_proto::json`.

use mesoraft_proto::mesos::v1::master::response::get_agents::{Agent, UnreachableAgent};
use mesoraft_proto::mesos::v1::master::response::{self, GetAgents};
use mesoraft_proto::mesos::v1::master::Response;
use mesoraft_proto::mesos::v1::{AgentId, TimeInfo};

use super::{agent_pid, listing, Listing};
use crate::driver::{AgentRow, AgentsView};

/// Registered agents, the recovered ones (admitted before this leader's
/// term and not back yet), and, beyond Mesos, the unreachable ones.
pub fn get_agents(view: &AgentsView) -> Response {
    let mut agents = Vec::new();
    let mut recovered_agents = Vec::new();
    for row in &view.agents {
        match listing(row) {
            Listing::Recovered => recovered_agents.push(row.info.clone()),
            Listing::Registered { active } => agents.push(agent(row, active)),
        }
    }
    let unreachable_agents = view
        .unreachable
        .iter()
        .map(|(id, time_ns)| UnreachableAgent {
            agent_id: AgentId { value: id.clone() },
            time: TimeInfo {
                nanoseconds: *time_ns,
            },
        })
        .collect();
    Response {
        r#type: Some(response::Type::GetAgents as i32),
        get_agents: Some(GetAgents {
            agents,
            recovered_agents,
            unreachable_agents,
        }),
        ..Response::default()
    }
}

/// A registered agent as GET_AGENTS lists it (also the AGENT_ADDED event
/// of the operator stream).
pub fn agent(row: &AgentRow, active: bool) -> Agent {
    let registration = row.registration.as_ref();
    Agent {
        pid: Some(agent_pid(&row.info)),
        total_resources: row.info.resources.clone(),
        active,
        // Set by operator DEACTIVATE_AGENT, which we do not serve.
        deactivated: Some(false),
        version: registration
            .and_then(|r| r.version.clone())
            .unwrap_or_default(),
        registered_time: registration.map(|r| TimeInfo {
            nanoseconds: r.registered_ns,
        }),
        reregistered_time: registration
            .and_then(|r| r.reregistered_ns)
            .map(|nanoseconds| TimeInfo { nanoseconds }),
        agent_info: row.info.clone(),
        allocated_resources: row.allocated.clone(),
        offered_resources: row.offered.clone(),
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::json::to_json;
    use serde_json::json;

    use super::*;
    use crate::agent_views::fixtures;

    #[test]
    fn get_agents_has_mesos_shape() {
        let answer = to_json(&get_agents(&fixtures::view()));
        let info = |id: &str| to_json(&fixtures::info(id, &format!("host-{id}")));
        let resources = to_json(&fixtures::info("S1", "h"))["resources"].clone();
        assert_eq!(
            answer,
            json!({
                "type": "GET_AGENTS",
                "get_agents": {
                    "agents": [
                        {
                            "agent_info": info("S1"),
                            "active": true,
                            "deactivated": false,
                            "version": "0.1.0",
                            "pid": "slave(1)@host-S1:5051",
                            "registered_time": {"nanoseconds": 1_700_000_000_500_000_000i64},
                            "reregistered_time": {"nanoseconds": 1_700_000_000_500_000_000i64},
                            "total_resources": resources
                        },
                        {
                            "agent_info": info("S2"),
                            "active": false,
                            "deactivated": false,
                            "version": "",
                            "pid": "slave(1)@host-S2:5051",
                            "registered_time": {"nanoseconds": 1_700_000_001_000_000_000i64},
                            "total_resources": resources
                        }
                    ],
                    "recovered_agents": [info("S3"), info("S4")],
                    "unreachable_agents": [
                        {"agent_id": {"value": "S5"}, "time": {"nanoseconds": 1_700_000_002_000_000_000i64}}
                    ]
                }
            })
        );
        assert_eq!(
            answer["get_agents"]["agents"][0]["agent_info"]["resources"][1]["ranges"],
            json!({"range": [{"begin": 31000, "end": 32000}]})
        );
    }

    #[test]
    fn no_agents_is_empty_lists_left_out() {
        // Mesos leaves out empty repeated fields: `get_agents` is `{}`.
        assert_eq!(
            to_json(&get_agents(&AgentsView::default())),
            json!({"type": "GET_AGENTS", "get_agents": {}})
        );
    }
}
