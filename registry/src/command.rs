//! The operations replicated through the Raft log.

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo, WeightInfo};
use mesoraft_proto::serde_pb;
use serde::{Deserialize, Serialize};

use crate::{RegistryError, TimeNs};

/// One registry operation. Every variant is one Raft log entry.
///
/// Times are stamped by the leader when it proposes the command; applying
/// never reads a clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Records the cluster's identity. The first leader proposes it once;
    /// a later one with a different id is refused, the same id is a no-op.
    InitCluster { cluster_id: String },

    /// Admits a newly registering agent. When `info.id` is unset the
    /// registry assigns a fresh id (`<cluster_id>-S<n>`) from its counter;
    /// when set, the id must not be admitted already.
    AdmitAgent {
        #[serde(with = "serde_pb")]
        info: AgentInfo,
    },
    /// Replaces an admitted agent's info (the re-registering agent's info
    /// wins). No-op if equal.
    UpdateAgent {
        #[serde(with = "serde_pb")]
        info: AgentInfo,
    },
    /// admitted -> unreachable.
    MarkUnreachable {
        #[serde(with = "serde_pb")]
        agent_id: AgentId,
        time_ns: TimeNs,
    },
    /// unreachable (or unknown, i.e. pruned) -> admitted; no-op if admitted.
    MarkReachable {
        #[serde(with = "serde_pb")]
        info: AgentInfo,
    },
    /// admitted or unreachable -> gone.
    MarkGone {
        #[serde(with = "serde_pb")]
        agent_id: AgentId,
        time_ns: TimeNs,
    },
    /// Deletes an agent that unregistered cleanly; leaves no tombstone.
    RemoveAgent {
        #[serde(with = "serde_pb")]
        agent_id: AgentId,
    },
    /// Garbage-collects unreachable and gone entries. The leader chooses the
    /// ids (see `Registry::select_prune`); ids no longer in those lists are
    /// skipped.
    Prune {
        #[serde(with = "serde_pb::vec")]
        unreachable: Vec<AgentId>,
        #[serde(with = "serde_pb::vec")]
        gone: Vec<AgentId>,
    },

    /// Adds a subscribing framework. When `info.id` is unset the registry
    /// assigns a fresh id (`<cluster_id>-<nnnn>`).
    AddFramework {
        #[serde(with = "serde_pb")]
        info: FrameworkInfo,
        time_ns: TimeNs,
    },
    /// Replaces a known framework's info and its disconnection time
    /// (`None` while connected).
    UpdateFramework {
        #[serde(with = "serde_pb")]
        info: FrameworkInfo,
        disconnected_time_ns: Option<TimeNs>,
    },
    /// Removes a framework for good (torn down, or failed over past its
    /// timeout); its id can never subscribe again.
    CompleteFramework {
        #[serde(with = "serde_pb")]
        framework_id: FrameworkId,
        time_ns: TimeNs,
    },

    /// Operator UPDATE_WEIGHTS: sets each role's weight.
    UpdateWeights {
        #[serde(with = "serde_pb::vec")]
        weights: Vec<WeightInfo>,
    },
}

/// What a successfully applied command produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The state changed.
    Applied,
    /// The command was valid but changed nothing (e.g. an equal update).
    Unchanged,
    /// `AdmitAgent`: the admitted agent's id (assigned or given).
    AgentAdmitted { agent_id: String },
    /// `AddFramework`: the framework's id (assigned or given).
    FrameworkAdded { framework_id: String },
    /// `Prune`: how many entries were actually dropped.
    Pruned { unreachable: usize, gone: usize },
}

/// The result of applying one command; this is what a Raft client write
/// returns. A rejected command is still a committed log entry (it changed
/// nothing), so errors are values, not failures of the state machine.
pub type CommandResult = Result<Response, RegistryError>;
