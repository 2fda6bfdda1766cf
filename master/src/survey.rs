//! The start-up survey: what the other masters' `/raft/status` says about
//! this one. A master with a stored membership asks whether its peers are
//! another cluster or removed it; a pristine initializer asks whether its
//! peers are pristine too (the lowest-id rule, below).
//! The probes are I/O; what they mean is decided by pure functions
//! ([`judge_survey`], [`check_peers_cluster`], [`crate::removal::find_removal`]).
//!
//! Exactly one initialization per group: only the lowest id in `--peers`
//! ever calls `Raft::initialize`, and only once it has seen a majority of
//! the listed masters (itself included) reachable and still pristine. A
//! group that already exists has at least a majority holding data, so a
//! master whose work dir was lost can never start a second group beside it.
//! Every other pristine master waits to be reached by the leader.
//!
//! The initial membership binds the initializer and the pristine masters it
//! surveyed to their incarnations; the other listed masters get unbound
//! slots, which the leader binds when they answer (see
//! [`crate::identity`]). An unbound slot votes and acknowledges nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use mesoraft_raft::network::ClusterIdentity;
use mesoraft_raft::{MasterNode, NodeId};
use tokio_util::sync::CancellationToken;

use crate::config::MasterArgs;
use crate::fatal::FatalStop;
use crate::removal::{find_removal, OwnView};
use crate::security::Security;
use crate::status::{MembershipView, RaftStatus};
use crate::Master;

/// Probes of peers' `/raft/status`: short timeouts, TLS as configured.
pub struct Prober {
    client: reqwest::Client,
    scheme: &'static str,
}

impl Prober {
    pub fn new(security: &Security) -> Self {
        let client = security
            .http_client(Duration::from_secs(1), Duration::from_millis(500))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot build the HTTP client for peer probes");
                reqwest::Client::new()
            });
        Self {
            client,
            scheme: security.scheme(),
        }
    }

    async fn status(&self, addr: &str) -> Option<RaftStatus> {
        let resp = self
            .client
            .get(format!("{}://{addr}/raft/status", self.scheme))
            .send()
            .await
            .ok()?;
        resp.json::<RaftStatus>().await.ok()
    }
}

/// `/raft/status` of every other master this one knows of (its stored
/// membership, `--peers`, `--join`), those that answer.
pub async fn probe_peers(
    prober: &Prober,
    args: &MasterArgs,
    membership: &MembershipView,
) -> Vec<RaftStatus> {
    let mut addrs: Vec<String> = membership.nodes.values().cloned().collect();
    addrs.extend(args.peers.iter().flat_map(|p| p.values().cloned()));
    addrs.extend(args.join.iter().cloned());
    addrs.sort();
    addrs.dedup();
    let own = args.advertised_addr().unwrap_or_default();
    let probes = addrs
        .iter()
        .filter(|a| **a != own)
        .map(|a| prober.status(a));
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Refuses to start when a reachable peer belongs to another cluster than
/// the one recorded in this work dir.
pub fn check_peers_cluster(
    args: &MasterArgs,
    cluster: &ClusterIdentity,
    peers: &[RaftStatus],
) -> anyhow::Result<()> {
    let Some(mine) = cluster.get() else {
        return Ok(());
    };
    for peer in peers {
        if let Some(theirs) = &peer.cluster_id {
            if theirs != mine {
                bail!(
                    "work dir {} belongs to cluster {mine}, but the master at {} is in \
                     cluster {theirs}; point --peers at this cluster's masters or use a fresh \
                     work dir",
                    args.work_dir.display(),
                    peer.address
                );
            }
        }
    }
    Ok(())
}

/// Until a leader contacts it, a master asks its peers now and then
/// whether the group removed it (at start-up they may all have been
/// unreachable), and stops if so.
pub async fn recheck_removal(master: Arc<Master>, shutdown: CancellationToken, fatal: FatalStop) {
    let prober = Prober::new(&master.security);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = master.contact.wait_first_contact() => return,
            _ = tokio::time::sleep(crate::removal::RECHECK_INTERVAL) => {}
        }
        let metrics = master.raft.metrics().borrow().clone();
        if metrics.state == mesoraft_raft::openraft::ServerState::Leader {
            return;
        }
        let membership = MembershipView::from_metrics(&metrics);
        let peers = probe_peers(&prober, &master.args, &membership).await;
        let own = OwnView {
            id: master.id,
            membership_log_index: metrics.membership_config.log_id().map(|l| l.index),
            cluster_id: master.cluster.get(),
            members: membership.nodes.clone(),
        };
        if let Some(removal) = find_removal(&own, &peers) {
            let message = removal.message(master.id, &master.address, &master.args.work_dir);
            tracing::error!(
                node_id = master.id,
                reporter = removal.reporter,
                membership_log_index = removal.log_index,
                "{message}"
            );
            fatal.stop(message, &shutdown);
            return;
        }
    }
}

