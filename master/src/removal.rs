//! A master removed from the group while it was down.
//!
//! Its own storage still lists it as a member, so it would campaign for
//! ever: no leader replicates to a non-member, and every election it calls
//! is refused. The group knows better: a peer whose committed membership
//! is newer than this master's and no longer lists it proves the removal.
//! The master asks its peers at start-up (and, until a leader contacts it,
//! again now and then) and refuses to run, saying how to re-add it.

use std::collections::BTreeMap;
use std::time::Duration;

use mesoraft_raft::NodeId;

use crate::status::RaftStatus;

/// How often a master that has not heard a leader asks its peers again.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Proof that this master is no longer a member.
#[derive(Clone, Debug, PartialEq)]
pub struct Removal {
    /// The peer that reported the newer membership, and its address.
    pub reporter: NodeId,
    pub reporter_address: String,
    /// Log index of the membership entry that no longer lists this master.
    pub log_index: u64,
    /// Members (voters and learners) with their addresses, per that entry.
    pub members: Vec<(NodeId, String)>,
}

/// What this master knows of itself.
#[derive(Clone, Debug)]
pub struct OwnView<'a> {
    pub id: NodeId,
    /// Log index of the membership entry in this master's storage.
    pub membership_log_index: Option<u64>,
    pub cluster_id: Option<&'a str>,
    /// The members (id and address) of the membership this master stored.
    pub members: BTreeMap<NodeId, String>,
}

/// Looks for a peer that proves this master was removed: same cluster, a
/// membership set by a later entry than this master's, committed on that
/// peer (so no new leader can take it back), and not listing this master.
/// A peer that lags (an older membership) proves nothing.
pub fn find_removal(own: &OwnView<'_>, peers: &[RaftStatus]) -> Option<Removal> {
    peers.iter().find_map(|peer| {
        let same_cluster = same_cluster(own, peer);
        let index = peer.membership_log_index?;
        let newer = own.membership_log_index.is_none_or(|mine| index > mine);
        let committed = peer.committed_index.is_some_and(|c| c >= index);
        let listed = peer.membership.nodes.contains_key(&own.id);
        (same_cluster && peer.initialized && newer && committed && !listed).then(|| Removal {
            reporter: peer.id,
            reporter_address: peer.address.clone(),
            log_index: index,
            members: peer
                .membership
                .nodes
                .iter()
                .map(|(id, addr)| (*id, addr.clone()))
                .collect(),
        })
    })
}

/// Whether `peer` speaks for this master's group. With a cluster id on
/// both sides, they must match. A master killed before the first leader's
/// cluster id reached it knows only the membership it stored: a peer that
/// is in it, under the same id at the same address, and that names a
/// cluster, is the group it joined. (Were that address since taken by
/// another cluster, the group this master belonged to is gone from it, and
/// refusing to run is still the right answer.)
fn same_cluster(own: &OwnView<'_>, peer: &RaftStatus) -> bool {
    match (own.cluster_id, peer.cluster_id.as_deref()) {
        (Some(mine), Some(theirs)) => mine == theirs,
        (None, Some(_)) => own.members.get(&peer.id) == Some(&peer.address),
        (_, None) => false,
    }
}

