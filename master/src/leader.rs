//! Leadership: turning Raft's view into "this master acts as leader now".
//!
//! Only the leader runs master logic. [`watch_leadership`] follows Raft
//! metrics; when this node becomes leader of term T it starts a fresh
//! leader-term task set under a cancellation token, and the moment Raft
//! reports anything else (follower, candidate, a newer term) it cancels that
//! token, so every leader-only task stops at once. HTTP handlers consult
//! [`Leadership::ready_term`] on every request, never a cached flag.

use mesoraft_raft::openraft;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mesoraft_raft::network::lease::acting_lease;
use mesoraft_raft::{CheckIsLeaderError, RaftError, RaftMetrics};
use mesoraft_registry::Command;
use openraft::ServerState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::Master;

/// Counters and the readiness of the current leader term.
pub struct Leadership {
    /// `Some(term)` once this node, as leader of `term`, has applied every
    /// entry of earlier terms and may serve leader requests.
    ready: watch::Sender<Option<u64>>,
    elections_seen: AtomicU64,
    leader_changes: AtomicU64,
    elected_at: std::sync::Mutex<Option<SystemTime>>,
}

impl Default for Leadership {
    fn default() -> Self {
        Self {
            ready: watch::channel(None).0,
            elections_seen: AtomicU64::new(0),
            leader_changes: AtomicU64::new(0),
            elected_at: std::sync::Mutex::new(None),
        }
    }
}

impl Leadership {
    pub fn ready_term(&self) -> Option<u64> {
        *self.ready.borrow()
    }

    pub fn elections_seen(&self) -> u64 {
        self.elections_seen.load(Ordering::Relaxed)
    }

    pub fn leader_changes(&self) -> u64 {
        self.leader_changes.load(Ordering::Relaxed)
    }

    pub fn elected_at(&self) -> Option<SystemTime> {
        *self.elected_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_ready(&self, term: Option<u64>) {
        self.ready.send_replace(term);
        *self.elected_at.lock().unwrap_or_else(|p| p.into_inner()) =
            term.map(|_| SystemTime::now());
    }
}

/// The leader-term task set currently running, if any.
struct LeaderTerm {
    term: u64,
    cancel: CancellationToken,
}

/// The term this master may act as leader in at `now`, if any: Raft must
/// say it leads, and `acting_until` (from [`Master::acting_until`]: a
/// quorum accepted an AppendEntries of this term that left less than the
/// acting lease ago) must lie ahead. openraft 0.9 has no check-quorum: a
/// leader cut off from the majority, or stopped and resumed, keeps its
/// role until it hears a higher term, while the majority elects another
/// leader once their vote lease ran out. The acting lease ends before
/// theirs, so this master stops acting as leader first.
///
/// `now` must be read at the moment of use: the metrics and any periodic
/// check may be as old as a pause of the whole process.
pub fn effective_leader_term(
    m: &RaftMetrics,
    acting_until: Option<Instant>,
    now: Instant,
) -> Option<u64> {
    if m.state != ServerState::Leader {
        return None;
    }
    match acting_until {
        Some(until) if now < until => Some(m.current_term),
        _ => None,
    }
}

impl Master {
    /// Until when this master may act as leader of the term in `m`: the
    /// followers' vote lease (openraft's, `election_timeout_max`) minus a
    /// margin, from the last AppendEntries a quorum of every voter set
    /// accepted. None before a quorum accepted one in this term.
    pub fn acting_until(&self, m: &RaftMetrics, now: Instant) -> Option<Instant> {
        let vote_lease = Duration::from_millis(self.args.election_timeout_max_ms);
        self.quorum_clock.acting_until(
            m.current_term,
            self.id,
            m.membership_config.membership().get_joint_config(),
            acting_lease(vote_lease),
            now,
        )
    }

