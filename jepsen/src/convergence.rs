//! After every fault is healed and the workloads' final operations are
//! done, every master's registry must converge to the same state.
//!
//! Reads are linearizable and served by the leader, so reading "through
//! every node" never looks at a follower's own copy; a follower whose
//! registry diverged would go unseen until it became leader. Instead each
//! master reports a fingerprint of its registry at its applied index
//! (`GET /raft/status?digest=true`). [`poll`] records those reports until
//! all members of the group applied the same index; [`check`] fails the
//! run when two masters ever report different fingerprints for the same
//! applied log id, and cannot pass it unless the members converged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checker::{CheckResult, Validity};
use crate::cluster::Cluster;
use crate::history::{pair, Op, OpType, Process, Recorder};
use crate::workload::PROCESS_SPAN;

/// Convergence polls use processes `CONVERGENCE_PART * PROCESS_SPAN + id`,
/// a range no workload of a composition reaches.
pub const CONVERGENCE_PART: u64 = 900;
const DEADLINE: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(200);
const POLL_TIMEOUT: Duration = Duration::from_millis(1000);

/// One master's answer, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: u64,
    pub role: String,
    pub round: u64,
    pub applied_index: Option<u64>,
    pub applied_term: Option<u64>,
    pub crc32: Option<String>,
    /// The group's members as this master sees them (voters and learners).
    pub members: Vec<u64>,
}

fn process(id: u64) -> Process {
    Process::Client(CONVERGENCE_PART * PROCESS_SPAN + id)
}

fn is_convergence(p: Process) -> bool {
    matches!(p, Process::Client(n) if n / PROCESS_SPAN == CONVERGENCE_PART)
}

/// Whether one round shows every member at the leader's applied index.
pub fn converged(round: &[Report]) -> bool {
    let Some(leader) = round.iter().find(|r| r.role == "leader") else {
        return false;
    };
    let Some(target) = leader.applied_index else {
        return false;
    };
    leader.members.iter().all(|m| {
        round
            .iter()
            .any(|r| r.id == *m && r.applied_index == Some(target) && r.crc32.is_some())
    })
}

