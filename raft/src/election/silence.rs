//! How long this node has gone without reason to believe a leader is
//! coming: the `silence` the policy compares with the lease. Kept apart
//! from the timer so its rules are tested without a Raft core.
//!
//! Silence is the shorter of
//! - the time since this node last accepted a leader's AppendEntries or
//!   snapshot, or, if it never did, since elections were allowed (a node
//!   that never heard a leader must still wait a lease before it
//!   campaigns: one may be about to contact it);
//! - the time since its vote last moved to another node (granted to a
//!   candidate, or adopted from a leader): as in Raft, that restarts the
//!   wait, because the candidate needs a moment to win and to send its
//!   first AppendEntries.

use std::time::{Duration, Instant};

use crate::{NodeId, Vote};

/// What one tick read from the node.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub now: Instant,
    pub allowed: bool,
    pub vote: Vote,
    /// Since the last accepted AppendEntries or snapshot; None if never.
    pub leader_contact: Option<Duration>,
    pub current_leader: Option<NodeId>,
}

/// The state carried from tick to tick.
#[derive(Debug)]
pub struct SilenceClock {
    id: NodeId,
    allowed_since: Option<Instant>,
    vote_changed: Option<(Vote, Instant)>,
    last_leader: Option<NodeId>,
}

impl SilenceClock {
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            allowed_since: None,
            vote_changed: None,
            last_leader: None,
        }
    }

    /// Takes one tick's reading; returns the silence.
    pub fn observe(&mut self, r: &Reading) -> Duration {
        if !r.allowed {
            self.allowed_since = None;
        } else if self.allowed_since.is_none() {
            self.allowed_since = Some(r.now);
        }
        if r.current_leader.is_some() {
            self.last_leader = r.current_leader;
        }
        if self.vote_changed.is_none_or(|(v, _)| v != r.vote) {
            self.vote_changed = Some((r.vote, r.now));
        }
        let heard = r.leader_contact.unwrap_or_else(|| {
            self.allowed_since
                .map_or(Duration::ZERO, |t| r.now.saturating_duration_since(t))
        });
        let since_vote_for_other = self
            .vote_changed
            .filter(|(v, _)| v.leader_id().voted_for() != Some(self.id))
            .map(|(_, at)| r.now.saturating_duration_since(at));
        since_vote_for_other.map_or(heard, |v| v.min(heard))
    }

    /// The last leader this node knew, kept after its vote moves on, so a
    /// failed campaign does not reshuffle the ranks.
    pub fn last_leader(&self) -> Option<NodeId> {
        self.last_leader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: NodeId = 2;

    fn reading(now: Instant, allowed: bool, vote: Vote, contact_ms: Option<u64>) -> Reading {
        Reading {
            now,
            allowed,
            vote,
            leader_contact: contact_ms.map(Duration::from_millis),
            current_leader: None,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn never_heard_counts_from_when_elections_were_allowed() {
        let t0 = Instant::now();
        let mut clock = SilenceClock::new(ME);
        let vote = Vote::new(0, 0);
        assert_eq!(clock.observe(&reading(t0, false, vote, None)), ms(0));
        assert_eq!(
            clock.observe(&reading(t0 + ms(500), true, vote, None)),
            ms(0)
        );
        assert_eq!(
            clock.observe(&reading(t0 + ms(800), true, vote, None)),
            ms(300)
        );
        // Forbidden again, then allowed: the wait starts over.
        clock.observe(&reading(t0 + ms(900), false, vote, None));
        assert_eq!(
            clock.observe(&reading(t0 + ms(1000), true, vote, None)),
            ms(0)
        );
    }

    #[test]
    fn contact_with_a_leader_is_what_counts_once_there_was_one() {
        let t0 = Instant::now();
        let mut clock = SilenceClock::new(ME);
        let vote = Vote::new_committed(3, 1);
        clock.observe(&reading(t0, true, vote, Some(40)));
        assert_eq!(
            clock.observe(&reading(t0 + ms(5_000), true, vote, Some(120))),
            ms(120)
        );
    }

    #[test]
    fn a_vote_for_another_node_restarts_the_wait_but_a_vote_for_itself_does_not() {
        let t0 = Instant::now();
        let mut clock = SilenceClock::new(ME);
        clock.observe(&reading(t0, true, Vote::new_committed(3, 1), Some(0)));
        // Leader silent for 400 ms, then this node grants node 3 its vote.
        let granted = Vote::new(4, 3);
        assert_eq!(
            clock.observe(&reading(t0 + ms(400), true, granted, Some(400))),
            ms(0)
        );
        assert_eq!(
            clock.observe(&reading(t0 + ms(450), true, granted, Some(450))),
            ms(50)
        );
        // Its own campaign (a vote for itself) leaves the silence alone.
        let own = Vote::new(5, ME);
        assert_eq!(
            clock.observe(&reading(t0 + ms(600), true, own, Some(600))),
            ms(600)
        );
    }

    #[test]
    fn the_last_leader_outlives_the_vote() {
        let t0 = Instant::now();
        let mut clock = SilenceClock::new(ME);
        let mut r = reading(t0, true, Vote::new_committed(3, 1), Some(0));
        r.current_leader = Some(1);
        clock.observe(&r);
        r.current_leader = None;
        r.vote = Vote::new(4, ME);
        clock.observe(&r);
        assert_eq!(clock.last_leader(), Some(1));
    }
}