    /// [`effective_leader_term`] of this master, now.
    pub fn acting_term(&self) -> Option<u64> {
        let m = self.raft.metrics().borrow().clone();
        let now = Instant::now();
        effective_leader_term(&m, self.acting_until(&m, now), now)
    }
}

/// Follows Raft metrics until `shutdown`; owns the leader-term task set.
pub async fn watch_leadership(master: Arc<Master>, shutdown: CancellationToken) {
    // The lease runs out without a metrics change: re-check every heartbeat.
    let mut tick = tokio::time::interval(Duration::from_millis(master.args.heartbeat_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut metrics = master.raft.metrics();
    let mut current: Option<LeaderTerm> = None;
    let mut last_term = 0u64;
    let mut last_leader = None;
    loop {
        let m = metrics.borrow_and_update().clone();

        if m.current_term > last_term {
            if last_term > 0 || m.current_term > 0 {
                master
                    .leadership
                    .elections_seen
                    .fetch_add(1, Ordering::Relaxed);
            }
            last_term = m.current_term;
        }
        if m.current_leader.is_some() && m.current_leader != last_leader {
            master
                .leadership
                .leader_changes
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(term = m.current_term, leader_id = ?m.current_leader, "leader changed");
        }
        last_leader = m.current_leader;
        master.sync_cluster_identity();

        let now = Instant::now();
        let leading_term = effective_leader_term(&m, master.acting_until(&m, now), now);
        if current.as_ref().map(|t| t.term) != leading_term {
            if let Some(old) = current.take() {
                // Stop acting as leader before anything else happens.
                master.leadership.set_ready(None);
                old.cancel.cancel();
                tracing::warn!(
                    term = old.term,
                    "lost leadership: leader-only tasks stopped"
                );
            }
            if let Some(term) = leading_term {
                let cancel = shutdown.child_token();
                tracing::info!(term, "became leader: starting leader-only tasks");
                tokio::spawn(run_leader_term(master.clone(), term, cancel.clone()));
                current = Some(LeaderTerm { term, cancel });
            }
        }

        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { break },
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
    }
    if let Some(old) = current.take() {
        master.leadership.set_ready(None);
        old.cancel.cancel();
    }
}

/// Everything a leader does during one term. Cancelled on leadership loss.
async fn run_leader_term(master: Arc<Master>, term: u64, cancel: CancellationToken) {
    // A new leader first commits a blank entry of its term; until it is
    // applied, the local registry may miss entries of earlier terms. A
    // leader restored from disk (openraft resumes a committed leader vote)
    // may find no quorum yet: keep trying until one answers or the term
    // ends.
    loop {
        let attempt =
            tokio::time::timeout(Duration::from_secs(2), master.raft.ensure_linearizable());
        let retry = tokio::select! {
            _ = cancel.cancelled() => return,
            result = attempt => match result {
                Ok(Ok(_)) => break,
                Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => return,
                Ok(Err(e)) => {
                    tracing::info!(term, error = %e, "leadership not confirmed by a quorum yet; retrying");
                    Duration::from_millis(200)
                }
                Err(_) => {
                    tracing::warn!(term, "no quorum answered within 2s; retrying");
                    Duration::ZERO
                }
            },
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
    if cancel.is_cancelled() {
        return;
    }
    master.leadership.set_ready(Some(term));
    tracing::info!(term, "leader ready");

    ensure_cluster_id(&master, term, &cancel).await;

    // Later leader-only services (agent sessions, allocator, timers) start
    // here, each bound to `cancel`.
    cancel.cancelled().await;
}

/// The first leader of a new group names the cluster. Raft orders racing
/// proposals; the registry keeps the first id and ignores repeats.
async fn ensure_cluster_id(master: &Master, term: u64, cancel: &CancellationToken) {
    if master.registry.read(|r| r.cluster_id().is_some()) {
        return;
    }
    let cluster_id = uuid::Uuid::new_v4().to_string();
    let write = master.proposer.write(Command::InitCluster {
        cluster_id: cluster_id.clone(),
    });
    tokio::select! {
        _ = cancel.cancelled() => {}
        result = write => match result {
            Ok(result) => {
                tracing::info!(term, cluster_id = %cluster_id, ?result, "cluster id recorded");
                master.sync_cluster_identity();
            }
            Err(e) => tracing::warn!(term, error = %e, "could not record the cluster id"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(state: ServerState) -> RaftMetrics {
        let mut m = RaftMetrics::new_initial(1);
        m.state = state;
        m.current_term = 7;
        m
    }

    #[test]
    fn a_leader_acts_only_until_its_lease_runs_out() {
        let now = Instant::now();
        let later = now + Duration::from_millis(10);
        let leader = metrics(ServerState::Leader);
        assert_eq!(effective_leader_term(&leader, Some(later), now), Some(7));
        // No quorum accepted anything of this term yet.
        assert_eq!(effective_leader_term(&leader, None, now), None);
        // The lease ran out, however fresh the metrics look.
        assert_eq!(effective_leader_term(&leader, Some(now), now), None);
        assert_eq!(effective_leader_term(&leader, Some(now), later), None);
        for state in [
            ServerState::Follower,
            ServerState::Candidate,
            ServerState::Learner,
        ] {
            assert_eq!(
                effective_leader_term(&metrics(state), Some(later), now),
                None
            );
        }
    }
}
