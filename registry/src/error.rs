//! Why a registry command was refused, and why a snapshot could not be read.
//!
//! A refused command is a committed Raft entry that changed nothing; the
//! error travels back to the proposer as a value (and through the Raft
//! response, hence serde). Messages name the offending id and say what the
//! caller can do instead.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::Limit;

/// Which id space an id belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKind {
    Cluster,
    Agent,
    Framework,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Cluster => "cluster",
            IdKind::Agent => "agent",
            IdKind::Framework => "framework",
        })
    }
}

/// A command the registry refused. Applying it changed nothing.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum RegistryError {
    #[error(
        "the cluster has no id yet: the leader must replicate InitCluster \
         before agents or frameworks can be added"
    )]
    ClusterNotInitialized,

    #[error(
        "this registry belongs to cluster '{current}', not '{requested}': \
         a cluster id never changes; check that this master uses the right \
         data directory"
    )]
    ClusterIdMismatch { current: String, requested: String },

    #[error("{command} needs a {kind} id, but none was given: set the id and retry")]
    MissingId { kind: IdKind, command: String },

    #[error("invalid {kind} id '{id}': {reason}")]
    InvalidId {
        kind: IdKind,
        id: String,
        reason: String,
    },

    #[error(
        "cannot assign a new {kind} id: this cluster's {kind} id counter is \
         exhausted; give the {kind} an explicit id"
    )]
    IdSpaceExhausted { kind: IdKind },

    #[error(
        "agent '{agent_id}' is already admitted: use UpdateAgent to change \
         its info, or admit it without an id to get a fresh one"
    )]
    AgentAlreadyAdmitted { agent_id: String },

    #[error(
        "agent '{agent_id}' is unreachable: it comes back with MarkReachable \
         when it re-registers; otherwise only MarkGone or Prune apply to it"
    )]
    AgentUnreachable { agent_id: String },

    #[error(
        "agent '{agent_id}' has been marked gone and can never come back: \
         it may only register again as a new agent, with a new id"
    )]
    AgentGone { agent_id: String },

    #[error(
        "agent '{agent_id}' is not in the registry (never admitted, removed, \
         or pruned): admit it first"
    )]
    AgentUnknown { agent_id: String },

    #[error(
        "framework '{framework_id}' already exists: use UpdateFramework to \
         change its info"
    )]
    FrameworkAlreadyExists { framework_id: String },

    #[error(
        "framework '{framework_id}' has been removed (completed) and can \
         never subscribe again: subscribe without an id to get a new one"
    )]
    FrameworkCompleted { framework_id: String },

    #[error("framework '{framework_id}' is not in the registry: add it first")]
    FrameworkUnknown { framework_id: String },

    #[error("{}", limit.explain(*actual))]
    LimitExceeded { limit: Limit, actual: usize },

    #[error("a weight without a role: every WeightInfo of UPDATE_WEIGHTS must name its role")]
    MissingRole,

    #[error("invalid role '{role}': {reason}")]
    InvalidRole { role: String, reason: String },

    // The weight is kept as text: an f64 NaN would make the error unequal to
    // itself and could not be written as JSON.
    #[error(
        "invalid weight {weight} for role '{role}': a weight must be a finite \
         number greater than zero"
    )]
    InvalidWeight { role: String, weight: String },
}

/// A registry snapshot that cannot be restored. It is never loaded in part.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "the registry snapshot is corrupt or truncated ({0}); it was not \
         loaded: restore this master's state from a healthy master"
    )]
    Corrupt(String),

    #[error(
        "the registry snapshot has format version {found}, but this binary \
         reads version {supported}: run a mesoraft release that supports it"
    )]
    UnsupportedFormat { found: u32, supported: u32 },

    #[error(
        "the registry snapshot is inconsistent ({0}); it was not loaded: \
         restore this master's state from a healthy master"
    )]
    Inconsistent(String),
}
