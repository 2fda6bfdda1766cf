//! What the `agents` workload records in the history, as typed values:
//! the leader's view of the agents (one `agents-view` operation per poll of
//! a master: who answered, its term, every agent it lists and in which
//! state), each agent process's own view of its registration
//! (`agent-state`), and agent processes that exited by themselves
//! (`agent-exit`). The agent nemeses' records name the agent they faulted
//! (`agent` in the record's value, see [`faulted_agent`]).
//!
//! The workload writes these; `checker::agents` reads them back. Reading
//! is lenient: a value of another shape reads as `None` and is skipped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::HistoryValue;

/// `f` of a poll of the leader's view (GET_AGENTS through one master).
pub const AGENTS_VIEW: &str = "agents-view";
/// `f` of a poll of one agent process's `GET /state`.
pub const AGENT_STATE: &str = "agent-state";
/// `f` of an agent process found exited although nothing killed it.
pub const AGENT_EXIT: &str = "agent-exit";

/// Where a leader lists an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Registered with this leader, its session open (`active`).
    Registered,
    /// Registered with this leader, its session broken (not `active`).
    Disconnected,
    /// Admitted before this leader's term and not back yet.
    Recovered,
    /// Marked unreachable in the registry.
    Unreachable,
    /// Marked gone (the operator's decision only).
    Gone,
}

/// One agent of a leader's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedAgent {
    pub id: String,
    /// The process's identity as the leader knows it (absent for
    /// unreachable agents, which GET_AGENTS lists by id only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    pub state: AgentState,
}

/// The value of an `agents-view` completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderView {
    /// The master asked first (the answer may come from another one after
    /// a redirect).
    pub asked: u64,
    /// The master that answered (the leader).
    pub leader: Option<u64>,
    /// The term the answering master led, from its `/raft/status` right
    /// before and after the call; None when those two disagreed or failed.
    pub term: Option<u64>,
    pub agents: Vec<ListedAgent>,
    /// The leader's count of agents marked gone (`/raft/status` `agents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<u64>,
}

/// The value of an `agent-state` completion: the process's `GET /state`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfView {
    /// The harness's number of the agent process (1..=A).
    pub agent: u64,
    pub id: Option<String>,
    pub registered: bool,
    /// The master it is registered with.
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub registrations: u64,
    pub hostname: String,
    pub port: i64,
}

/// The value of an `agent-exit` completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentExit {
    pub agent: u64,
    pub status: String,
}

impl HistoryValue for LeaderView {}
impl HistoryValue for SelfView {}
impl HistoryValue for AgentExit {}

impl LeaderView {
    pub fn state_of(&self, id: &str) -> Option<AgentState> {
        self.agents.iter().find(|a| a.id == id).map(|a| a.state)
    }
}

/// The agent an agent nemesis's start record names (`{"agent": i, ...}`).
pub fn faulted_agent(record_value: &Value) -> Option<u64> {
    record_value.get("agent")?.as_u64()
}

/// Parses a GET_AGENTS answer (`mesos.v1.master.Response` as JSON) into
/// the listed agents. None when the answer is not a GET_AGENTS answer.
pub fn parse_get_agents(answer: &Value) -> Option<Vec<ListedAgent>> {
    let get = answer.get("get_agents")?;
    let mut out = Vec::new();
    let id_of = |v: &Value| v.get("id")?.get("value")?.as_str().map(str::to_string);
    for agent in get
        .get("agents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let info = agent.get("agent_info")?;
        let active = agent
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push(ListedAgent {
            id: id_of(info)?,
            hostname: info.get("hostname").and_then(Value::as_str).map(Into::into),
            port: info.get("port").and_then(Value::as_i64),
            state: if active {
                AgentState::Registered
            } else {
                AgentState::Disconnected
            },
        });
    }
    for info in get
        .get("recovered_agents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push(ListedAgent {
            id: id_of(info)?,
            hostname: info.get("hostname").and_then(Value::as_str).map(Into::into),
            port: info.get("port").and_then(Value::as_i64),
            state: AgentState::Recovered,
        });
    }
    for entry in get
        .get("unreachable_agents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = entry.get("agent_id")?.get("value")?.as_str()?.to_string();
        out.push(ListedAgent {
            id,
            hostname: None,
            port: None,
            state: AgentState::Unreachable,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn get_agents_answers_parse_into_states() {
        let answer = json!({"type": "GET_AGENTS", "get_agents": {
            "agents": [
                {"agent_info": {"id": {"value": "c-S1"}, "hostname": "10.0.0.1", "port": 5051}, "active": true},
                {"agent_info": {"id": {"value": "c-S2"}, "hostname": "10.0.0.2", "port": 5051}, "active": false}
            ],
            "recovered_agents": [{"id": {"value": "c-S3"}, "hostname": "10.0.0.3", "port": 5051}],
            "unreachable_agents": [{"agent_id": {"value": "c-S4"}, "time": {"nanoseconds": 5}}]
        }});
        let listed = parse_get_agents(&answer).unwrap();
        let states: Vec<(&str, AgentState)> =
            listed.iter().map(|a| (a.id.as_str(), a.state)).collect();
        assert_eq!(
            states,
            [
                ("c-S1", AgentState::Registered),
                ("c-S2", AgentState::Disconnected),
                ("c-S3", AgentState::Recovered),
                ("c-S4", AgentState::Unreachable)
            ]
        );
        assert_eq!(listed[0].hostname.as_deref(), Some("10.0.0.1"));
        // No agents at all: Mesos leaves the empty lists out.
        assert_eq!(
            parse_get_agents(&json!({"get_agents": {}})),
            Some(Vec::new())
        );
        assert_eq!(parse_get_agents(&json!({"get_weights": {}})), None);
    }
}
