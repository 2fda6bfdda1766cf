//! When a follower starts an election: a pure decision, fed by the driver
//! ([`super::driver`]) every tick.
//!
//! openraft 0.9 times elections itself: a follower that last accepted a
//! leader campaigns after its leader lease (`election_timeout_max`) *plus*
//! a random election timeout, because until the lease has run out at the
//! other voters they refuse its vote request. That puts every failover at
//! lease + [min, max) = 450-600 ms with the default timing, although the
//! group could elect a new leader as soon as the leases run out (300 ms).
//!
//! This policy campaigns right after the lease: when this node has heard
//! no leader for `lease + margin`, staggered by its rank so that two
//! followers do not split the vote. The voters still enforce the lease
//! (openraft's `handle_vote_req`), so safety does not depend on anything
//! here; only timing does. What is left to guard against is disruption:
//! a node that was itself paused (SIGSTOP, a starved machine) and resumes
//! with a leader's heartbeats still queued must not campaign because the
//! silence was its own. A gap between ticks larger than `pause_gap` marks
//! such a resume; the node then waits `grace` for the queued heartbeats.
//! And a node whose log a voter has reported as older holds back: without
//! a pre-vote its campaigns could only raise the term, again and again,
//! while the nodes that can win adopt each new term and start over.

use std::time::{Duration, Instant};

/// The timing the policy works with, from the master's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionTiming {
    /// The voters' leader lease: openraft's `election_timeout_max`.
    pub lease: Duration,
    /// Campaign this long after the lease ran out here, so that it has run
    /// out at the other voters too (they heard the leader's last heartbeat
    /// at nearly the same time).
    pub margin: Duration,
    /// Added per rank: the follower ranked `r` campaigns `r * stagger`
    /// later than the first, which usually has won by then. Two
    /// heartbeats: the followers' last contacts with a dead leader lie up
    /// to a heartbeat apart (measured), and the first needs a few ms more
    /// to reach the second with its vote request.
    pub stagger: Duration,
    /// A failed campaign is retried after a random time in
    /// `[retry_min, retry_max)`, doubled after each further failure up to
    /// `retry_cap`: random so that two candidates that split the vote do
    /// not split it again, growing so that nodes without a quorum (a
    /// majority down) do not raise the term every few ms, and so that
    /// two of them rarely campaign in the same term (the vote then
    /// splits and a later term decides).
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub retry_cap: Duration,
    /// Ticks further apart than this mean this process did not run.
    pub pause_gap: Duration,
    /// After such a gap, wait this long before judging the silence.
    pub grace: Duration,
    /// A node told by a voter that the voter's log is newer holds back
    /// this long: it cannot win while that voter is up.
    pub newer_log_hold: Duration,
}

impl ElectionTiming {
    /// Derived from the Raft timing flags (ms): heartbeat, election timeout
    /// min and max (the lease).
    pub fn from_flags(heartbeat_ms: u64, min_ms: u64, max_ms: u64) -> Self {
        let ms = Duration::from_millis;
        Self {
            lease: ms(max_ms),
            margin: ms((heartbeat_ms / 10).max(3)),
            stagger: ms(2 * heartbeat_ms),
            retry_min: ms(min_ms / 2),
            retry_max: ms(min_ms),
            retry_cap: ms(2 * max_ms),
            pause_gap: ms(heartbeat_ms),
            grace: ms(2 * heartbeat_ms),
            newer_log_hold: ms(2 * max_ms),
        }
    }
}

/// What the node looks like at one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    pub now: Instant,
    /// Elections are switched on (start-up checks done; not a superseded
    /// incarnation).
    pub allowed: bool,
    /// This node is a voter of the effective membership.
    pub voter: bool,
    /// This node leads (or campaigns and has not lost yet: see
    /// `campaigning`).
    pub leader: bool,
    /// The only voter: nobody else can lead, no lease to wait for.
    pub sole_voter: bool,
    /// Since this node last accepted a leader's AppendEntries or snapshot;
    /// since elections were allowed if it never did.
    pub silence: Duration,
    /// Position of this node among the voters that may take over (all
    /// voters but the last known leader), by id.
    pub rank: usize,
    /// Since a voter last refused this node's vote for having a newer log.
    pub newer_log_seen: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Wait,
    Campaign,
}