/// The lowest-id rule (see the module docs), retried until the group
/// exists or the master stops.
pub async fn initialize_when_possible(master: Arc<Master>, shutdown: CancellationToken) {
    let Some(peers) = master.args.peers.clone() else {
        tracing::info!(node_id = master.id, join = ?master.args.join,
            "waiting to be added to the group: run `raftctl --masters {} members add {} {}`",
            master.args.join.join(","), master.id, master.address);
        return;
    };
    let initializer = *peers.keys().next().unwrap_or(&master.id);
    if initializer != master.id {
        tracing::info!(node_id = master.id, initializer,
            "new group: waiting for master {initializer} (the lowest id in --peers) to initialize it");
        return;
    }
    let prober = Prober::new(&master.security);
    let majority = peers.len() / 2 + 1;
    let mut logged = false;
    loop {
        if !master.membership().is_empty() {
            return;
        }
        match survey_peers(&prober, &master, &peers).await {
            Survey::Existing(addr) => {
                tracing::error!(node_id = master.id, existing = %addr,
                    incarnation = %master.identity.incarnation(),
                    "a group already exists but this master's work dir is empty; not initializing \
                     a second one. If the group holds a slot for this id it belongs to this \
                     master's earlier incarnation, whose data is gone: this master will not vote \
                     or acknowledge in its place. Remove it and add it again: `raftctl members \
                     add --replace {} {}`", master.id, master.address);
                return;
            }
            Survey::Mismatch(addr, theirs) => {
                if !logged {
                    tracing::error!(node_id = master.id, peer = %addr, their_peers = ?theirs, our_peers = ?peers,
                        "masters were started with different --peers; fix the flags so every master lists the same group");
                    logged = true;
                }
            }
            Survey::Pristine(found) if found.len() + 1 >= majority => {
                let members =
                    initial_members(&peers, master.id, master.identity.incarnation(), &found);
                match master.raft.initialize(members).await {
                    Ok(()) => {
                        tracing::info!(node_id = master.id, peers = ?peers, "initialized a new group")
                    }
                    Err(e) => tracing::warn!(node_id = master.id, error = %e, "initialize refused"),
                }
                return;
            }
            Survey::Pristine(found) => {
                if !logged {
                    tracing::info!(
                        node_id = master.id,
                        reachable = found.len() + 1,
                        needed = majority,
                        "waiting for a majority of --peers to be up before initializing the group"
                    );
                    logged = true;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// The first membership: every listed master is a voter; the initializer
/// and the surveyed pristine masters are bound to their incarnations, the
/// others wait unbound until they answer the leader.
fn initial_members(
    peers: &BTreeMap<NodeId, String>,
    me: NodeId,
    my_incarnation: &str,
    surveyed: &BTreeMap<NodeId, String>,
) -> BTreeMap<NodeId, MasterNode> {
    peers
        .iter()
        .map(|(id, addr)| {
            let incarnation = if *id == me {
                Some(my_incarnation.to_string())
            } else {
                surveyed.get(id).cloned()
            };
            (
                *id,
                MasterNode {
                    addr: addr.clone(),
                    incarnation,
                },
            )
        })
        .collect()
}

enum Survey {
    /// These other peers answered and are pristine with the same --peers:
    /// id -> incarnation.
    Pristine(BTreeMap<NodeId, String>),
    /// A peer already belongs to a group.
    Existing(String),
    /// A peer was started with different --peers.
    Mismatch(String, Option<BTreeMap<NodeId, String>>),
}

async fn survey_peers(
    prober: &Prober,
    master: &Master,
    peers: &BTreeMap<NodeId, String>,
) -> Survey {
    let others = peers.iter().filter(|(id, _)| **id != master.id);
    let probes = others.map(|(id, addr)| async { (*id, addr.clone(), prober.status(addr).await) });
    judge_survey(peers, futures::future::join_all(probes).await)
}

/// What the other listed masters' answers (`None`: no answer) mean for a
/// pristine initializer: any sign of an existing group or of other
/// `--peers` stops it; otherwise the pristine masters that answered under
/// their listed id, with their incarnations.
fn judge_survey(
    peers: &BTreeMap<NodeId, String>,
    answers: Vec<(NodeId, String, Option<RaftStatus>)>,
) -> Survey {
    let mut pristine = BTreeMap::new();
    for (id, addr, status) in answers {
        let Some(status) = status else { continue };
        if status.initialized || status.cluster_id.is_some() || status.term > 0 {
            return Survey::Existing(addr);
        }
        if status.initial_peers.as_ref() != Some(peers) {
            return Survey::Mismatch(addr, status.initial_peers);
        }
        // The status of the master at that address must be the listed id;
        // a master without an incarnation (older version) stays unbound.
        if status.id == id {
            if let Some(inc) = status.incarnation {
                pristine.insert(id, inc);
            }
        }
    }
    Survey::Pristine(pristine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_members_bind_the_surveyed_and_leave_the_rest_unbound() {
        let peers = BTreeMap::from([(1, "a:1".to_string()), (2, "b:1".into()), (3, "c:1".into())]);
        let surveyed = BTreeMap::from([(2, "bb".to_string())]);
        let m = initial_members(&peers, 1, "aa", &surveyed);
        assert_eq!(m[&1], MasterNode::bound("a:1", "aa"));
        assert_eq!(m[&2], MasterNode::bound("b:1", "bb"));
        assert_eq!(m[&3], MasterNode::unbound("c:1"));
    }

    fn pristine(id: NodeId, peers: &BTreeMap<NodeId, String>, incarnation: &str) -> RaftStatus {
        RaftStatus {
            id,
            initial_peers: Some(peers.clone()),
            incarnation: Some(incarnation.into()),
            ..RaftStatus::default()
        }
    }

    #[test]
    fn a_survey_binds_pristine_masters_under_their_listed_id_only() {
        let peers = BTreeMap::from([(1, "a:1".to_string()), (2, "b:1".into()), (3, "c:1".into())]);
        let answers = vec![
            (2, "b:1".to_string(), Some(pristine(2, &peers, "bb"))),
            // Another id answers at 3's address: it stays unbound.
            (3, "c:1".to_string(), Some(pristine(7, &peers, "cc"))),
        ];
        match judge_survey(&peers, answers) {
            Survey::Pristine(found) => assert_eq!(found, BTreeMap::from([(2, "bb".to_string())])),
            _ => panic!("expected pristine peers"),
        }
        assert!(matches!(
            judge_survey(&peers, vec![(2, "b:1".into(), None)]),
            Survey::Pristine(found) if found.is_empty()
        ));
    }

    #[test]
    fn any_sign_of_a_group_or_other_peers_stops_the_initializer() {
        let peers = BTreeMap::from([(1, "a:1".to_string()), (2, "b:1".into())]);
        for existing in [
            RaftStatus {
                initialized: true,
                ..pristine(2, &peers, "bb")
            },
            RaftStatus {
                cluster_id: Some("c".into()),
                ..pristine(2, &peers, "bb")
            },
            RaftStatus {
                term: 1,
                ..pristine(2, &peers, "bb")
            },
        ] {
            assert!(matches!(
                judge_survey(&peers, vec![(2, "b:1".into(), Some(existing))]),
                Survey::Existing(addr) if addr == "b:1"
            ));
        }
        let other_peers = BTreeMap::from([(1, "a:1".to_string()), (2, "x:1".into())]);
        assert!(matches!(
            judge_survey(&peers, vec![(2, "b:1".into(), Some(pristine(2, &other_peers, "bb")))]),
            Survey::Mismatch(addr, _) if addr == "b:1"
        ));
    }
}
