//! `raftctl status`, the gathering half: ask every master for its local
//! view in parallel, find the members nobody listed, and turn the answers
//! into one row per master. The verdict over these rows is in `verdict`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use crate::client::Client;
use crate::model::{majority_cluster, Member, Row};
use crate::wire::{Membership, NodeStatus};

/// Discovery rounds: members named by the answers of the previous round
/// are asked too. Two are enough for any sane group; the bound keeps a
/// confused group from making raftctl wander.
const DISCOVERY_ROUNDS: usize = 3;

/// The answer (or failure) of one address.
#[derive(Clone, Debug)]
pub struct Probe {
    pub address: String,
    pub listed: bool,
    pub result: Result<(NodeStatus, Duration), String>,
}

/// Asks every listed master, then the members they name that were not
/// listed, and builds the rows.
pub async fn gather(client: &Client, masters: &[String]) -> Vec<Row> {
    let mut probes = probe_all(client, masters, true).await;
    for _ in 0..DISCOVERY_ROUNDS {
        let unknown = unlisted_members(&probes);
        if unknown.is_empty() {
            break;
        }
        probes.extend(probe_all(client, &unknown, false).await);
    }
    build_rows(&probes)
}

async fn probe_all(client: &Client, addrs: &[String], listed: bool) -> Vec<Probe> {
    join_all(addrs.iter().map(|addr| async move {
        Probe {
            address: addr.clone(),
            listed,
            result: client.status(addr).await,
        }
    }))
    .await
}

/// Addresses of members named by the group's masters that nobody asked
/// yet, skipping ids that already answered under another spelling of their
/// address (`localhost` vs `127.0.0.1`).
fn unlisted_members(probes: &[Probe]) -> Vec<String> {
    let asked: BTreeSet<&str> = probes.iter().map(|p| p.address.as_str()).collect();
    let statuses: Vec<&NodeStatus> = probes
        .iter()
        .filter_map(|p| p.result.as_ref().ok())
        .map(|(s, _)| s)
        .collect();
    let answered: BTreeSet<u64> = statuses.iter().filter_map(|s| s.id).collect();
    let cluster = group_cluster(&statuses);
    let mut out = Vec::new();
    for s in statuses.iter().filter(|s| in_group(s, cluster.as_deref())) {
        for (id, addr) in s.membership.iter().flat_map(|m| m.nodes.iter()) {
            if !answered.contains(id) && !asked.contains(addr.as_str()) && !out.contains(addr) {
                out.push(addr.clone());
            }
        }
    }
    out
}

fn group_cluster(statuses: &[&NodeStatus]) -> Option<String> {
    majority_cluster(
        statuses
            .iter()
            .map(|s| (s.cluster_id.as_deref(), s.term.unwrap_or(0))),
    )
}

/// Whether a status belongs to the group being inspected: same cluster id,
/// or no id to compare (a master that was never initialized).
fn in_group(s: &NodeStatus, cluster: Option<&str>) -> bool {
    match (s.cluster_id.as_deref(), cluster) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The status whose membership and replication view are trusted: the
/// leader with the highest term, else the most up-to-date master.
fn reference<'a>(statuses: &[&'a NodeStatus], cluster: Option<&str>) -> Option<&'a NodeStatus> {
    let group = statuses.iter().copied().filter(|s| in_group(s, cluster));
    let leader = group
        .clone()
        .filter(|s| s.role.as_deref() == Some("leader"))
        .max_by_key(|s| s.term.unwrap_or(0));
    leader.or_else(|| {
        group
            .filter(|s| s.membership.as_ref().is_some_and(|m| !m.is_empty()))
            .max_by_key(|s| (s.term.unwrap_or(0), s.last_log_index.unwrap_or(0)))
    })
}

