//! The records the registry keeps per agent and per framework.
//!
//! prost messages have no serde support, so they are embedded as protobuf
//! bytes (`serde_pb`); maps are keyed by the id string because prost types
//! are neither `Ord` nor `Hash`.

use mesoraft_proto::mesos::v1::{AgentInfo, FrameworkInfo};
use mesoraft_proto::serde_pb;
use serde::{Deserialize, Serialize};

use crate::TimeNs;

/// Operator-controlled agent flags. They follow the agent through
/// unreachable and back, as Mesos carries `deactivated`/`drain_info` along.
/// Reserved for maintenance support: no command sets them yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFlags {
    pub deactivated: bool,
    pub draining: bool,
}

/// An admitted agent: its latest `AgentInfo` (whose `id` is always set and
/// equal to the map key) and its flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmittedAgent {
    #[serde(with = "serde_pb")]
    pub info: AgentInfo,
    pub flags: AgentFlags,
}

/// An unreachable agent. Like Mesos, the registry forgets its `AgentInfo`:
/// the agent brings a fresh one when it re-registers (`MarkReachable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnreachableAgent {
    /// When the leader marked it unreachable.
    pub time_ns: TimeNs,
    pub flags: AgentFlags,
}

/// A framework the registry knows (beyond Mesos, which keeps none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkRecord {
    /// Its latest `FrameworkInfo`; `id` is always set and equal to the key.
    #[serde(with = "serde_pb")]
    pub info: FrameworkInfo,
    /// When it was first added.
    pub registered_ns: TimeNs,
    /// When its stream last closed; `None` while connected. The leader
    /// re-arms `failover_timeout` from this after a failover.
    pub disconnected_ns: Option<TimeNs>,
}

/// Where an agent id stands in the registry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AgentState<'a> {
    Admitted(&'a AgentInfo),
    Unreachable {
        time_ns: TimeNs,
    },
    Gone {
        time_ns: TimeNs,
    },
    /// Never admitted, removed cleanly, or pruned.
    Unknown,
}
