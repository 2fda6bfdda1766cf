//! The leader's term: when this master may act as leader (Raft says it
//! leads and a quorum accepted its AppendEntries within the acting lease),
//! and the counters and readiness of the current term.

use mesoraft_raft::openraft;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mesoraft_raft::network::lease::acting_lease;
use mesoraft_raft::RaftMetrics;
use openraft::ServerState;
use tokio::sync::watch;

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

    /// Counts a term change seen in the metrics.
    pub(super) fn note_election(&self) {
        self.elections_seen.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a change of the leader the metrics name.
    pub(super) fn note_leader_change(&self) {
        self.leader_changes.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_ready(&self, term: Option<u64>) {
        self.ready.send_replace(term);
        *self.elected_at.lock().unwrap_or_else(|p| p.into_inner()) =
            term.map(|_| SystemTime::now());
    }
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
