//! A master's local view of the Raft group: what `GET /raft/status`,
//! `GET /metrics` and `raftctl status` show.

use mesoraft_raft::openraft;
use std::collections::BTreeMap;

use mesoraft_raft::{NodeId, RaftMetrics};
use openraft::ServerState;
use serde::{Deserialize, Serialize};

use crate::Master;

/// The JSON of `GET /raft/status`. Answered by every master from its own
/// state (never redirected), so it works without a leader.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RaftStatus {
    pub id: NodeId,
    pub address: String,
    pub cluster_id: Option<String>,
    /// leader / follower / candidate / learner / shutdown.
    pub role: String,
    /// False until the node has a membership (a pristine or `--join`ing
    /// master waiting to be initialized or added).
    pub initialized: bool,
    pub leader_id: Option<NodeId>,
    pub leader_address: Option<String>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Last entry covered by the latest snapshot.
    pub snapshot_index: Option<u64>,
    /// Entries up to here were compacted away from the log.
    pub purged_index: Option<u64>,
    /// On the leader: millis since a quorum last acknowledged it. Elsewhere:
    /// millis since this node last accepted an AppendEntries.
    pub millis_since_leader_contact: Option<u64>,
    pub voter: bool,
    pub membership: MembershipView,
    /// Log index of the entry that set `membership` (None before the
    /// first one), so a restarting master can tell a newer membership
    /// from its own.
    #[serde(default)]
    pub membership_log_index: Option<u64>,
    /// Leader only: per-follower replication progress.
    pub replication: Option<BTreeMap<NodeId, PeerReplication>>,
    pub elections_seen: u64,
    pub leader_changes: u64,
    /// The `--peers` this master was started with (None with `--join`).
    pub initial_peers: Option<BTreeMap<NodeId, String>>,
    /// Something an operator must look at (e.g. refused agent removals).
    pub recovery_warning: Option<String>,
    /// Only with `?digest=true`: a fingerprint of the registry at the
    /// applied index, to compare replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_digest: Option<RegistryDigestView>,
    /// This master's incarnation (the life of its work dir).
    #[serde(default)]
    pub incarnation: Option<String>,
    /// Set when the group does not accept this master as the member it
    /// claims to be (lost or restored work dir): why, and what to do.
    #[serde(default)]
    pub needs_readding: Option<String>,
    /// The port's protection.
    #[serde(default)]
    pub security: crate::security::SecurityView,
    /// What this master witnessed of the other incarnations (their newest
    /// run and the newest state they vouched for).
    #[serde(default)]
    pub witnessed: BTreeMap<String, WitnessView>,
    /// Peers whose Raft answers this master does not count, and why.
    #[serde(default)]
    pub peer_problems: BTreeMap<NodeId, String>,
    /// The leader's agent figures (absent on other masters, and on a
    /// leader whose agent sessions are not open yet).
    #[serde(default)]
    pub agents: Option<AgentCountsView>,
}

/// The agent figures of `raftctl status`, as the leader's session table
/// counts them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentCountsView {
    /// Registered with an open session.
    pub registered: u64,
    /// Admitted before this leader's term and not back yet.
    pub recovered: u64,
    /// Registered, session broken, not unreachable yet.
    pub disconnected: u64,
    pub unreachable: u64,
    pub gone: u64,
    /// Recovered agents the recovery removal limit kept from being marked
    /// unreachable: more were missing after the failover than
    /// `--recovery-agent-removal-limit` allows (0 unless it was exceeded).
    pub recovery_removals_refused: u64,
}

impl From<&crate::agents::table::AgentCounts> for AgentCountsView {
    fn from(c: &crate::agents::table::AgentCounts) -> Self {
        Self {
            registered: c.registered as u64,
            recovered: c.recovered as u64,
            disconnected: c.disconnected as u64,
            unreachable: c.unreachable as u64,
            gone: c.gone as u64,
            recovery_removals_refused: c.recovery_removals_refused as u64,
        }
    }
}

/// A replica's registry fingerprint: masters that applied the same index
/// must show the same `crc32`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegistryDigestView {
    pub applied_index: Option<u64>,
    pub applied_term: Option<u64>,
    /// CRC-32 of the registry's snapshot encoding, hex.
    pub crc32: String,
}

impl RegistryDigestView {
    pub fn of(master: &Master) -> Self {
        let d = master.registry.digest();
        Self {
            applied_index: d.applied.map(|l| l.index),
            applied_term: d.applied.map(|l| l.leader_id.term),
            crc32: format!("{:08x}", d.crc32),
        }
    }
}

