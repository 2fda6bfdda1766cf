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
    /// when set, the id must not be in the registry at all (an unreachable
    /// agent comes back with MarkReachable; a gone one never comes back).
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
    /// unreachable (or unknown, i.e. pruned) -> admitted; no-op if admitted
    /// (even if the info differs: replicate UpdateAgent for that); refused
    /// if gone.
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
    /// No-op for an unknown id; refused for an unreachable or gone one.
    RemoveAgent {
        #[serde(with = "serde_pb")]
        agent_id: AgentId,
    },
    /// Garbage-collects unreachable and gone entries. The leader chooses
    /// them with `Registry::select_prune` (and builds this command with
    /// `PruneSelection::into_command`). An entry is dropped only if it is
    /// still there *with the time it was selected with*; anything else
    /// (gone from the list, or re-created since, e.g. the agent came back
    /// and went unreachable again) is skipped. See `prune.rs` for why.
    Prune {
        unreachable: Vec<PruneEntry>,
        gone: Vec<PruneEntry>,
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
    /// timeout); its id can never subscribe again. No-op if already
    /// completed; refused for an id never added.
    CompleteFramework {
        #[serde(with = "serde_pb")]
        framework_id: FrameworkId,
        time_ns: TimeNs,
    },

    /// Operator UPDATE_WEIGHTS: sets each role's weight, all or nothing
    /// (valid role names, finite weights > 0).
    UpdateWeights {
        #[serde(with = "serde_pb::vec")]
        weights: Vec<WeightInfo>,
    },
}

/// One unreachable or gone entry chosen for garbage collection: the agent
/// and the time it was marked, as the leader saw it when selecting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneEntry {
    #[serde(with = "serde_pb")]
    pub agent_id: AgentId,
    pub time_ns: TimeNs,
}

impl Command {
    /// The command's name, for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::InitCluster { .. } => "InitCluster",
            Command::AdmitAgent { .. } => "AdmitAgent",
            Command::UpdateAgent { .. } => "UpdateAgent",
            Command::MarkUnreachable { .. } => "MarkUnreachable",
            Command::MarkReachable { .. } => "MarkReachable",
            Command::MarkGone { .. } => "MarkGone",
            Command::RemoveAgent { .. } => "RemoveAgent",
            Command::Prune { .. } => "Prune",
            Command::AddFramework { .. } => "AddFramework",
            Command::UpdateFramework { .. } => "UpdateFramework",
            Command::CompleteFramework { .. } => "CompleteFramework",
            Command::UpdateWeights { .. } => "UpdateWeights",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn commands_round_trip_through_json_as_the_raft_log_stores_them() {
        let commands = [
            init("c"),
            admit(None),
            update_agent(agent_info(Some("c-S1"))),
            mark_unreachable("c-S1", 1),
            mark_reachable("c-S1"),
            mark_gone("c-S1", 2),
            remove_agent("c-S1"),
            Command::Prune {
                unreachable: vec![entry("c-S1", 3)],
                gone: vec![entry("c-S2", -4)],
            },
            add_framework(None, 5),
            Command::UpdateFramework {
                info: framework_info(Some("c-0000")),
                disconnected_time_ns: Some(6),
            },
            complete_framework("c-0000", 7),
            update_weights(vec![weight("a", 0.1 + 0.2)]),
        ];
        for command in commands {
            let json = serde_json::to_string(&command).unwrap();
            let back: Command = serde_json::from_str(&json).unwrap();
            assert_eq!(back, command, "{}", command.name());
        }
    }

    #[test]
    fn results_round_trip_through_json() {
        let results: [CommandResult; 3] = [
            Ok(Response::Pruned {
                unreachable: 1,
                gone: 2,
            }),
            Err(RegistryError::AgentGone {
                agent_id: "c-S1".into(),
            }),
            Err(RegistryError::InvalidWeight {
                role: "a".into(),
                weight: f64::NAN.to_string(),
            }),
        ];
        for result in results {
            let json = serde_json::to_string(&result).unwrap();
            assert_eq!(
                serde_json::from_str::<CommandResult>(&json).unwrap(),
                result
            );
        }
    }
}
