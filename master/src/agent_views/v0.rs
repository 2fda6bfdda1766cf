//! Mesos's v0 documents about agents: `/master/slaves` and the agent part
//! of `/master/state` (`master/readonly_handler.cpp`): times in seconds,
//! resources and attributes in Mesos's [`model`](super::model).

use serde::Serialize;

use super::model::{self, Model};
use super::{agent_pid, listing, Listing};
use crate::driver::{AgentRow, AgentsView};
use crate::framework_views::v0::{FrameworkDoc, FrameworksDoc};
use mesoraft_proto::mesos::v1::AgentInfo;

/// A registered agent, as `/master/slaves` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slave {
    #[serde(flatten)]
    pub info: SlaveInfo,
    pub pid: String,
    /// Seconds since the epoch; absent when this leader has no time for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<f64>,
    pub resources: Model,
    pub used_resources: Model,
    pub offered_resources: Model,
    /// By role; no reservations are made yet.
    pub reserved_resources: std::collections::BTreeMap<String, Model>,
    pub unreserved_resources: Model,
    pub active: bool,
    pub deactivated: bool,
    pub version: String,
    pub capabilities: Vec<String>,
}

/// The fields of an agent's info, as v0 shows them (also the whole entry
/// of a recovered agent).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlaveInfo {
    pub id: String,
    pub hostname: String,
    pub port: i32,
    pub attributes: Model,
    /// `DomainInfo` in Mesos's JSON, when the agent has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<serde_json::Value>,
}

/// `GET /master/slaves`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Slaves {
    pub slaves: Vec<Slave>,
    pub recovered_slaves: Vec<SlaveInfo>,
}

impl SlaveInfo {
    pub fn of(info: &AgentInfo) -> Self {
        Self {
            id: info
                .id
                .as_ref()
                .map(|id| id.value.clone())
                .unwrap_or_default(),
            hostname: info.hostname.clone(),
            port: info.port(),
            attributes: model::attributes(&info.attributes),
            domain: info.domain.as_ref().map(mesoraft_proto::json::to_json),
        }
    }
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn slave(row: &AgentRow, active: bool) -> Slave {
    let registration = row.registration.as_ref();
    let resources = &row.info.resources;
    let unreserved: Vec<_> = resources
        .iter()
        .filter(|r| r.reservations.is_empty() && r.reservation.is_none())
        .cloned()
        .collect();
    Slave {
        info: SlaveInfo::of(&row.info),
        pid: agent_pid(&row.info),
        registered_time: registration.map(|r| seconds(r.registered_ns)),
        reregistered_time: registration.and_then(|r| r.reregistered_ns).map(seconds),
        resources: model::resources(resources),
        used_resources: model::resources(&row.allocated),
        offered_resources: model::resources(&row.offered),
        reserved_resources: Default::default(),
        unreserved_resources: model::resources(&unreserved),
        active,
        deactivated: false,
        version: registration
            .and_then(|r| r.version.clone())
            .unwrap_or_default(),
        capabilities: Vec::new(),
    }
}

/// Registered agents and the recovered ones, as `/master/slaves`.
pub fn slaves(view: &AgentsView) -> Slaves {
    let mut out = Slaves::default();
    for row in &view.agents {
        match listing(row) {
            Listing::Registered { active } => out.slaves.push(slave(row, active)),
            Listing::Recovered => out.recovered_slaves.push(SlaveInfo::of(&row.info)),
        }
    }
    out
}

/// The master's own part of `/master/state`.
#[derive(Clone, Debug, PartialEq)]
pub struct MasterPart {
    pub version: String,
    pub build_date: String,
    pub git_sha: String,
    pub start_time: f64,
    pub elected_time: Option<f64>,
    /// `MasterInfo` of this master (the leader: `/master/state` is served
    /// by the leader only), as a message.
    pub info: mesoraft_proto::mesos::v1::MasterInfo,
    pub cluster_id: Option<String>,
}

/// `GET /master/state`: the master, its agents, and the frameworks with
/// their tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct State {
    pub version: String,
    pub build_date: String,
    pub git_sha: String,
    pub start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elected_time: Option<f64>,
    pub id: String,
    pub pid: String,
    pub hostname: String,
    pub activated_slaves: usize,
    pub deactivated_slaves: usize,
    pub unreachable_slaves: usize,
    /// The leader's pid (this master's).
    pub leader: String,
    /// The leader's `MasterInfo` in Mesos's JSON.
    pub leader_info: serde_json::Value,
    /// The Raft group's cluster id (Mesos shows its `--cluster` name here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub slaves: Vec<Slave>,
    pub recovered_slaves: Vec<SlaveInfo>,
    pub frameworks: Vec<FrameworkDoc>,
    pub completed_frameworks: Vec<FrameworkDoc>,
    pub orphan_tasks: Vec<serde_json::Value>,
    pub unregistered_frameworks: Vec<String>,
}

