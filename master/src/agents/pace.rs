//! Pacing of the agent driver's ping rounds, as a pure value (the driver
//! owns the timer).
//!
//! [`PingSpread`]: a ping round leaves in slices over a part of the ping
//! interval instead of in one step. With every agent pinged at once, the
//! round (the pings, then every agent's pong) was one burst of work per
//! interval; with 40,000 agents the burst starved the Raft heartbeats and
//! the leader lost its lease right after its first round.

use std::collections::VecDeque;
use std::time::Duration;

/// How often a slice of a ping round leaves.
pub(crate) const PING_SLICE: Duration = Duration::from_millis(10);
/// The fewest pings a slice carries: a round this small leaves at once.
pub(crate) const MIN_PINGS_PER_SLICE: usize = 64;

/// The pings of the current round not sent yet, and how many leave per
/// slice: as many as spread the round over `spread`, but at least
/// [`MIN_PINGS_PER_SLICE`], the first slice at once. A small cluster's
/// round leaves whole, as before. Items are whatever the driver sends (a
/// session and its message).
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
