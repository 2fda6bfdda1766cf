//! The master's figures in `/metrics/snapshot` under Mesos's names
//! (`master/metrics.cpp`), and the same figures for Prometheus.

use serde::Serialize;

use crate::agents::table::AgentCounts;

/// The `master/...` part of `/metrics/snapshot`. Mesos's figures are
/// doubles; so are these. A master that does not lead shows zeros for the
/// agent figures (it keeps no agent sessions), as a Mesos standby does.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MasterSnapshot {
    #[serde(rename = "master/elected")]
    pub elected: f64,
    #[serde(rename = "master/uptime_secs")]
    pub uptime_secs: f64,
    /// Registered agents with an open session.
    #[serde(rename = "master/slaves_active")]
    pub slaves_active: f64,
    #[serde(rename = "master/slaves_connected")]
    pub slaves_connected: f64,
    /// Registered agents whose session broke (not unreachable yet).
    #[serde(rename = "master/slaves_disconnected")]
    pub slaves_disconnected: f64,
    #[serde(rename = "master/slaves_inactive")]
    pub slaves_inactive: f64,
    #[serde(rename = "master/slaves_unreachable")]
    pub slaves_unreachable: f64,
    /// Ours: agents admitted before this leader's term, not back yet.
    #[serde(rename = "master/slaves_recovered")]
    pub slaves_recovered: f64,
    /// Agents this leader marked unreachable.
    #[serde(rename = "master/slave_unreachable_completed")]
    pub slave_unreachable_completed: f64,
    /// Of those, recovered agents that did not come back in time.
    #[serde(rename = "master/recovery_slave_removals")]
    pub recovery_slave_removals: f64,
    /// Ours: recovered agents the recovery removal limit kept from being
    /// marked unreachable.
    #[serde(rename = "master/recovery_agent_removals_refused")]
    pub recovery_agent_removals_refused: f64,
}

impl MasterSnapshot {
    /// `counts` is the leader's (None elsewhere).
    pub fn new(elected: bool, uptime_secs: f64, counts: Option<&AgentCounts>) -> Self {
        let mut snapshot = Self {
            elected: if elected { 1.0 } else { 0.0 },
            uptime_secs,
            ..Self::default()
        };
        if let Some(c) = counts {
            // Disconnected agents are deactivated, as in Mesos: connected
            // ones are the active ones.
            snapshot.slaves_active = c.registered as f64;
            snapshot.slaves_connected = c.registered as f64;
            snapshot.slaves_disconnected = c.disconnected as f64;
            snapshot.slaves_inactive = c.disconnected as f64;
            snapshot.slaves_unreachable = c.unreachable as f64;
            snapshot.slaves_recovered = c.recovered as f64;
            snapshot.slave_unreachable_completed = c.marked_unreachable as f64;
            snapshot.recovery_slave_removals = c.recovery_removals as f64;
            snapshot.recovery_agent_removals_refused = c.recovery_removals_refused as f64;
        }
        snapshot
    }

    /// The same figures for Prometheus: (name, help, type, value), the
    /// name being Mesos's with `/` as `_` under `mesoraft_`.
    pub fn prometheus(&self) -> Vec<(&'static str, &'static str, &'static str, f64)> {
        vec![
            (
                "mesoraft_master_elected",
                "1 if this master leads.",
                "gauge",
                self.elected,
            ),
            (
                "mesoraft_master_uptime_secs",
                "Seconds since this master started.",
                "gauge",
                self.uptime_secs,
            ),
            (
                "mesoraft_master_slaves_active",
                "Registered agents with an open session.",
                "gauge",
                self.slaves_active,
            ),
            (
                "mesoraft_master_slaves_connected",
                "Registered agents with an open session.",
                "gauge",
                self.slaves_connected,
            ),
            (
                "mesoraft_master_slaves_disconnected",
                "Registered agents whose session broke.",
                "gauge",
                self.slaves_disconnected,
            ),
            (
                "mesoraft_master_slaves_inactive",
                "Registered agents that are not active.",
                "gauge",
                self.slaves_inactive,
            ),
            (
                "mesoraft_master_slaves_unreachable",
                "Agents marked unreachable.",
                "gauge",
                self.slaves_unreachable,
            ),
            (
                "mesoraft_master_slaves_recovered",
                "Agents admitted before this term, not back yet.",
                "gauge",
                self.slaves_recovered,
            ),
            (
                "mesoraft_master_slave_unreachable_completed",
                "Agents this leader marked unreachable.",
                "counter",
                self.slave_unreachable_completed,
            ),
            (
                "mesoraft_master_recovery_slave_removals",
                "Recovered agents marked unreachable after the re-register timeout.",
                "counter",
                self.recovery_slave_removals,
            ),
            (
                "mesoraft_master_recovery_agent_removals_refused",
                "Recovered agents the recovery removal limit kept from being marked unreachable.",
                "gauge",
                self.recovery_agent_removals_refused,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_uses_mesos_names() {
        let counts = AgentCounts {
            registered: 12,
            recovered: 3,
            disconnected: 1,
            unreachable: 2,
            gone: 4,
            recovery_removals_refused: 5,
            marked_unreachable: 6,
            recovery_removals: 2,
        };
        let json = serde_json::to_value(MasterSnapshot::new(true, 7.5, Some(&counts))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "master/elected": 1.0,
                "master/uptime_secs": 7.5,
                "master/slaves_active": 12.0,
                "master/slaves_connected": 12.0,
                "master/slaves_disconnected": 1.0,
                "master/slaves_inactive": 1.0,
                "master/slaves_unreachable": 2.0,
                "master/slaves_recovered": 3.0,
                "master/slave_unreachable_completed": 6.0,
                "master/recovery_slave_removals": 2.0,
                "master/recovery_agent_removals_refused": 5.0
            })
        );
        let standby = serde_json::to_value(MasterSnapshot::new(false, 1.0, None)).unwrap();
        assert_eq!(standby["master/elected"], 0.0);
        assert_eq!(standby["master/slaves_active"], 0.0);
    }

    #[test]
    fn prometheus_carries_every_snapshot_figure() {
        let snapshot = MasterSnapshot::new(true, 1.0, Some(&AgentCounts::default()));
        let json = serde_json::to_value(&snapshot).unwrap();
        let names: Vec<String> = snapshot
            .prometheus()
            .iter()
            .map(|(name, ..)| name.to_string())
            .collect();
        for key in json.as_object().unwrap().keys() {
            let expected = format!("mesoraft_{}", key.replace('/', "_"));
            assert!(names.contains(&expected), "{expected} missing");
        }
        assert_eq!(names.len(), json.as_object().unwrap().len());
    }
}
