//! The registry: everything the master group must not forget across a
//! leader change (SPEC section 1).
//!
//! This crate is the pure core of the replicated state machine. Applying a
//! [`Command`] to a [`Registry`] is deterministic: no clock, no randomness,
//! no I/O. The leader stamps times into commands before proposing them, so
//! every replica that applies the same log ends in the same state.
//!
//! * [`Registry::apply`] applies one committed command.
//! * [`Registry::select_prune`] is the GC policy the leader runs.
//! * [`Registry::to_snapshot_bytes`] / [`Registry::from_snapshot_bytes`]
//!   are the Raft snapshot.
//! * [`check_command`] and the `MAX_*` constants bound every string and
//!   collection the registry stores, and every command's encoded size.

mod admission;
mod agents;
mod command;
mod error;
mod frameworks;
mod ids;
mod limits;
mod model;
mod prune;
mod snapshot;
mod state;
mod weights;

#[cfg(test)]
mod test_support;

pub use admission::check_command;
pub use command::{Command, CommandResult, PruneEntry, Response};
pub use error::{IdKind, RegistryError, SnapshotError};
pub use ids::{validate_id, MAX_CLUSTER_ID_LEN, MAX_ID_LEN};
pub use limits::{
    Limit, MAX_AGENT_INFO_BYTES, MAX_COMMAND_BYTES, MAX_FRAMEWORK_INFO_BYTES, MAX_PRUNE_ENTRIES,
    MAX_ROLE_LEN, MAX_WEIGHTED_ROLES, MAX_WEIGHT_INFOS_PER_CALL,
};
pub use model::{AdmittedAgent, AgentFlags, AgentState, FrameworkRecord, UnreachableAgent};
pub use prune::{PruneSelection, DEFAULT_MAX_AGENT_AGE_NS, DEFAULT_MAX_AGENT_COUNT};
pub use snapshot::SNAPSHOT_FORMAT;
pub use state::Registry;
pub use weights::validate_role;

/// Nanoseconds since the Unix epoch, as Mesos's `TimeInfo`.
pub type TimeNs = i64;