/// Turns the answers into rows, sorted by id. Pure, for tests.
pub fn build_rows(probes: &[Probe]) -> Vec<Row> {
    let statuses: Vec<&NodeStatus> = probes
        .iter()
        .filter_map(|p| p.result.as_ref().ok())
        .map(|(s, _)| s)
        .collect();
    let cluster = group_cluster(&statuses);
    let refs = reference(&statuses, cluster.as_deref());
    let membership: Option<&Membership> = refs
        .and_then(|s| s.membership.as_ref())
        .filter(|m| !m.is_empty());
    let leader = refs.filter(|s| s.role.as_deref() == Some("leader"));

    let mut rows: Vec<Row> = probes
        .iter()
        .map(|p| {
            let mut row = Row {
                address: p.address.clone(),
                listed: p.listed,
                ..Row::default()
            };
            match &p.result {
                Ok((s, rtt)) => fill_from_status(&mut row, s, *rtt),
                Err(e) => {
                    row.error = Some(e.clone());
                    row.id = membership.and_then(|m| m.id_of(&p.address));
                }
            }
            let foreign = matches!((&row.cluster_id, &cluster), (Some(a), Some(b)) if a != b);
            row.member = if foreign {
                Some(Member::Outside)
            } else {
                member_kind(&row, p.result.as_ref().ok().map(|(s, _)| s), membership)
            };
            // Lag only means something for members the leader replicates to.
            if matches!(row.member, Some(Member::Voter | Member::Learner)) {
                row.lag = lag(&row, leader);
            }
            row
        })
        .collect();
    rows.sort_by_key(|r| (r.id.is_none(), r.id, r.address.clone()));
    rows
}

fn fill_from_status(row: &mut Row, s: &NodeStatus, rtt: Duration) {
    row.reachable = true;
    row.id = s.id;
    row.role = Some(s.role.clone().unwrap_or_else(|| "?".into()));
    row.leader_id = s.leader_id;
    row.leader_address = s.leader_address.clone();
    row.term = s.term;
    row.last_log_index = s.last_log_index;
    row.committed_index = s.committed_index;
    row.applied_index = s.applied_index;
    row.millis_since_leader_contact = s.millis_since_leader_contact;
    row.rtt_ms = Some((rtt.as_secs_f64() * 10_000.0).round() / 10.0);
    row.recovery_warning = s.recovery_warning.clone().filter(|w| !w.trim().is_empty());
    row.needs_readding = s.needs_readding.clone().filter(|w| !w.trim().is_empty());
    row.unauthenticated = s.security.as_ref().is_some_and(|v| !v.cluster_secret);
    row.cluster_id = s.cluster_id.clone();
    row.agents = s.agents.clone();
    row.initialized = s
        .initialized
        .or_else(|| s.membership.as_ref().map(|m| !m.is_empty()));
}

/// Voter or learner per the trusted membership; without one, per the
/// master's own claim.
fn member_kind(
    row: &Row,
    own: Option<&NodeStatus>,
    membership: Option<&Membership>,
) -> Option<Member> {
    if let Some(m) = membership {
        let id = row.id?;
        return Some(if m.voters.contains(&id) {
            Member::Voter
        } else if m.learners.contains(&id) || m.nodes.contains_key(&id) {
            Member::Learner
        } else {
            Member::Outside
        });
    }
    let own = own?;
    if own.initialized == Some(false) {
        return Some(Member::Outside);
    }
    match (own.voter, own.role.as_deref()) {
        (Some(true), _) => Some(Member::Voter),
        (_, Some("learner")) => Some(Member::Learner),
        _ => None,
    }
}

