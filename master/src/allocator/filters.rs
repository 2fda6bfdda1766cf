//! Offer filters: what a framework declined, hidden from it for a while.
//!
//! As in Mesos, a filter remembers the resources that were refused on one
//! agent for one role; that agent is not offered to the framework in that
//! role while what it has available is contained in the refused
//! resources — more resources freeing up on the agent lift the filter
//! early. A filter lasts `refuse_seconds` (default 5 s, capped at 365
//! days, negative or non-finite values mean the default), but never less
//! than one allocation interval, so it survives at least the next batch
//! allocation. A duration of zero installs no filter.

use std::time::{Duration, Instant};

use super::resources::Resources;

/// Mesos's default `Filters.refuse_seconds`.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

/// The longest filter Mesos installs.
pub const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How long a declined offer should be hidden (Mesos's `Filters`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RefuseFilter {
    /// `Filters.refuse_seconds`; `None` means the default (5 s).
    pub refuse_seconds: Option<f64>,
}

impl RefuseFilter {
    /// A filter of `seconds`.
    pub fn seconds(seconds: f64) -> RefuseFilter {
        RefuseFilter {
            refuse_seconds: Some(seconds),
        }
    }

    /// How long the filter lasts before the allocation interval is taken
    /// into account; `None` when no filter is to be installed.
    pub fn duration(self) -> Option<Duration> {
        let seconds = self.refuse_seconds.unwrap_or(DEFAULT_REFUSE_SECONDS);
        let seconds = if seconds.is_nan() || seconds < 0.0 {
            DEFAULT_REFUSE_SECONDS
        } else {
            seconds
        };
        if seconds == 0.0 {
            return None;
        }
        if seconds >= MAX_REFUSE.as_secs_f64() {
            return Some(MAX_REFUSE);
        }
        Some(Duration::from_secs_f64(seconds))
    }

    /// The filter's duration, at least one `allocation_interval`.
    pub fn effective_duration(self, allocation_interval: Duration) -> Option<Duration> {
        self.duration().map(|d| d.max(allocation_interval))
    }
}

/// One installed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferFilter {
    /// What was refused (unallocated form).
    pub refused: Resources,
    pub expires_at: Instant,
}

impl OfferFilter {
    /// Whether offering `available` would be filtered.
    pub fn hides(&self, available: &Resources) -> bool {
        self.refused.contains(available)
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_seconds_follow_mesos() {
        let d = |s| RefuseFilter::seconds(s).duration();
        assert_eq!(
            RefuseFilter::default().duration(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(d(0.0), None);
        assert_eq!(d(-1.0), Some(Duration::from_secs(5)));
        assert_eq!(d(f64::NAN), Some(Duration::from_secs(5)));
        assert_eq!(d(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(d(1e12), Some(MAX_REFUSE));
        assert_eq!(d(f64::INFINITY), Some(MAX_REFUSE));
    }

    #[test]
    fn a_filter_lasts_at_least_one_allocation_interval() {
        let interval = Duration::from_secs(1);
        assert_eq!(
            RefuseFilter::seconds(0.1).effective_duration(interval),
            Some(interval)
        );
        assert_eq!(
            RefuseFilter::seconds(0.0).effective_duration(interval),
            None
        );
        assert_eq!(
            RefuseFilter::seconds(3.0).effective_duration(interval),
            Some(Duration::from_secs(3))
        );
    }
}