/// Polls every master until the members converged or the deadline passed,
/// recording each answer.
pub async fn poll(cluster: &Cluster, recorder: &Recorder) {
    let deadline = Instant::now() + DEADLINE;
    for round in 0u64.. {
        let polls = cluster.ids().into_iter().map(|id| async move {
            let pending = recorder.invoke(process(id), "digest", None, json!({"round": round}));
            let addr = cluster.addr(id).to_string();
            match cluster.probe.status_with_digest(&addr, POLL_TIMEOUT).await {
                Ok(s) => {
                    let mut members = s.membership.voters.clone();
                    members.extend(&s.membership.learners);
                    let d = s.registry_digest.clone();
                    let report = Report {
                        id: s.id,
                        role: s.role.to_string(),
                        round,
                        applied_index: d.as_ref().and_then(|d| d.applied_index),
                        applied_term: d.as_ref().and_then(|d| d.applied_term),
                        crc32: d.map(|d| d.crc32),
                        members,
                    };
                    let value = serde_json::to_value(&report).unwrap_or_default();
                    recorder.complete(pending, OpType::Ok, value, Some(addr), None);
                    Some(report)
                }
                Err(e) => {
                    recorder.complete(pending, OpType::Fail, json!(null), Some(addr), Some(e));
                    None
                }
            }
        });
        let reports: Vec<Report> = futures::future::join_all(polls)
            .await
            .into_iter()
            .flatten()
            .collect();
        if converged(&reports) || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The convergence verdict over the recorded reports.
pub fn check(history: &[Op]) -> CheckResult {
    let reports: Vec<Report> = pair(history)
        .into_iter()
        .filter(|c| is_convergence(c.invoke.process) && c.kind() == OpType::Ok)
        .filter_map(|c| c.complete)
        .filter_map(|done| serde_json::from_value(done.value.clone()).ok())
        .collect();
    verdict(&reports)
}

/// The pure part of [`check`].
pub fn verdict(reports: &[Report]) -> CheckResult {
    let mut by_log_id: BTreeMap<(u64, u64), BTreeMap<String, BTreeSet<u64>>> = BTreeMap::new();
    for r in reports {
        if let (Some(i), Some(t), Some(crc)) = (r.applied_index, r.applied_term, &r.crc32) {
            by_log_id
                .entry((t, i))
                .or_default()
                .entry(crc.clone())
                .or_default()
                .insert(r.id);
        }
    }
    let diverged: Vec<serde_json::Value> = by_log_id
        .iter()
        .filter(|(_, digests)| digests.len() > 1)
        .map(|((term, index), digests)| {
            json!({"applied_term": term, "applied_index": index, "digests": digests})
        })
        .collect();
    let last_round = reports.iter().map(|r| r.round).max();
    let final_round: Vec<Report> = reports
        .iter()
        .filter(|r| Some(r.round) == last_round)
        .cloned()
        .collect();
    let with_digest = reports.iter().filter(|r| r.crc32.is_some()).count();
    let (valid, summary) = if !diverged.is_empty() {
        (
            Validity::False,
            format!(
                "masters hold different registries at the same applied log id ({} cases)",
                diverged.len()
            ),
        )
    } else if with_digest == 0 {
        (
            Validity::Unknown,
            "no master reported a registry fingerprint".to_string(),
        )
    } else if !converged(&final_round) {
        (
            Validity::Unknown,
            format!(
                "the members did not reach one applied index within {} s after healing",
                DEADLINE.as_secs()
            ),
        )
    } else {
        (
            Validity::True,
            format!(
                "{} members converged to one registry ({} fingerprints compared)",
                final_round.iter().filter(|r| r.crc32.is_some()).count(),
                with_digest
            ),
        )
    };
    CheckResult {
        checker: "convergence".into(),
        valid,
        summary,
        details: json!({"diverged": diverged, "final_round": final_round, "rounds": last_round.map_or(0, |r| r + 1)}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: u64, role: &str, round: u64, index: u64, crc: &str) -> Report {
        Report {
            id,
            role: role.into(),
            round,
            applied_index: Some(index),
            applied_term: Some(2),
            crc32: Some(crc.into()),
            members: vec![1, 2, 3],
        }
    }

    #[test]
    fn converged_members_pass() {
        let r = vec![
            report(1, "follower", 0, 9, "aa"),
            report(1, "follower", 1, 10, "bb"),
            report(2, "leader", 1, 10, "bb"),
            report(3, "follower", 1, 10, "bb"),
        ];
        assert_eq!(verdict(&r).valid, Validity::True);
    }

    #[test]
    fn a_diverged_replica_fails_even_if_it_caught_up_later() {
        let r = vec![
            report(1, "follower", 0, 9, "aa"),
            report(3, "follower", 0, 9, "ff"),
            report(1, "follower", 1, 10, "bb"),
            report(2, "leader", 1, 10, "bb"),
            report(3, "follower", 1, 10, "bb"),
        ];
        let v = verdict(&r);
        assert_eq!(v.valid, Validity::False);
        assert!(v.details["diverged"].to_string().contains("ff"));
    }

    #[test]
    fn lagging_member_or_no_fingerprint_is_unknown() {
        let r = vec![
            report(2, "leader", 0, 10, "bb"),
            report(3, "follower", 0, 10, "bb"),
            report(1, "follower", 0, 7, "cc"),
        ];
        assert_eq!(verdict(&r).valid, Validity::Unknown);
        let mut bare = report(2, "leader", 0, 10, "bb");
        bare.crc32 = None;
        assert_eq!(verdict(&[bare]).valid, Validity::Unknown);
        assert_eq!(verdict(&[]).valid, Validity::Unknown);
    }
}
