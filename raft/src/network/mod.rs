//! The tonic Raft transport between masters.
//!
//! * [`client`]: openraft's `RaftNetworkFactory`, with one cached HTTP/2
//!   channel per peer address (a channel multiplexes every RPC to that
//!   peer and reconnects by itself).
//! * [`server`]: the gRPC service that hands incoming RPCs to the local
//!   [`crate::Raft`].
//!
//! Both sides stamp and check the cluster id (see [`ClusterIdentity`]), so
//! a master can never replicate into, or vote in, a different cluster whose
//! members happen to reuse its addresses; and the incarnation (see
//! [`admission`] and [`crate::identity`]), so a master never votes or
//! acknowledges as a member whose durable state it does not hold.
//!
//! * [`security`]: the cluster secret and mutual-TLS admission.
//! * [`limits`]: bounds on what one RPC may make a master allocate.
//! * [`lease`]: when a quorum last accepted this leader's AppendEntries,
//!   for the leader lease checked at the moment of every leader action.
//! * [`tls`]: rustls configuration of the port and of clients.

pub mod admission;
mod client;
mod codec;
pub mod lease;
pub mod limits;
pub mod security;
mod server;
pub mod tls;

use std::sync::{Arc, OnceLock};

pub use client::{GrpcNetworkFactory, PeerTransport};
pub use lease::QuorumClock;
pub use limits::RpcLimits;
pub use security::{ClusterSecret, PeerAuth, PeerCertificate};
pub use server::RaftGrpcService;

/// gRPC metadata key carrying the sender's cluster id.
pub const CLUSTER_ID_HEADER: &str = "x-mesoraft-cluster-id";

/// The cluster id this node belongs to, once known (it is learnt when the
/// registry's `InitCluster` entry is applied, and never changes after).
#[derive(Clone, Debug, Default)]
pub struct ClusterIdentity(Arc<OnceLock<String>>);

impl ClusterIdentity {
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    /// Records the id. Returns false if a different id was recorded before,
    /// which means the node's storage is inconsistent with itself.
    pub fn set(&self, id: &str) -> bool {
        let stored = self.0.get_or_init(|| id.to_string());
        stored == id
    }

    /// True when both ids are known and differ.
    pub fn conflicts_with(&self, other: Option<&str>) -> bool {
        matches!((self.get(), other), (Some(mine), Some(theirs)) if mine != theirs)
    }
}

/// When this node last received an AppendEntries (heartbeat or entries)
/// that it accepted from a leader. openraft exposes the equivalent only on
/// the leader side (`millis_since_quorum_ack`); operators want it on
/// followers too ("how long since you heard the leader?").
#[derive(Clone, Debug, Default)]
pub struct LeaderContact {
    seen: crate::last_seen::LastSeen,
    first: Arc<tokio::sync::Notify>,
}

impl LeaderContact {
    pub fn touch(&self) {
        if self.seen.touch() {
            self.first.notify_waiters();
        }
    }

    /// Resolves once a leader has made contact (at once if it already has).
    pub async fn wait_first_contact(&self) {
        loop {
            // Registered before the check, so a touch in between is not lost.
            let notified = self.first.notified();
            if self.millis_since().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Millis since the last accepted AppendEntries, None if never.
    pub fn millis_since(&self) -> Option<u64> {
        self.seen
            .since()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