impl Removal {
    /// The refusal: what was found, and the way back (a removed master
    /// rejoins only as a new member, from an empty work dir).
    pub fn message(&self, own_id: NodeId, own_address: &str, work_dir: &std::path::Path) -> String {
        let addrs: Vec<&str> = self.members.iter().map(|(_, a)| a.as_str()).collect();
        let masters = addrs.join(",");
        format!(
            "master {own_id} was removed from the group: master {} at {} reports the group's \
             membership as of log index {} with members {:?}, which no longer include this \
             master; it will not take part. To bring it back: stop it, delete or move its work \
             dir {}, start it with --join {masters} instead of --peers, and add it with \
             `raftctl --masters {masters} members add {own_id} {own_address}`",
            self.reporter,
            self.reporter_address,
            self.log_index,
            self.members.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            work_dir.display(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::MembershipView;

    fn peer(id: NodeId, members: &[NodeId], index: u64, committed: u64) -> RaftStatus {
        let nodes: BTreeMap<NodeId, String> =
            members.iter().map(|m| (*m, format!("h{m}:5050"))).collect();
        RaftStatus {
            id,
            address: format!("h{id}:5050"),
            cluster_id: Some("c".into()),
            role: "follower".into(),
            initialized: true,
            leader_id: Some(1),
            leader_address: None,
            term: 3,
            last_log_index: Some(committed),
            committed_index: Some(committed),
            applied_index: Some(committed),
            snapshot_index: None,
            purged_index: None,
            millis_since_leader_contact: Some(10),
            voter: true,
            membership: MembershipView {
                voters: members.to_vec(),
                learners: vec![],
                nodes,
                incarnations: BTreeMap::new(),
            },
            membership_log_index: Some(index),
            replication: None,
            elections_seen: 1,
            leader_changes: 1,
            initial_peers: None,
            recovery_warning: None,
            registry_digest: None,
            incarnation: None,
            needs_readding: None,
            security: Default::default(),
            witnessed: BTreeMap::new(),
            peer_problems: BTreeMap::new(),
            agents: None,
        }
    }

    fn me(index: Option<u64>) -> OwnView<'static> {
        OwnView {
            id: 3,
            membership_log_index: index,
            cluster_id: Some("c"),
            members: BTreeMap::new(),
        }
    }

    /// Killed before the cluster id reached it: it knows only the group it
    /// stored (members 1, 2, 3 at h1..h3).
    fn me_without_cluster_id(index: Option<u64>) -> OwnView<'static> {
        OwnView {
            cluster_id: None,
            members: [1, 2, 3].map(|m| (m, format!("h{m}:5050"))).into(),
            ..me(index)
        }
    }

    #[test]
    fn a_master_that_never_learnt_the_cluster_id_trusts_the_members_it_stored() {
        let removal = find_removal(&me_without_cluster_id(Some(1)), &[peer(1, &[1, 2], 4, 4)]);
        assert_eq!(removal.map(|r| r.reporter), Some(1));

        // Anyone else at those addresses proves nothing: another id than
        // the stored one, or an address the stored group does not list.
        let mut impostor = peer(1, &[1, 2], 4, 4);
        impostor.id = 7;
        let mut elsewhere = peer(1, &[1, 2], 4, 4);
        elsewhere.address = "h9:5050".into();
        let mut anonymous = peer(1, &[1, 2], 4, 4);
        anonymous.cluster_id = None;
        for status in [impostor, elsewhere, anonymous] {
            assert_eq!(
                find_removal(
                    &me_without_cluster_id(Some(1)),
                    std::slice::from_ref(&status)
                ),
                None,
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_newer_committed_membership_without_this_master_is_a_removal() {
        let removal = find_removal(&me(Some(1)), &[peer(1, &[1, 2], 9, 12)]).expect("removed");
        assert_eq!(removal.reporter, 1);
        assert_eq!(removal.log_index, 9);
        assert_eq!(removal.members.len(), 2);
        let message = removal.message(3, "h3:5050", std::path::Path::new("/data/m3"));
        for part in [
            "removed from the group",
            "/data/m3",
            "--join h1:5050,h2:5050",
            "raftctl --masters h1:5050,h2:5050 members add 3 h3:5050",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }

    #[test]
    fn nothing_less_proves_a_removal() {
        let cases = [
            // Still listed.
            peer(1, &[1, 2, 3], 9, 12),
            // A lagging peer with an older membership (this master was
            // added after it, say).
            peer(1, &[1, 2], 1, 12),
            peer(1, &[1, 2], 0, 12),
            // Not committed on that peer yet: a new leader may drop it.
            peer(1, &[1, 2], 9, 8),
        ];
        for status in cases {
            assert_eq!(
                find_removal(&me(Some(1)), std::slice::from_ref(&status)),
                None,
                "{status:?}"
            );
        }
        let mut other_cluster = peer(1, &[1, 2], 9, 12);
        other_cluster.cluster_id = Some("d".into());
        let mut unknown_cluster = peer(1, &[1, 2], 9, 12);
        unknown_cluster.cluster_id = None;
        let mut pristine = peer(1, &[1, 2], 9, 12);
        pristine.initialized = false;
        for status in [other_cluster, unknown_cluster, pristine] {
            assert_eq!(
                find_removal(&me(Some(1)), std::slice::from_ref(&status)),
                None,
                "{status:?}"
            );
        }
    }

    #[test]
    fn one_proof_among_peers_is_enough() {
        let lagging = peer(2, &[1, 2, 3], 1, 12);
        let current = peer(1, &[1, 2], 9, 12);
        assert!(find_removal(&me(Some(1)), &[lagging, current]).is_some());
    }
}