fn lag(row: &Row, leader: Option<&NodeStatus>) -> Option<u64> {
    let leader = leader?;
    let id = row.id?;
    if leader.id == Some(id) {
        return Some(0);
    }
    let leader_last = leader.last_log_index.unwrap_or(0);
    if let Some(p) = leader.replication.as_ref().and_then(|r| r.get(&id)) {
        if let Some(lag) = p.lag {
            return Some(lag);
        }
        return Some(leader_last.saturating_sub(p.matched_index.unwrap_or(0)));
    }
    if row.reachable {
        return Some(leader_last.saturating_sub(row.last_log_index.unwrap_or(0)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PeerReplication;
    use std::collections::BTreeMap;

    fn membership(voters: &[u64], learners: &[u64]) -> Membership {
        Membership {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            nodes: voters
                .iter()
                .chain(learners)
                .map(|id| (*id, format!("m{id}:5050")))
                .collect(),
            ..Default::default()
        }
    }

    fn status(id: u64, role: &str, leader: Option<u64>, last: u64) -> NodeStatus {
        NodeStatus {
            id: Some(id),
            address: Some(format!("m{id}:5050")),
            cluster_id: Some("c1".into()),
            role: Some(role.into()),
            leader_id: leader,
            term: Some(2),
            last_log_index: Some(last),
            voter: Some(true),
            membership: Some(membership(&[1, 2, 3], &[4])),
            ..NodeStatus::default()
        }
    }

    fn ok(id: u64, s: NodeStatus) -> Probe {
        Probe {
            address: format!("m{id}:5050"),
            listed: true,
            result: Ok((s, Duration::from_micros(1234))),
        }
    }

    #[test]
    fn rows_take_ids_membership_and_lag_from_the_leader() {
        let mut leader = status(1, "leader", Some(1), 50);
        leader.replication = Some(BTreeMap::from([
            (
                2,
                PeerReplication {
                    matched_index: Some(48),
                    lag: Some(2),
                },
            ),
            (
                3,
                PeerReplication {
                    matched_index: Some(10),
                    lag: None,
                },
            ),
        ]));
        let probes = vec![
            ok(1, leader),
            ok(2, status(2, "follower", Some(1), 49)),
            Probe {
                address: "m3:5050".into(),
                listed: false,
                result: Err("connection refused".into()),
            },
            ok(4, status(4, "learner", Some(1), 30)),
        ];
        let rows = build_rows(&probes);
        let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(rows[0].lag, Some(0));
        assert_eq!(rows[1].lag, Some(2), "the leader's view wins");
        assert_eq!(rows[2].lag, Some(40), "computed from matched_index");
        assert!(!rows[2].reachable);
        assert_eq!(rows[2].member, Some(Member::Voter));
        assert_eq!(rows[3].lag, Some(20), "difference of last log indexes");
        assert_eq!(rows[3].member, Some(Member::Learner));
        assert_eq!(rows[0].rtt_ms, Some(1.2));
    }

    #[test]
    fn discovery_asks_unlisted_members_once() {
        let probes = vec![ok(1, status(1, "leader", Some(1), 5))];
        let mut unknown = unlisted_members(&probes);
        unknown.sort();
        assert_eq!(unknown, vec!["m2:5050", "m3:5050", "m4:5050"]);
    }

    #[test]
    fn foreign_cluster_is_not_a_member_and_not_explored() {
        let mut stranger = status(7, "leader", Some(7), 5);
        stranger.cluster_id = Some("other".into());
        stranger.membership = Some(membership(&[7, 8, 9], &[]));
        let probes = vec![
            ok(1, status(1, "leader", Some(1), 5)),
            ok(2, status(2, "follower", Some(1), 5)),
            ok(7, stranger),
        ];
        let rows = build_rows(&probes);
        let r7 = rows.iter().find(|r| r.id == Some(7)).unwrap();
        assert_eq!(r7.member, Some(Member::Outside));
        assert!(!unlisted_members(&probes).iter().any(|a| a == "m8:5050"));
    }

    #[test]
    fn unreachable_unknown_address_has_no_id() {
        let probes = vec![Probe {
            address: "nowhere:1".into(),
            listed: true,
            result: Err("no answer within 1s".into()),
        }];
        let rows = build_rows(&probes);
        assert_eq!(rows[0].id, None);
        assert_eq!(rows[0].member, None);
        assert_eq!(rows[0].error.as_deref(), Some("no answer within 1s"));
    }
}
