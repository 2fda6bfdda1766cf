//! "When did this last happen?", shared between the task that sees it and
//! the ones that ask: lock-free and cheap enough to touch on every message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clones share the clock. Millisecond resolution.
#[derive(Clone, Debug)]
pub struct LastSeen {
    origin: Instant,
    /// Millis since `origin` + 1; 0 = never.
    last: Arc<AtomicU64>,
}

impl Default for LastSeen {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl LastSeen {
    /// Records that it happened now; true the first time.
    pub fn touch(&self) -> bool {
        self.last.swap(self.now(), Ordering::Relaxed) == 0
    }

    /// Time since it last happened, None if never.
    pub fn since(&self) -> Option<Duration> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(self.now().saturating_sub(t))),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }
}

/// When a voter last refused this node's vote because the voter's log is
/// newer. Such a node cannot win while that voter is around; campaigning
/// anyway only raises the term again and again and keeps the nodes that
/// could win busy (openraft 0.9 has no pre-vote). Recorded by the
/// transport from vote answers.
pub type NewerLogSeen = LastSeen;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_until_touched_and_shared_by_clones() {
        let seen = LastSeen::default();
        let other = seen.clone();
        assert_eq!(other.since(), None);
        assert!(seen.touch(), "the first touch");
        assert!(!other.touch(), "not the first any more");
        assert!(seen.since().is_some_and(|d| d < Duration::from_secs(1)));
    }
}
