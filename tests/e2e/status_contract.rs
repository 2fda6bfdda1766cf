//! The contract between the masters and raftctl: the JSON of
//! `GET /raft/status` as a master writes it (`mesoraft_master::status::
//! RaftStatus`) and as raftctl reads it (`mesoraft_ctl::wire::NodeStatus`).
//!
//! raftctl reads leniently (every field may be absent), so a field renamed
//! or dropped on either side would not fail to parse: it would silently
//! read as unknown. These tests fill every field on the master's side and
//! check every field raftctl reads, each with a distinct value. Both sides
//! are destructured without `..`, so a field added to either type fails to
//! compile here until it is placed in the contract.

use std::collections::BTreeMap;

use mesoraft_ctl::wire::{AgentCounts, Membership, NodeStatus, PeerReplication, SecurityView};
use mesoraft_master::security::SecurityView as MasterSecurityView;
use mesoraft_master::status::{
    AgentCountsView, MembershipView, PeerReplication as MasterPeerReplication, RaftStatus,
    RegistryDigestView, WitnessView,
};

/// A status with every field set, each to a value no other field has.
fn full_master_status() -> RaftStatus {
    RaftStatus {
        id: 2,
        address: "10.0.0.2:5050".into(),
        cluster_id: Some("c0ffee".into()),
        role: "leader".into(),
        initialized: true,
        leader_id: Some(3),
        leader_address: Some("10.0.0.3:5050".into()),
        term: 7,
        last_log_index: Some(111),
        committed_index: Some(110),
        applied_index: Some(109),
        snapshot_index: Some(100),
        purged_index: Some(90),
        millis_since_leader_contact: Some(42),
        voter: true,
        membership: MembershipView {
            voters: vec![1, 2, 3],
            learners: vec![4],
            nodes: BTreeMap::from([
                (1, "10.0.0.1:5050".into()),
                (2, "10.0.0.2:5050".into()),
                (3, "10.0.0.3:5050".into()),
                (4, "10.0.0.4:5050".into()),
            ]),
            incarnations: BTreeMap::from([(1, "inc-1".into()), (2, "inc-2".into())]),
        },
        membership_log_index: Some(5),
        replication: Some(BTreeMap::from([
            (
                1,
                MasterPeerReplication {
                    matched_index: Some(108),
                    lag: 3,
                },
            ),
            (
                4,
                MasterPeerReplication {
                    matched_index: None,
                    lag: 111,
                },
            ),
        ])),
        elections_seen: 6,
        leader_changes: 4,
        initial_peers: Some(BTreeMap::from([(1, "10.0.0.1:5050".into())])),
        recovery_warning: Some("look at me".into()),
        registry_digest: Some(RegistryDigestView {
            applied_index: Some(109),
            applied_term: Some(7),
            crc32: "0badf00d".into(),
        }),
        incarnation: Some("inc-2".into()),
        needs_readding: Some("restored work dir".into()),
        security: MasterSecurityView {
            cluster_secret: true,
            tls: false,
            mutual_tls: true,
        },
        witnessed: BTreeMap::from([(
            "inc-1".into(),
            WitnessView {
                node: 1,
                run: 2,
                promised_term: 7,
                promised_index: 108,
                forked: None,
            },
        )]),
        peer_problems: BTreeMap::from([(4, "wrong incarnation".into())]),
        agents: Some(AgentCountsView {
            registered: 12,
            recovered: 13,
            disconnected: 14,
            unreachable: 15,
            gone: 16,
            recovery_removals_refused: 17,
        }),
    }
}

/// Fields the masters serve that raftctl does not read (other tools and
/// operators do). A new master field must be added here or to
/// [`NodeStatus`], so leaving it out of raftctl is a decision.
const NOT_READ_BY_RAFTCTL: &[&str] = &[
    "snapshot_index",
    "purged_index",
    "membership_log_index",
    "initial_peers",
    "registry_digest",
    "witnessed",
    "peer_problems",
];

/// The fields raftctl reads, by their JSON names.
const READ_BY_RAFTCTL: &[&str] = &[
    "id",
    "address",
    "cluster_id",
    "role",
    "initialized",
    "leader_id",
    "leader_address",
    "term",
    "last_log_index",
    "committed_index",
    "applied_index",
    "millis_since_leader_contact",
    "voter",
    "membership",
    "replication",
    "elections_seen",
    "leader_changes",
    "recovery_warning",
    "needs_readding",
    "incarnation",
    "security",
    "agents",
];

