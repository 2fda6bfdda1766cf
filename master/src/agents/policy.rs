//! The health-check and removal policy of agent sessions, as plain values
//! and pure decisions: how often to ping, when an agent is unreachable, how
//! fast agents may be marked unreachable, and the recovery removal limit
//! that tells dead agents apart from a master cut off from all of them.

use std::time::{Duration, Instant};

pub use mesoraft_proto::units::Rate;

/// The master's agent flags, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPolicy {
    /// `--agent-ping-timeout`: a ping round every this long; a ping
    /// unanswered by the next round is a miss.
    pub ping_timeout: Duration,
    /// `--max-agent-ping-timeouts`: misses in a row that make an agent
    /// unreachable.
    pub max_ping_timeouts: u32,
    /// `--agent-reregister-timeout`: how long recovered agents (after a
    /// failover) and disconnected agents get to come back.
    pub reregister_timeout: Duration,
    /// `--agent-removal-rate-limit`: at most `count` agents marked
    /// unreachable per `per`; None: no limit.
    pub removal_rate: Option<Rate>,
    /// `--recovery-agent-removal-limit`: the fraction (0..=1) of the agents
    /// admitted when a failover began that may be marked unreachable when
    /// the re-register timeout fires; above it, none are.
    pub recovery_removal_limit: f64,
}

impl Default for AgentPolicy {
    /// Mesos's defaults.
    fn default() -> Self {
        Self {
            ping_timeout: Duration::from_secs(15),
            max_ping_timeouts: 5,
            reregister_timeout: Duration::from_secs(600),
            removal_rate: None,
            recovery_removal_limit: 1.0,
        }
    }
}

impl AgentPolicy {
    /// What an agent is told: it looks for a new leader when it has heard
    /// no ping for this long.
    pub fn total_ping_timeout(&self) -> Duration {
        self.ping_timeout
            .saturating_mul(self.max_ping_timeouts.max(1))
    }

    /// How often the session table wants a `Tick`: often enough for the
    /// ping rounds and the removal budget, rarely enough to cost nothing.
    pub fn tick_interval(&self) -> Duration {
        (self.ping_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// A token bucket for removals: full at start (`count` tokens), refilled
/// at `count / per`.
#[derive(Clone, Debug)]
pub struct RemovalBudget {
    rate: Option<Rate>,
    tokens: f64,
    refilled_at: Instant,
}

impl RemovalBudget {
    pub fn new(rate: Option<Rate>, now: Instant) -> Self {
        Self {
            rate,
            tokens: rate.map_or(0.0, |r| f64::from(r.count)),
            refilled_at: now,
        }
    }

    /// Takes one removal if the budget allows it now.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let elapsed = now.saturating_duration_since(self.refilled_at);
        self.refilled_at = now;
        let per = rate.per.as_secs_f64().max(f64::MIN_POSITIVE);
        let capacity = f64::from(rate.count);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * capacity / per).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with the agents still recovered when the re-register
/// timeout after a failover fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryVerdict {
    /// Mark them unreachable (subject to the removal rate).
    MarkUnreachable,
    /// Too many are missing: more likely the master is cut off than that
    /// they all died. Mark none; keep them recovered.
    LimitExceeded { missing: usize, allowed: usize },
}

/// The recovery removal limit: `missing` of the `admitted_at_failover`
/// agents did not come back; at most `limit` (a fraction) may be marked.
pub fn recovery_verdict(
    missing: usize,
    admitted_at_failover: usize,
    limit: f64,
) -> RecoveryVerdict {
    let limit = if limit.is_finite() {
        limit.clamp(0.0, 1.0)
    } else {
        1.0
    };
    // Rounded down: "50%" of 3 agents lets one go, not two.
    let allowed = (admitted_at_failover as f64 * limit).floor() as usize;
    if missing > allowed {
        RecoveryVerdict::LimitExceeded { missing, allowed }
    } else {
        RecoveryVerdict::MarkUnreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlimited_budget_always_allows() {
        let now = Instant::now();
        let mut budget = RemovalBudget::new(None, now);
        assert!((0..1000).all(|_| budget.try_take(now)));
    }

    #[test]
    fn a_budget_allows_a_burst_of_count_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let rate = Rate {
            count: 2,
            per: Duration::from_secs(10),
        };
        let mut budget = RemovalBudget::new(Some(rate), t0);
        assert!(budget.try_take(t0));
        assert!(budget.try_take(t0));
        assert!(!budget.try_take(t0));
        assert!(!budget.try_take(t0 + Duration::from_secs(4)));
        assert!(budget.try_take(t0 + Duration::from_secs(5)));
        // Never more than `count` saved up.
        let later = t0 + Duration::from_secs(1000);
        assert!(budget.try_take(later));
        assert!(budget.try_take(later));
        assert!(!budget.try_take(later));
    }

    #[test]
    fn the_recovery_limit_is_a_fraction_of_the_agents_at_failover() {
        use RecoveryVerdict::*;
        assert_eq!(recovery_verdict(3, 3, 1.0), MarkUnreachable);
        assert_eq!(recovery_verdict(0, 0, 0.0), MarkUnreachable);
        assert_eq!(
            recovery_verdict(2, 3, 0.5),
            LimitExceeded {
                missing: 2,
                allowed: 1
            }
        );
        assert_eq!(recovery_verdict(1, 3, 0.5), MarkUnreachable);
        assert_eq!(recovery_verdict(1, 3, f64::NAN), MarkUnreachable);
        assert_eq!(
            recovery_verdict(1, 10, -1.0),
            LimitExceeded {
                missing: 1,
                allowed: 0
            }
        );
    }

    #[test]
    fn agents_are_told_the_whole_ping_budget() {
        let policy = AgentPolicy {
            ping_timeout: Duration::from_secs(2),
            max_ping_timeouts: 3,
            ..AgentPolicy::default()
        };
        assert_eq!(policy.total_ping_timeout(), Duration::from_secs(6));
        assert_eq!(policy.tick_interval(), Duration::from_millis(500));
        assert_eq!(
            AgentPolicy::default().tick_interval(),
            Duration::from_secs(1)
        );
    }
}