/// One ledger record, as shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WitnessView {
    pub node: NodeId,
    pub run: u64,
    pub promised_term: u64,
    pub promised_index: u64,
    pub forked: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MembershipView {
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, String>,
    /// The incarnation each bound slot belongs to (unbound slots absent).
    #[serde(default)]
    pub incarnations: BTreeMap<NodeId, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PeerReplication {
    pub matched_index: Option<u64>,
    pub lag: u64,
}

impl MembershipView {
    pub fn from_metrics(m: &RaftMetrics) -> Self {
        Self::from_membership(m.membership_config.membership())
    }

    pub fn from_membership(membership: &mesoraft_raft::Membership) -> Self {
        Self {
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            nodes: membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
            incarnations: membership
                .nodes()
                .filter_map(|(id, node)| Some((*id, node.incarnation.clone()?)))
                .collect(),
        }
    }

    pub fn address_of(&self, id: NodeId) -> Option<&str> {
        self.nodes.get(&id).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

pub fn role_name(m: &RaftMetrics, membership: &MembershipView) -> &'static str {
    match m.state {
        ServerState::Leader => "leader",
        ServerState::Candidate => "candidate",
        ServerState::Shutdown => "shutdown",
        ServerState::Learner => "learner",
        ServerState::Follower if membership.learners.contains(&m.id) => "learner",
        ServerState::Follower => "follower",
    }
}

impl RaftStatus {
    /// Builds the status from the latest metrics. `committed` comes from the
    /// Raft core (metrics in 0.9 do not carry it).
    pub fn collect(master: &Master, committed_index: Option<u64>) -> Self {
        let m = master.raft.metrics().borrow().clone();
        let membership = MembershipView::from_metrics(&m);
        let last_log = m.last_log_index.unwrap_or(0);
        let replication = m.replication.as_ref().map(|peers| {
            peers
                .iter()
                .map(|(id, matched)| {
                    let matched_index = matched.map(|l| l.index);
                    let lag = last_log.saturating_sub(matched_index.unwrap_or(0));
                    (*id, PeerReplication { matched_index, lag })
                })
                .collect()
        });
        let is_leader = m.state == ServerState::Leader;
        Self {
            id: master.id,
            address: master.address.clone(),
            cluster_id: master.cluster.get().map(str::to_string),
            role: role_name(&m, &membership).to_string(),
            initialized: !membership.is_empty(),
            leader_id: m.current_leader,
            leader_address: m
                .current_leader
                .and_then(|id| membership.address_of(id).map(str::to_string)),
            term: m.current_term,
            last_log_index: m.last_log_index,
            committed_index,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            millis_since_leader_contact: if is_leader {
                m.millis_since_quorum_ack
            } else {
                master.contact.millis_since()
            },
            voter: membership.voters.contains(&master.id),
            replication,
            elections_seen: master.leadership.elections_seen(),
            leader_changes: master.leadership.leader_changes(),
            initial_peers: master.args.peers.clone(),
            recovery_warning: None,
            registry_digest: None,
            membership_log_index: m.membership_config.log_id().map(|l| l.index),
            incarnation: Some(master.identity.incarnation().to_string()),
            needs_readding: master
                .identity
                .standing()
                .needs_readding(master.id, master.identity.incarnation())
                .map(|s| s.replace("ADDRESS", &master.address)),
            security: master.security.view(),
            witnessed: master
                .identity
                .gossip()
                .into_iter()
                .map(|(inc, r)| {
                    (
                        inc,
                        WitnessView {
                            node: r.node,
                            run: r.run,
                            promised_term: r.promised.term,
                            promised_index: r.promised.index,
                            forked: r.forked,
                        },
                    )
                })
                .collect(),
            peer_problems: master
                .identity
                .reports()
                .into_iter()
                .filter(|(id, _)| membership.nodes.contains_key(id))
                .filter_map(|(id, r)| Some((id, r.problem?)))
                .collect(),
            agents: master.hub.counts().as_ref().map(AgentCountsView::from),
            membership,
        }
    }
}

/// The effective membership and the log index of the entry that set it,
/// asked of the Raft core itself: right after `Raft::new` the metrics
/// channel may not carry it yet.
pub async fn stored_membership(
    raft: &mesoraft_raft::Raft,
) -> Option<(MembershipView, Option<u64>)> {
    raft.with_raft_state(|st| {
        let effective = st.membership_state.effective();
        (
            MembershipView::from_membership(effective.membership()),
            effective.log_id().map(|l| l.index),
        )
    })
    .await
    .ok()
}

/// The committed index, asked of the Raft core; None if it is shutting down.
pub async fn committed_index(raft: &mesoraft_raft::Raft) -> Option<u64> {
    raft.with_raft_state(|st| st.committed.map(|l| l.index))
        .await
        .ok()
        .flatten()
}
