//! Truncated exponential backoff with full jitter, for finding a leader
//! again: each wait is a uniform sample of `[0, ceiling]`; the ceiling
//! starts at `base`, doubles per failed round and stops at `cap`.
//!
//! Jitter matters here: a leader change disconnects every framework at
//! once, and without it they would all reconnect in the same instant.
//! Pure: the random sample is the caller's, so tests are exact.

use std::time::Duration;

/// The waits between rounds of connection attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// Ceiling `base` first, doubling up to `cap` (a `cap` under `base` is
    /// raised to it).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            ceiling: base,
        }
    }

    /// The longest the next wait can be.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// The next wait: `sample` (uniform in `[0, 1]`; others clamped, NaN
    /// read as 0) of the ceiling. The ceiling then doubles.
    pub fn next_delay(&mut self, sample: f64) -> Duration {
        let sample = if sample.is_nan() {
            0.0
        } else {
            sample.clamp(0.0, 1.0)
        };
        let delay = self.ceiling.mul_f64(sample);
        self.ceiling = self.ceiling.saturating_mul(2).min(self.cap);
        delay
    }

    /// After a success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.ceiling = self.base;
    }
}

/// Doubling without jitter, for the reconciliation rounds (one framework
/// talking to its master: nothing to spread out).
pub fn doubled(interval: Duration, cap: Duration) -> Duration {
    interval.saturating_mul(2).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let ceilings: Vec<_> = (0..6)
            .map(|_| {
                let c = b.ceiling();
                assert_eq!(b.next_delay(1.0), c);
                c
            })
            .collect();
        assert_eq!(
            ceilings,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        b.reset();
        assert_eq!(b.ceiling(), 100 * MS);
    }

    #[test]
    fn the_wait_is_the_sample_of_the_ceiling() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        assert_eq!(b.next_delay(0.5), 50 * MS);
        assert_eq!(b.next_delay(0.0), Duration::ZERO);
        assert_eq!(b.next_delay(7.0), 400 * MS);
        assert_eq!(b.next_delay(f64::NAN), Duration::ZERO);
        assert_eq!(b.next_delay(-1.0), Duration::ZERO);
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let mut b = Backoff::new(100 * MS, MS);
        b.next_delay(1.0);
        assert_eq!(b.ceiling(), 100 * MS);
        assert_eq!(doubled(600 * MS, 1000 * MS), 1000 * MS);
        assert_eq!(doubled(200 * MS, 1000 * MS), 400 * MS);
    }
}
