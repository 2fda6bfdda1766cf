//! openraft glue for the master group.
//!
//! * [`storage`]: the Raft log and vote in sled (behind [`storage::KvStore`]),
//!   the registry state machine, and snapshot files.
//! * [`network`]: the tonic transport: a client with one cached channel per
//!   peer, and the server side that feeds incoming RPCs into [`Raft`]; the
//!   cluster secret, RPC bounds and optional TLS.
//! * [`proposer`]: group commit of registry commands within a byte budget.
//! * [`limits`]: entry, message and chunk sizes, derived from one another.
//! * [`runtime`]: the thread the Raft core runs on, apart from the
//!   master's other work.
//! * [`election`]: campaigns right after the voters' leader lease runs
//!   out (openraft's own election timer stays off).
//! * [`identity`]: which incarnation of a master holds a member slot, and
//!   the witness ledger that catches a master running on a restored copy
//!   of its work dir.
//!
//! Everything openraft-specific stays in this crate so that the master
//! depends on a small surface.

use std::io::Cursor;

pub mod election;
pub mod identity;
pub mod last_seen;
pub mod limits;
pub mod network;
pub mod proposer;
pub mod runtime;
pub mod storage;

pub use openraft;

/// Master ids are small operator-chosen integers (`--id 1`).
pub type NodeId = u64;

/// A member slot as the replicated membership records it.
///
/// `incarnation` names the one life of a master (created at its first
/// start with an empty work dir) allowed to vote and acknowledge entries in
/// this slot. A master that lost or replaced its work dir is a new
/// incarnation and is refused until the slot is given to it by removing
/// and adding the member again. `None`: the slot waits to be bound by the
/// leader to the pristine master that answers at `addr`; until then the
/// slot votes and acknowledges nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MasterNode {
    pub addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<String>,
}

impl MasterNode {
    /// A slot not bound to an incarnation yet.
    pub fn unbound(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            incarnation: None,
        }
    }

    pub fn bound(addr: impl Into<String>, incarnation: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            incarnation: Some(incarnation.into()),
        }
    }
}

impl std::fmt::Display for MasterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.incarnation {
            Some(i) => write!(f, "{}@{}", self.addr, identity::short(i)),
            None => write!(f, "{}@unbound", self.addr),
        }
    }
}

openraft::declare_raft_types!(
    /// The master group's Raft types: batches of registry commands in, one
    /// result per command out (see [`proposer`]).
    pub TypeConfig:
        D = proposer::Proposal,
        R = Vec<mesoraft_registry::CommandResult>,
        NodeId = NodeId,
        Node = MasterNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, MasterNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, MasterNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, MasterNode>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, MasterNode>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, MasterNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, MasterNode>;
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, MasterNode>;
pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