/// Mesos's pid of a master (`master@host:port`).
fn master_pid(info: &mesoraft_proto::mesos::v1::MasterInfo) -> String {
    format!(
        "master@{}:{}",
        info.hostname.as_deref().unwrap_or_default(),
        info.port
    )
}

/// `frameworks`: the framework part ([`crate::framework_views::v0`]).
pub fn state(master: MasterPart, view: &AgentsView, frameworks: FrameworksDoc) -> State {
    let Slaves {
        slaves,
        recovered_slaves,
    } = slaves(view);
    let activated_slaves = slaves.iter().filter(|s| s.active).count();
    let pid = master_pid(&master.info);
    State {
        version: master.version,
        build_date: master.build_date,
        git_sha: master.git_sha,
        start_time: master.start_time,
        elected_time: master.elected_time,
        id: master.info.id.clone(),
        hostname: master.info.hostname.clone().unwrap_or_default(),
        leader: pid.clone(),
        pid,
        activated_slaves,
        deactivated_slaves: slaves.len() - activated_slaves,
        unreachable_slaves: view.unreachable.len(),
        leader_info: mesoraft_proto::json::to_json(&master.info),
        cluster: master.cluster_id,
        slaves,
        recovered_slaves,
        frameworks: frameworks.frameworks,
        completed_frameworks: frameworks.completed_frameworks,
        orphan_tasks: Vec::new(),
        unregistered_frameworks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::mesos::v1::MasterInfo;
    use serde_json::json;

    use super::*;
    use crate::agent_views::fixtures;

    #[test]
    fn slaves_have_mesos_v0_shape() {
        let doc = serde_json::to_value(slaves(&fixtures::view())).unwrap();
        let resources = json!({
            "cpus": 4.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0, "ports": "[31000-32000]"
        });
        let nothing = json!({"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0});
        assert_eq!(
            doc["slaves"][0],
            json!({
                "id": "S1",
                "hostname": "host-S1",
                "port": 5051,
                "attributes": {"rack": "r1"},
                "pid": "slave(1)@host-S1:5051",
                "registered_time": 1_700_000_000.5,
                "reregistered_time": 1_700_000_000.5,
                "resources": resources,
                "used_resources": nothing,
                "offered_resources": nothing,
                "reserved_resources": {},
                "unreserved_resources": resources,
                "active": true,
                "deactivated": false,
                "version": "0.1.0",
                "capabilities": []
            })
        );
        assert_eq!(doc["slaves"][1]["active"], false);
        assert!(doc["slaves"][1].get("reregistered_time").is_none());
        assert_eq!(
            doc["recovered_slaves"],
            json!([
                {"id": "S3", "hostname": "host-S3", "port": 5051, "attributes": {"rack": "r1"}},
                {"id": "S4", "hostname": "host-S4", "port": 5051, "attributes": {"rack": "r1"}}
            ])
        );
    }

    #[test]
    fn state_counts_and_names_the_leader() {
        let master = MasterPart {
            version: "0.1.0".into(),
            build_date: "unknown".into(),
            git_sha: "unknown".into(),
            start_time: 10.0,
            elected_time: Some(12.5),
            info: MasterInfo {
                id: "c0ffee-M1".into(),
                ip: 16777343,
                port: 5050,
                hostname: Some("127.0.0.1".into()),
                version: Some("0.1.0".into()),
                ..MasterInfo::default()
            },
            cluster_id: Some("c0ffee".into()),
        };
        let doc = serde_json::to_value(state(master, &fixtures::view(), FrameworksDoc::default()))
            .unwrap();
        assert_eq!(doc["activated_slaves"], 1);
        assert_eq!(doc["deactivated_slaves"], 1);
        assert_eq!(doc["unreachable_slaves"], 1);
        assert_eq!(doc["leader"], "master@127.0.0.1:5050");
        assert_eq!(doc["pid"], "master@127.0.0.1:5050");
        assert_eq!(doc["id"], "c0ffee-M1");
        assert_eq!(doc["cluster"], "c0ffee");
        assert_eq!(
            doc["leader_info"],
            json!({"id": "c0ffee-M1", "ip": 16777343, "port": 5050,
                   "hostname": "127.0.0.1", "version": "0.1.0"})
        );
        assert_eq!(doc["slaves"].as_array().unwrap().len(), 2);
        assert_eq!(doc["recovered_slaves"].as_array().unwrap().len(), 2);
        assert_eq!(doc["frameworks"], json!([]));
        assert_eq!(doc["completed_frameworks"], json!([]));
        assert_eq!(doc["elected_time"], 12.5);
    }
}
