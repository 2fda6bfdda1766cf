//! openraft glue for the master group.
//!
//! * [`storage`]: the Raft log and vote in sled (behind [`storage::KvStore`]),
//!   the registry state machine, and snapshot files.
//! * [`network`]: the tonic transport: a client with one cached channel per
//!   peer, and the server side that feeds incoming RPCs into [`Raft`].
//! * [`proposer`]: group commit of registry commands within a byte budget.
//! * [`limits`]: entry, message and chunk sizes, derived from one another.
//!
//! Everything openraft-specific stays in this crate so that the master
//! depends on a small surface.

use std::io::Cursor;

pub mod limits;
pub mod network;
pub mod proposer;
pub mod storage;

pub use openraft;
pub use openraft::BasicNode;

/// Master ids are small operator-chosen integers (`--id 1`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The master group's Raft types: batches of registry commands in, one
    /// result per command out (see [`proposer`]).
    pub TypeConfig:
        D = proposer::Proposal,
        R = Vec<mesoraft_registry::CommandResult>,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, BasicNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, BasicNode>;
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, BasicNode>;
pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
