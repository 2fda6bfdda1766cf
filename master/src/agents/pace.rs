//! Pacing of the agent driver's periodic work, as pure values (the clock
//! is the caller's):
//!
//! - [`CountsPace`]: when the agent counts are published. Counting walks
//!   every agent, so counting after every step made each pong and each
//!   re-registration cost O(agents): with 10,000 agents most of the
//!   leader's CPU at a 1 s ping timeout, and a queue in front of the
//!   table during a failover.
//! - [`PingSpread`]: a ping round leaves in slices over a part of the ping
//!   interval instead of in one step. With every agent pinged at once,
//!   the round (the pings, then every agent's pong) was one burst of work
//!   per interval; with 40,000 agents the burst starved the Raft
//!   heartbeats and the leader lost its lease right after its first round.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When the counts are published: at once after a step if the last
/// publication is at least `interval` old, otherwise once that much time
/// has passed (whatever happened meanwhile), so they are never staler
/// than `interval` and never computed more often. Pure: the clock is the
/// caller's.
#[derive(Debug)]
pub(crate) struct CountsPace {
    interval: Duration,
    published: Instant,
    pending: bool,
}

/// What to do after a step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    Now,
    /// Publish at this instant (arm the timer).
    At(Instant),
    /// A publication is already planned and will cover this step.
    AlreadyPlanned,
}

impl CountsPace {
    pub(crate) fn new(interval: Duration, published: Instant) -> Self {
        Self {
            interval,
            published,
            pending: false,
        }
    }

    /// A step may have changed the counts.
    pub(crate) fn stepped(&mut self, now: Instant) -> Publish {
        if self.pending {
            return Publish::AlreadyPlanned;
        }
        let next = self.published + self.interval;
        if now >= next {
            self.published = now;
            Publish::Now
        } else {
            self.pending = true;
            Publish::At(next)
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.pending
    }

    /// The timer fired: publish if a publication was planned for now.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if self.pending && now >= self.published + self.interval {
            self.pending = false;
            self.published = now;
            return true;
        }
        false
    }
}

/// How often a slice of a ping round leaves.
pub(crate) const PING_SLICE: Duration = Duration::from_millis(10);
/// The fewest pings a slice carries: a round this small leaves at once.
pub(crate) const MIN_PINGS_PER_SLICE: usize = 64;

/// The pings of the current round not sent yet, and how many leave per
/// slice: as many as spread the round over `spread`, but at least
/// [`MIN_PINGS_PER_SLICE`], the first slice at once. A small cluster's
/// round leaves whole, as before. Items are whatever the driver sends (a session and its
/// message).
#[derive(Debug)]
pub(crate) struct PingSpread<T> {
    queued: VecDeque<T>,
    slices: usize,
    per_slice: usize,
}

impl<T> PingSpread<T> {
    /// Rounds leave over `spread` (at least one slice).
    pub(crate) fn new(spread: Duration) -> Self {
        let slices = (spread.as_nanos() / PING_SLICE.as_nanos()).max(1);
        Self {
            queued: VecDeque::new(),
            slices: usize::try_from(slices).unwrap_or(usize::MAX),
            per_slice: MIN_PINGS_PER_SLICE,
        }
    }

    /// A round's pings (added to what is left of the previous one); the
    /// first slice is returned, to be sent now.
    pub(crate) fn round(&mut self, pings: Vec<T>) -> Vec<T> {
        self.queued.extend(pings);
        self.per_slice = self
            .queued
            .len()
            .div_ceil(self.slices)
            .max(MIN_PINGS_PER_SLICE);
        self.next_slice()
    }

    /// The pings to send at this slice.
    pub(crate) fn next_slice(&mut self) -> Vec<T> {
        let n = self.per_slice.min(self.queued.len());
        self.queued.drain(..n).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_storm_of_steps_publishes_the_counts_once_per_interval() {
        let t0 = Instant::now();
        let mut pace = CountsPace::new(100 * MS, t0);
        // 10,000 steps within 50 ms: not one publication yet, one planned
        // for the end of the interval.
        let mut now_publications = 0;
        let mut planned = Vec::new();
        for i in 0..10_000u32 {
            match pace.stepped(t0 + MS * (i / 200)) {
                Publish::Now => now_publications += 1,
                Publish::At(at) => planned.push(at),
                Publish::AlreadyPlanned => {}
            }
        }
        assert_eq!(now_publications, 0);
        assert_eq!(planned, [t0 + 100 * MS]);
        assert!(!pace.due(t0 + 99 * MS), "not before the interval");
        assert!(pace.due(t0 + 100 * MS));
        assert!(!pace.is_pending() && !pace.due(t0 + 300 * MS));
    }

    #[test]
    fn a_lone_step_after_a_quiet_interval_publishes_at_once() {
        let t0 = Instant::now();
        let mut pace = CountsPace::new(100 * MS, t0);
        assert_eq!(pace.stepped(t0 + 150 * MS), Publish::Now);
        // The next one soon after waits for the interval, then is published.
        assert_eq!(pace.stepped(t0 + 160 * MS), Publish::At(t0 + 250 * MS));
        assert_eq!(pace.stepped(t0 + 170 * MS), Publish::AlreadyPlanned);
        assert!(pace.due(t0 + 251 * MS));
        assert_eq!(pace.stepped(t0 + 400 * MS), Publish::Now);
    }

    #[test]
    fn a_big_round_leaves_in_slices_over_the_spread() {
        // 40,000 pings over 3.75 s (a quarter of 15 s): 375 slices of 107.
        let mut spread = PingSpread::new(Duration::from_millis(3_750));
        let first = spread.round((0..40_000u32).collect());
        assert_eq!(first.len(), 107);
        assert_eq!(first[0], 0, "in the table's order");
        let mut slices = 1;
        let mut sent = first.len();
        while !spread.is_empty() {
            let slice = spread.next_slice();
            assert!(!slice.is_empty() && slice.len() <= 107);
            sent += slice.len();
            slices += 1;
        }
        assert_eq!(sent, 40_000);
        assert_eq!(slices, 374);
        assert!(spread.next_slice().is_empty());
    }

    #[test]
    fn a_small_round_leaves_at_once() {
        let mut spread = PingSpread::new(Duration::from_millis(250));
        assert_eq!(spread.round(vec![1, 2, 3]), [1, 2, 3]);
        assert!(spread.is_empty());
        assert_eq!(spread.round((0..64).collect()).len(), 64);
        assert!(spread.is_empty());
        // A spread shorter than a slice still sends everything.
        let mut spread = PingSpread::new(Duration::from_millis(1));
        assert_eq!(spread.round(vec![7; 500]).len(), 500);
    }

    #[test]
    fn a_round_joins_what_is_left_of_the_previous_one() {
        let m = MIN_PINGS_PER_SLICE;
        let mut spread = PingSpread::new(PING_SLICE * 4);
        // 8 slices' minimum over 4 slices: two minimums per slice.
        assert_eq!(
            spread.round((0..8 * m).collect()),
            (0..2 * m).collect::<Vec<_>>()
        );
        // 6 left + 6 new over 4 slices: the slice grows to 3 minimums.
        let next = spread.round((8 * m..14 * m).collect());
        assert_eq!(next, (2 * m..5 * m).collect::<Vec<_>>());
        assert_eq!(spread.next_slice(), (5 * m..8 * m).collect::<Vec<_>>());
        assert_eq!(spread.next_slice().len(), 3 * m);
        assert_eq!(spread.next_slice().len(), 3 * m);
        assert!(spread.is_empty());
    }
}
