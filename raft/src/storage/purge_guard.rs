//! The rule that the Raft log is never purged past the snapshot on disk.
//!
//! Entries up to the last purged id exist only inside a snapshot, so a
//! purge may be durable only once a durable snapshot covers it. openraft
//! does not order the two: after a follower receives a snapshot it hands
//! the snapshot to the state machine task and, without waiting, asks the
//! log store to purge the entries it covers. A crash between a durable
//! purge and the snapshot's fsync left a node that could not start ("the
//! log was compacted past the snapshot").
//!
//! The snapshot directory publishes what it holds durably
//! ([`DurableSnapshots`]); the log store waits on it ([`PurgeGuard`])
//! before purging, so the install's file is fsynced first. openraft runs
//! log-store calls in order, so nothing after the purge (appends of newer
//! entries) can become durable before the snapshot either.

use std::sync::Arc;
use std::time::Duration;

use openraft::{ErrorSubject, ErrorVerb};
use tokio::sync::watch;

use super::error::storage_err;
use crate::{LogId, StorageError};

/// How long a purge waits for the snapshot covering it before it refuses.
/// Normally it waits for one snapshot write (an install in progress);
/// refusing stops the Raft core, and the master exits to be restarted.
pub const PURGE_PATIENCE: Duration = Duration::from_secs(60);

/// What the snapshot directory holds durably.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    /// The last log id covered by the snapshot file on disk (fsynced, with
    /// its directory entry).
    pub covered: Option<LogId>,
    /// Snapshot installs that failed so far: a purge waiting for one of
    /// them stops waiting.
    pub failed_installs: u64,
}

/// Publisher side, owned by the snapshot directory.
#[derive(Clone, Debug)]
pub struct DurableSnapshots(Arc<watch::Sender<DurableState>>);

impl DurableSnapshots {
    pub fn new(covered: Option<LogId>) -> Self {
        let (tx, _) = watch::channel(DurableState {
            covered,
            failed_installs: 0,
        });
        Self(Arc::new(tx))
    }

    /// Call once the snapshot file covering `covered` is durable.
    pub fn stored(&self, covered: Option<LogId>) {
        self.0.send_modify(|s| s.covered = covered);
    }

    /// Call when installing a received snapshot failed.
    pub fn install_failed(&self) {
        self.0.send_modify(|s| s.failed_installs += 1);
    }

    pub fn current(&self) -> DurableState {
        *self.0.borrow()
    }

    /// A guard for the log store.
    pub fn guard(&self, patience: Duration) -> PurgeGuard {
        PurgeGuard {
            durable: self.0.subscribe(),
            patience,
        }
    }
}

/// Whether a purge up to `upto` keeps every purged entry in a durable
/// snapshot.
pub fn purge_is_covered(durable: Option<LogId>, upto: &LogId) -> bool {
    durable.is_some_and(|covered| covered.index >= upto.index)
}

/// Makes the log store wait until a purge is covered.
#[derive(Clone, Debug)]
pub struct PurgeGuard {
    durable: watch::Receiver<DurableState>,
    patience: Duration,
}

impl PurgeGuard {
    /// Returns once a durable snapshot covers `upto`; refuses when an
    /// install fails meanwhile or `patience` runs out.
    pub async fn wait_covered(&self, upto: &LogId) -> Result<(), StorageError> {
        let mut durable = self.durable.clone();
        let failures_before = durable.borrow().failed_installs;
        let wait = durable
            .wait_for(|s| purge_is_covered(s.covered, upto) || s.failed_installs > failures_before);
        let state = match tokio::time::timeout(self.patience, wait).await {
            Ok(Ok(state)) => *state,
            // The snapshot directory is gone: nothing will ever cover it.
            Ok(Err(_)) | Err(_) => *self.durable.borrow(),
        };
        if purge_is_covered(state.covered, upto) {
            return Ok(());
        }
        let why = if state.failed_installs > failures_before {
            "the snapshot install it follows failed"
        } else {
            "no snapshot covering it was stored in time"
        };
        Err(storage_err(
            ErrorSubject::Logs,
            ErrorVerb::Delete,
            format_args!(
                "refusing to purge the Raft log up to {upto}: {why} (the snapshot on disk \
                 covers up to {})",
                state
                    .covered
                    .map_or_else(|| "nothing".to_string(), |c| c.to_string())
            ),
            "purging would lose entries that no snapshot on disk holds",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    #[test]
    fn a_purge_is_covered_only_up_to_the_durable_snapshot() {
        assert!(!purge_is_covered(None, &id(0)));
        assert!(purge_is_covered(Some(id(5)), &id(5)));
        assert!(purge_is_covered(Some(id(5)), &id(4)));
        assert!(!purge_is_covered(Some(id(5)), &id(6)));
    }

    #[tokio::test]
    async fn the_guard_waits_for_the_snapshot_and_refuses_after_a_failed_install() {
        let snapshots = DurableSnapshots::new(Some(id(3)));
        let guard = snapshots.guard(Duration::from_secs(60));
        guard.wait_covered(&id(3)).await.expect("covered already");

        let eight = id(8);
        let mut waiting = Box::pin(guard.wait_covered(&eight));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        snapshots.stored(Some(id(8)));
        waiting.await.expect("covered once stored");

        let twelve = id(12);
        let mut waiting = Box::pin(guard.wait_covered(&twelve));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        snapshots.install_failed();
        let refused = waiting.await.expect_err("the install failed");
        assert!(refused.to_string().contains("install"), "{refused}");
    }

    #[tokio::test]
    async fn the_guard_refuses_when_its_patience_runs_out() {
        let snapshots = DurableSnapshots::new(None);
        let guard = snapshots.guard(Duration::from_millis(20));
        let refused = guard.wait_covered(&id(1)).await.expect_err("no snapshot");
        let message = refused.to_string();
        assert!(message.contains("refusing to purge"), "{message}");
        assert!(message.contains("covers up to nothing"), "{message}");
    }
}
