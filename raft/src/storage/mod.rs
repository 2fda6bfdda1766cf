//! Durable Raft storage for a master.
//!
//! Layout of the directory passed to [`open`]:
//!
//! ```text
//! <dir>/raft-log/    sled: log entries, vote, committed id, last purged id
//! <dir>/snapshots/   the current registry snapshot (one file, see snapshot_file)
//! ```
//!
//! * [`LogStore`]: openraft's `RaftLogStorage`, written against the small
//!   [`KvStore`] trait, with sled ([`SledKv`]) as the engine. Nothing is
//!   acknowledged to openraft before it is fsynced, and the log is never
//!   purged past the snapshot on disk ([`PurgeGuard`]).
//! * [`StateMachineStore`]: openraft's `RaftStateMachine`: the in-memory
//!   registry, persisted as snapshot files (temp, fsync, rename, fsync dir;
//!   checksummed). [`RegistryHandle`] is the master's read handle on it.
//!
//! Snapshots stay out of sled on purpose: sled moves large values into blob
//! files it never fsyncs.

// openraft's `StorageError` is the error type its storage traits require;
// the helpers here return it too so context is attached where it is known.
#![allow(clippy::result_large_err)]

mod error;
mod kv;
mod log_store;
mod purge_guard;
mod registry_handle;
mod restart;
mod sled_kv;
mod snapshot_dir;
mod snapshot_file;
mod state_machine;

#[cfg(test)]
mod tests;

use mesoraft_proto::durable;
use std::path::Path;
use std::sync::Arc;

use openraft::{ErrorSubject, ErrorVerb};

pub use error::REPAIR_ADVICE;
pub use kv::{BatchOp, Direction, KeyRange, KvError, KvPair, KvStore, Space, Visitor, WriteBatch};
pub use log_store::LogStore;
pub use purge_guard::{DurableSnapshots, DurableState, PurgeGuard, PURGE_PATIENCE};
pub use registry_handle::{RegistryDigest, RegistryHandle};
pub use restart::{give_up_leadership, vote_after_restart};
pub use sled_kv::SledKv;
pub use snapshot_file::{SnapshotFileError, FORMAT_VERSION as SNAPSHOT_FORMAT_VERSION};
pub use state_machine::{SnapshotBuilder, StateMachineStore};

use crate::StorageError;

/// Subdirectory holding the sled database.
pub const LOG_DIR: &str = "raft-log";
/// Subdirectory holding snapshot files.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// Opens (creating if needed) the Raft storage in `dir` and loads the
/// latest snapshot into the state machine. openraft re-applies the
/// committed log after it when the `Raft` starts.
///
/// Fails with a message naming the damaged file and the repair when the
/// data on disk is unreadable.
pub async fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), StorageError> {
    open_with(dir, Durability::default()).await
}

/// How the log store keeps its promise that a flushed write survives a
/// crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durability {
    /// TESTING ONLY, UNSAFE: a log-store flush returns without writing or
    /// syncing anything (sled writes and syncs in the background, every
    /// 500 ms). Exists so the crash tests can be shown to catch a store
    /// that acknowledges writes it has not made durable.
    pub unsafe_skip_fsync: bool,
}

/// [`open`] with a chosen [`Durability`].
pub async fn open_with(
    dir: &Path,
    durability: Durability,
) -> Result<(LogStore, StateMachineStore), StorageError> {
    // Durably create the top directory first: the subdirectories below only
    // sync their immediate parent.
    let top = dir.to_path_buf();
    tokio::task::spawn_blocking(move || durable::create_dir_durable(&top))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| {
            error::storage_err(
                ErrorSubject::Store,
                ErrorVerb::Write,
                format_args!("creating {}", dir.display()),
                e,
            )
        })?;

    let log_dir = dir.join(LOG_DIR);
    let kv = SledKv::open(&log_dir, durability).await.map_err(|e| {
        error::storage_err(
            ErrorSubject::Store,
            ErrorVerb::Read,
            format_args!("opening the Raft log in {}", log_dir.display()),
            e,
        )
    })?;
    let snapshot_dir = dir.join(SNAPSHOT_DIR);
    let state_machine = StateMachineStore::open(&snapshot_dir).await?;
    let log_store = LogStore::new(Arc::new(kv))
        .with_purge_guard(state_machine.durable_snapshots().guard(PURGE_PATIENCE));
    check_snapshot_covers_purged(&log_store, &state_machine, &snapshot_dir)?;

    tracing::info!(
        dir = %dir.display(),
        last_purged = ?log_store.last_purged()?,
        snapshot = ?state_machine.snapshot_meta().and_then(|m| m.last_log_id),
        "opened Raft storage"
    );
    Ok((log_store, state_machine))
}

/// Entries up to `last_purged` exist only inside a snapshot. If the snapshot
/// is missing or older (deleted by hand, or a restored backup mixing
/// directories), openraft would fail later with an obscure "log entries
/// missing" error; say what is wrong instead.
fn check_snapshot_covers_purged<K: KvStore>(
    log_store: &LogStore<K>,
    state_machine: &StateMachineStore,
    snapshot_dir: &Path,
) -> Result<(), StorageError> {
    let Some(purged) = log_store.last_purged()? else {
        return Ok(());
    };
    let snapshot = state_machine.snapshot_meta().and_then(|m| m.last_log_id);
    if snapshot.is_some_and(|s| s.index >= purged.index) {
        return Ok(());
    }
    let found = match (&snapshot, state_machine.snapshot_path()) {
        (Some(s), Some(p)) => format!("snapshot {} covers only up to {s}", p.display()),
        _ => format!("there is no snapshot in {}", snapshot_dir.display()),
    };
    Err(error::corrupt_err(
        ErrorSubject::Snapshot(None),
        format_args!("the Raft log was compacted up to {purged}, but {found}"),
        "the entries in between are lost on this node",
    ))
}
