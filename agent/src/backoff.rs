//! Exponential backoff with full jitter for (re-)registering with the
//! masters, as Mesos's agent does (`--registration_backoff_factor`,
//! `REGISTER_RETRY_INTERVAL_MAX`): every attempt, the first included,
//! waits a uniformly random time in `[0, ceiling]`; the ceiling starts at
//! the factor and doubles per attempt up to the cap.
//!
//! Jittering the first attempt is the point: after a leader change every
//! agent of the cluster reconnects, and without it they would all connect
//! in the same instant, a SYN flood against the new leader (MESOS-5330).
//! Pure: the random sample is the caller's, so tests are deterministic.

use std::time::Duration;

use rand::Rng;

/// Mesos's default `--registration_backoff_factor`.
pub const DEFAULT_REGISTRATION_BACKOFF_FACTOR: Duration = Duration::from_secs(1);

/// Mesos's `REGISTER_RETRY_INTERVAL_MAX`: the ceiling never grows past it.
pub const REGISTRATION_BACKOFF_CAP: Duration = Duration::from_secs(60);

/// The backoff state of one agent's attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    factor: Duration,
    cap: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// Ceiling `factor` for the first attempt, doubling up to `cap`.
    pub fn new(factor: Duration, cap: Duration) -> Self {
        Backoff {
            factor,
            cap,
            ceiling: factor.min(cap),
        }
    }

    /// The agent's registration backoff: `factor`, capped at one minute.
    pub fn registration(factor: Duration) -> Self {
        Self::new(factor, REGISTRATION_BACKOFF_CAP)
    }

    /// The longest the next delay can be.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// The delay before the next attempt, `sample` of the ceiling (a
    /// uniform sample in `[0, 1]`; out-of-range or NaN samples are
    /// clamped), and the ceiling doubles for the attempt after.
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

    /// [`Backoff::next_delay`] with a sample drawn from `rng`.
    pub fn next_delay_with<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        self.next_delay(rng.gen::<f64>())
    }

    /// Back to the first attempt's ceiling, after a success.
    pub fn reset(&mut self) {
        self.ceiling = self.factor.min(self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::registration(SEC);
        let ceilings: Vec<u64> = (0..9)
            .map(|_| {
                let c = backoff.ceiling().as_secs();
                backoff.next_delay(0.5);
                c
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), SEC);
        assert_eq!(Backoff::new(SEC * 10, SEC).ceiling(), SEC);
    }

    #[test]
    fn the_delay_is_the_sample_share_of_the_ceiling() {
        let delay = |sample| Backoff::registration(SEC * 2).next_delay(sample);
        assert_eq!(delay(0.0), Duration::ZERO);
        assert_eq!(delay(0.25), SEC / 2);
        assert_eq!(delay(1.0), SEC * 2);
        assert_eq!(delay(-3.0), Duration::ZERO);
        assert_eq!(delay(7.0), SEC * 2);
        assert_eq!(delay(f64::NAN), Duration::ZERO);
    }

    #[test]
    fn a_zero_factor_never_waits() {
        let mut backoff = Backoff::registration(Duration::ZERO);
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(1.0), Duration::ZERO);
        }
    }

    #[test]
    fn ten_thousand_agents_reconnecting_at_once_spread_over_the_factor() {
        // Every agent sees the leader change at the same instant and draws
        // its first delay; none may bunch up (MESOS-5330).
        let mut rng = StdRng::seed_from_u64(5330);
        let agents = 10_000;
        let buckets = 100; // 10 ms each
        let mut per_bucket = vec![0u32; buckets];
        for _ in 0..agents {
            let delay = Backoff::registration(SEC).next_delay_with(&mut rng);
            assert!(delay <= SEC);
            let bucket = (delay.as_millis() as usize / 10).min(buckets - 1);
            per_bucket[bucket] += 1;
        }
        let expected = agents / buckets as u32;
        let (min, max) = (
            *per_bucket.iter().min().unwrap(),
            *per_bucket.iter().max().unwrap(),
        );
        assert!(
            min >= expected / 2 && max <= expected * 2,
            "agents per 10 ms between {min} and {max}, expected about {expected}"
        );
    }
}