/// The policy's memory between ticks.
#[derive(Clone, Debug)]
pub struct ElectionPolicy {
    timing: ElectionTiming,
    last_tick: Option<Instant>,
    /// Set after a gap in the ticks: silence is not judged before.
    resumed_at: Option<Instant>,
    /// No campaign before this (the retry of a failed one).
    next_campaign: Option<Instant>,
    /// Campaigns since a leader was last heard.
    failed_campaigns: u32,
}

impl ElectionPolicy {
    pub fn new(timing: ElectionTiming) -> Self {
        Self {
            timing,
            last_tick: None,
            resumed_at: None,
            next_campaign: None,
            failed_campaigns: 0,
        }
    }

    pub fn timing(&self) -> &ElectionTiming {
        &self.timing
    }

    /// Decides at one tick. `jitter` in [0, 1) picks the retry delay.
    pub fn decide(&mut self, o: &Observation, jitter: f64) -> Decision {
        let gap = self.last_tick.map(|t| o.now.saturating_duration_since(t));
        self.last_tick = Some(o.now);
        if gap.is_some_and(|g| g > self.timing.pause_gap) {
            self.resumed_at = Some(o.now);
        }
        if !o.allowed || !o.voter || o.leader {
            self.next_campaign = None;
            self.failed_campaigns = 0;
            return Decision::Wait;
        }
        if o.sole_voter {
            return self.campaign_unless_retrying(o.now, jitter);
        }
        let due = self.timing.lease + self.timing.margin + self.timing.stagger * o.rank as u32;
        if o.silence < self.timing.lease {
            // A leader is heard: a campaign of ours, if any, is over.
            self.next_campaign = None;
            self.failed_campaigns = 0;
            return Decision::Wait;
        }
        if o.silence < due {
            return Decision::Wait;
        }
        if o.newer_log_seen
            .is_some_and(|d| d < self.timing.newer_log_hold)
        {
            return Decision::Wait;
        }
        if let Some(resumed) = self.resumed_at {
            if o.now.saturating_duration_since(resumed) < self.timing.grace {
                return Decision::Wait;
            }
            self.resumed_at = None;
        }
        self.campaign_unless_retrying(o.now, jitter)
    }

    fn campaign_unless_retrying(&mut self, now: Instant, jitter: f64) -> Decision {
        if self.next_campaign.is_some_and(|t| now < t) {
            return Decision::Wait;
        }
        let t = &self.timing;
        let grow = 1u32 << self.failed_campaigns.min(16);
        let (lo, hi) = (
            (t.retry_min * grow).min(t.retry_cap / 2),
            (t.retry_max * grow).min(t.retry_cap),
        );
        let delay = lo + hi.saturating_sub(lo).mul_f64(jitter.clamp(0.0, 0.999));
        self.next_campaign = Some(now + delay);
        self.failed_campaigns = self.failed_campaigns.saturating_add(1);
        Decision::Campaign
    }
}

/// Rank of `me` among the voters that may take over from `last_leader`:
/// the voters except the last leader, ordered by id. A node that is not
/// among them ranks after all of them.
pub fn rank(me: u64, voters: impl IntoIterator<Item = u64>, last_leader: Option<u64>) -> usize {
    let mut others: Vec<u64> = voters
        .into_iter()
        .filter(|v| Some(*v) != last_leader)
        .collect();
    others.sort_unstable();
    others.dedup();
    others.iter().position(|v| *v == me).unwrap_or(others.len())
}

#[cfg(test)]
mod tests;
