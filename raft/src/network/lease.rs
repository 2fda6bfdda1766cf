//! The leader's lease, measured with this process's own clock at the
//! moment it is used.
//!
//! A follower refuses to vote for another candidate for `vote_lease`
//! (openraft's leader lease, `election_timeout_max`) after it last accepted
//! an AppendEntries from the leader, and a master that just started refuses
//! votes for one `vote_lease` too (it cannot know when it last heard a
//! leader; see `server.rs`). So once a quorum of voters accepted
//! AppendEntries this leader *sent* at instant T, no other leader can be
//! elected before T + vote_lease: every quorum that could elect one
//! contains a voter that accepted at or after T. This leader may act as
//! leader until T + vote_lease - margin; the margin covers the time from
//! the check to the answer leaving the process and the difference in clock
//! rates between machines.
//!
//! openraft's own figure (`millis_since_quorum_ack` in its metrics) is only
//! published when metrics change: a master that was stopped for a second
//! resumes still holding the value it had before, and a periodic re-check
//! was stopped by the same pause. Here every AppendEntries is stamped when
//! it leaves, and [`QuorumClock::acting_until`] is asked at the moment of
//! every leader action.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::NodeId;

/// Send instants of the AppendEntries each peer accepted, for the newest
/// leader term this node sent in. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct QuorumClock(Arc<Mutex<Acks>>);

#[derive(Debug, Default)]
struct Acks {
    term: u64,
    sent: BTreeMap<NodeId, Instant>,
}

impl QuorumClock {
    /// `target` accepted an AppendEntries of leader term `term` that left
    /// this node at `sent`.
    pub fn accepted(&self, term: u64, target: NodeId, sent: Instant) {
        let mut acks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if term > acks.term {
            acks.term = term;
            acks.sent.clear();
        }
        if term == acks.term {
            let latest = acks.sent.entry(target).or_insert(sent);
            if sent > *latest {
                *latest = sent;
            }
        }
    }

    /// Until when this node, leader of `term`, may act as leader: the
    /// instant a quorum of every voter set in `configs` (one set, or two
    /// during a joint membership change) last acknowledged it, plus
    /// `lease`. None when no quorum acknowledged this term yet.
    pub fn acting_until(
        &self,
        term: u64,
        me: NodeId,
        configs: &[BTreeSet<NodeId>],
        lease: Duration,
        now: Instant,
    ) -> Option<Instant> {
        let acks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let empty = BTreeMap::new();
        let sent = if acks.term == term {
            &acks.sent
        } else {
            &empty
        };
        let acked = configs
            .iter()
            .map(|voters| quorum_instant(me, voters, sent, now))
            .min()??;
        Some(acked + lease)
    }
}

/// The latest instant by which a majority of `voters` had accepted this
/// leader's AppendEntries (this node counting as `now`).
pub fn quorum_instant(
    me: NodeId,
    voters: &BTreeSet<NodeId>,
    sent: &BTreeMap<NodeId, Instant>,
    now: Instant,
) -> Option<Instant> {
    let mut times: Vec<Instant> = voters
        .iter()
        .filter_map(|v| {
            if *v == me {
                Some(now)
            } else {
                sent.get(v).copied()
            }
        })
        .collect();
    let need = voters.len() / 2 + 1;
    if voters.is_empty() || times.len() < need {
        return None;
    }
    times.sort_unstable_by(|a, b| b.cmp(a));
    Some(times[need - 1])
}

/// How long a leader may act after its quorum's acknowledgement: the
/// followers' vote lease minus a margin of a fifth of it (at least 20 ms),
/// for the answer to leave the process and for clock rates to differ.
pub fn acting_lease(vote_lease: Duration) -> Duration {
    let margin = (vote_lease / 5).max(Duration::from_millis(20));
    vote_lease.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_quorum_is_the_majority_th_latest_acknowledgement() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let now = at(100);
        let mut sent = BTreeMap::new();
        sent.insert(2, at(40));
        sent.insert(3, at(70));
        // 3 voters: me (now) and 3 (70) make the quorum.
        assert_eq!(
            quorum_instant(1, &set(&[1, 2, 3]), &sent, now),
            Some(at(70))
        );
        // 5 voters: me, 3 and 2 are needed; 4 and 5 never answered.
        assert_eq!(
            quorum_instant(1, &set(&[1, 2, 3, 4, 5]), &sent, now),
            Some(at(40))
        );
        sent.remove(&2);
        assert_eq!(quorum_instant(1, &set(&[1, 2, 3, 4, 5]), &sent, now), None);
        // A single voter leads alone.
        assert_eq!(quorum_instant(1, &set(&[1]), &sent, now), Some(now));
    }

    #[test]
    fn acknowledgements_of_an_older_term_do_not_count() {
        let clock = QuorumClock::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let lease = Duration::from_millis(240);
        let voters = [set(&[1, 2, 3])];
        // `now` is after every send, as it always is.
        let now = at(50);
        clock.accepted(4, 2, t0);
        assert_eq!(
            clock.acting_until(4, 1, &voters, lease, now),
            Some(t0 + lease)
        );
        assert_eq!(clock.acting_until(5, 1, &voters, lease, now), None);
        clock.accepted(5, 3, at(10));
        // Term 5 replaced term 4's acknowledgements.
        assert_eq!(
            clock.acting_until(5, 1, &voters, lease, now),
            Some(at(10) + lease)
        );
        assert_eq!(clock.acting_until(4, 1, &voters, lease, now), None);
        // An older send does not move the instant back.
        clock.accepted(5, 3, t0);
        assert_eq!(
            clock.acting_until(5, 1, &voters, lease, now),
            Some(at(10) + lease)
        );
    }

    #[test]
    fn a_joint_membership_needs_a_quorum_of_both_configurations() {
        let clock = QuorumClock::default();
        let t0 = Instant::now();
        let lease = Duration::from_millis(100);
        clock.accepted(1, 2, t0);
        let joint = [set(&[1, 2, 3]), set(&[1, 4, 5])];
        assert_eq!(clock.acting_until(1, 1, &joint, lease, t0), None);
        clock.accepted(1, 4, t0 + Duration::from_millis(5));
        assert_eq!(
            clock.acting_until(1, 1, &joint, lease, t0 + Duration::from_millis(9)),
            Some(t0 + lease)
        );
    }

    #[test]
    fn the_acting_lease_keeps_a_margin() {
        assert_eq!(
            acting_lease(Duration::from_millis(300)),
            Duration::from_millis(240)
        );
        assert_eq!(
            acting_lease(Duration::from_millis(50)),
            Duration::from_millis(30)
        );
    }
}