#[test]
fn raftctl_reads_every_field_of_the_status_a_master_serves() {
    let served = full_master_status();
    let json = serde_json::to_string(&served).unwrap();
    let read: NodeStatus = serde_json::from_str(&json).unwrap();

    // No `..`: a field raftctl adds must be checked here too.
    let NodeStatus {
        id,
        address,
        cluster_id,
        role,
        initialized,
        leader_id,
        leader_address,
        term,
        last_log_index,
        committed_index,
        applied_index,
        millis_since_leader_contact,
        voter,
        membership,
        replication,
        elections_seen,
        leader_changes,
        recovery_warning,
        needs_readding,
        incarnation,
        security,
        agents,
    } = read;
    assert_eq!(id, Some(2));
    assert_eq!(address.as_deref(), Some("10.0.0.2:5050"));
    assert_eq!(cluster_id.as_deref(), Some("c0ffee"));
    assert_eq!(role.as_deref(), Some("leader"));
    assert_eq!(initialized, Some(true));
    assert_eq!(leader_id, Some(3));
    assert_eq!(leader_address.as_deref(), Some("10.0.0.3:5050"));
    assert_eq!(term, Some(7));
    assert_eq!(last_log_index, Some(111));
    assert_eq!(committed_index, Some(110));
    assert_eq!(applied_index, Some(109));
    assert_eq!(millis_since_leader_contact, Some(42));
    assert_eq!(voter, Some(true));
    let Membership {
        voters,
        learners,
        nodes,
        incarnations,
    } = membership.expect("membership");
    assert_eq!(voters, vec![1, 2, 3]);
    assert_eq!(learners, vec![4]);
    assert_eq!(nodes, served.membership.nodes);
    assert_eq!(incarnations, served.membership.incarnations);
    let replication = replication.expect("replication");
    assert_eq!(
        replication,
        BTreeMap::from([
            (
                1,
                PeerReplication {
                    matched_index: Some(108),
                    lag: Some(3),
                }
            ),
            (
                4,
                PeerReplication {
                    matched_index: None,
                    lag: Some(111),
                }
            ),
        ])
    );
    assert_eq!(elections_seen, Some(6));
    assert_eq!(leader_changes, Some(4));
    assert_eq!(recovery_warning.as_deref(), Some("look at me"));
    assert_eq!(needs_readding.as_deref(), Some("restored work dir"));
    assert_eq!(incarnation.as_deref(), Some("inc-2"));
    let SecurityView {
        cluster_secret,
        tls,
        mutual_tls,
    } = security.expect("security");
    assert_eq!((cluster_secret, tls, mutual_tls), (true, false, true));
    let AgentCounts {
        registered,
        recovered,
        disconnected,
        unreachable,
        gone,
        recovery_removals_refused,
    } = agents.expect("agents");
    assert_eq!(
        (registered, recovered, disconnected, unreachable, gone),
        (12, 13, 14, 15, 16)
    );
    assert_eq!(recovery_removals_refused, 17);
}

#[test]
fn every_field_a_master_serves_is_read_or_known_to_be_skipped() {
    let json = serde_json::to_value(full_master_status()).unwrap();
    let served: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in &served {
        assert!(
            READ_BY_RAFTCTL.contains(key) || NOT_READ_BY_RAFTCTL.contains(key),
            "the masters serve {key:?}, which raftctl neither reads nor lists as skipped"
        );
    }
    for key in READ_BY_RAFTCTL.iter().chain(NOT_READ_BY_RAFTCTL) {
        assert!(
            served.contains(key),
            "raftctl expects {key:?}, which the masters no longer serve"
        );
    }
    // Nested objects raftctl reads: the same names on both sides.
    let membership: Vec<&str> = json["membership"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        membership,
        ["incarnations", "learners", "nodes", "voters"],
        "membership"
    );
    let replication = json["replication"]["1"].as_object().unwrap();
    assert!(replication.contains_key("matched_index") && replication.contains_key("lag"));
    let security = json["security"].as_object().unwrap();
    for key in ["cluster_secret", "tls", "mutual_tls"] {
        assert!(security.contains_key(key), "security lacks {key}");
    }
    let agents: Vec<&str> = json["agents"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        agents,
        [
            "disconnected",
            "gone",
            "recovered",
            "recovery_removals_refused",
            "registered",
            "unreachable"
        ],
        "agents"
    );
}

#[test]
fn raftctl_sends_the_token_the_masters_check() {
    let secret = b"a cluster secret of some length";
    let sent = mesoraft_ctl::security::SecretToken::from_bytes(secret).header_value();
    let checked = mesoraft_raft::network::ClusterSecret::from_bytes(secret);
    assert!(checked.verify(Some(sent.as_bytes())));
    assert_eq!(
        mesoraft_proto::auth::AUTH_HEADER,
        mesoraft_raft::network::security::AUTH_HEADER
    );
}
