//! The driver's pending timers: a deadline per timer, the earliest
//! first. Pure: the clock readings are the caller's.

use std::time::Instant;

use crate::executors::model::TableTimer;

#[derive(Debug, Default)]
pub struct Timers {
    pending: Vec<(Instant, TableTimer)>,
}

impl Timers {
    /// Sets `timer` to fire at `at` (replacing an earlier setting of it).
    pub fn set(&mut self, timer: TableTimer, at: Instant) {
        self.pending.retain(|(_, t)| t != &timer);
        self.pending.push((at, timer));
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|(at, _)| *at).min()
    }

    /// Removes and returns every timer due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<TableTimer> {
        let mut due: Vec<(Instant, TableTimer)> = Vec::new();
        self.pending.retain(|(at, timer)| {
            if *at <= now {
                due.push((*at, timer.clone()));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, t)| t).collect()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_once_in_deadline_order_and_a_reset_replaces() {
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.set(TableTimer::Reregistration, now + Duration::from_secs(5));
        timers.set(TableTimer::Reregistration, now + Duration::from_secs(2));
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_due(), Some(now + Duration::from_secs(2)));
        assert!(timers.take_due(now).is_empty());
        assert_eq!(
            timers.take_due(now + Duration::from_secs(3)),
            vec![TableTimer::Reregistration]
        );
        assert!(timers.is_empty());
        assert_eq!(timers.next_due(), None);
    }
}
