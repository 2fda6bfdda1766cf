//! openraft's state machine: the in-memory [`Registry`], persisted only as
//! snapshot files.
//!
//! `apply` does no I/O. After a restart the state is the latest snapshot,
//! and openraft re-applies the committed log after it (the log store
//! persists the committed id for that). Snapshots are built from a copy of
//! the state, so applying continues while one is written.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mesoraft_registry::Registry;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};

use super::error::storage_err;
use super::purge_guard::DurableSnapshots;
use super::registry_handle::{AppliedState, Live, RegistryHandle};
use super::snapshot_dir::{Replace, SnapshotDir};
use super::snapshot_file;
use crate::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use mesoraft_registry::CommandResult;

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| storage_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, what, e))?
}

pub struct StateMachineStore {
    live: Arc<Live>,
    snapshots: Arc<SnapshotDir>,
    /// Distinguishes snapshots built at the same log id.
    builds: u64,
}

impl StateMachineStore {
    /// Opens the snapshot directory and loads the current snapshot, if any,
    /// as the initial state.
    pub async fn open(snapshot_dir: &Path) -> Result<Self, StorageError> {
        let dir = snapshot_dir.to_path_buf();
        let (snapshots, body) = blocking("opening the snapshot directory", move || {
            SnapshotDir::open(&dir)
        })
        .await?;
        let state = match body {
            Some(body) => AppliedState {
                registry: body.registry,
                last_applied: body.meta.last_log_id,
                last_membership: body.meta.last_membership,
            },
            None => AppliedState::default(),
        };
        Ok(Self {
            live: Arc::new(Live::new(state)),
            snapshots: Arc::new(snapshots),
            builds: 0,
        })
    }

    /// A read handle on the live registry for the master.
    pub fn registry_handle(&self) -> RegistryHandle {
        RegistryHandle::new(Arc::clone(&self.live))
    }

    /// Metadata of the current snapshot file, if any.
    pub fn snapshot_meta(&self) -> Option<SnapshotMeta> {
        self.snapshots.current_meta()
    }

    /// Where the current snapshot file is, if any.
    pub fn snapshot_path(&self) -> Option<std::path::PathBuf> {
        self.snapshots.current_path()
    }

    /// What the snapshot directory holds durably; the log store's purge
    /// guard follows it.
    pub fn durable_snapshots(&self) -> DurableSnapshots {
        self.snapshots.durable().clone()
    }

    fn next_snapshot_id(&mut self, last: Option<LogId>) -> String {
        let n = self.builds;
        self.builds += 1;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        match last {
            Some(id) => format!("{}-{}-{millis}-{n}", id.leader_id.term, id.index),
            None => format!("none-{millis}-{n}"),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let st = self.live.read();
        Ok((st.last_applied, st.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<CommandResult>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut replies = Vec::with_capacity(entries.size_hint().0);
        let mut last = None;
        for entry in entries {
            // One lock per entry keeps readers' waits short on long batches
            // (e.g. re-applying the log after a restart).
            let mut st = self.live.write();
            let reply = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(ref proposal) => proposal
                    .commands
                    .iter()
                    .map(|command| st.registry.apply(command))
                    .collect(),
                EntryPayload::Membership(membership) => {
                    st.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    Vec::new()
                }
            };
            st.last_applied = Some(entry.log_id);
            drop(st);
            replies.push(reply);
            last = Some(entry.log_id);
        }
        if last.is_some() {
            self.live.publish_applied(last);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // Copy under the lock (short), serialize later outside it.
        let state = self.live.read().clone();
        let snapshot_id = self.next_snapshot_id(state.last_applied);
        SnapshotBuilder {
            state: Arc::new(state),
            snapshot_id,
            snapshots: Arc::clone(&self.snapshots),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// The received bytes are a complete snapshot file (see
    /// `snapshot_file.rs`); they are verified, stored durably, and only then
    /// replace the state. Storing it releases the log purge openraft issued
    /// for it (see `purge_guard`).
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let meta = meta.clone();
        let snapshots = Arc::clone(&self.snapshots);
        let body = blocking("installing a snapshot", move || {
            let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
            let body = snapshot_file::decode(&bytes).map_err(|e| {
                storage_err(
                    subject(),
                    ErrorVerb::Read,
                    "snapshot received from the leader is invalid",
                    e,
                )
            })?;
            if body.meta.last_log_id != meta.last_log_id
                || body.meta.last_membership != meta.last_membership
            {
                return Err(storage_err(
                    subject(),
                    ErrorVerb::Read,
                    "snapshot received from the leader does not match its metadata",
                    format_args!("file holds {}, RPC says {}", body.meta, meta),
                ));
            }
            snapshots.persist(&meta, &bytes, Replace::Always)?;
            Ok(body)
        })
        .await;
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                // openraft already asked the log store to purge up to this
                // snapshot; that purge is waiting for it and must not.
                self.snapshots.durable().install_failed();
                return Err(e);
            }
        };

        let last_applied = body.meta.last_log_id;
        {
            let mut st = self.live.write();
            st.registry = body.registry;
            st.last_applied = last_applied;
            st.last_membership = body.meta.last_membership;
        }
        self.live.publish_applied(last_applied);
        tracing::info!(last_applied = ?last_applied, "installed snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let snapshots = Arc::clone(&self.snapshots);
        let current = blocking("reading the current snapshot", move || {
            snapshots.read_current()
        })
        .await?;
        Ok(current.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// Writes a snapshot of the state copied when it was created.
pub struct SnapshotBuilder {
    state: Arc<AppliedState>,
    snapshot_id: String,
    snapshots: Arc<SnapshotDir>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.last_membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        };
        let state = Arc::clone(&self.state);
        let snapshots = Arc::clone(&self.snapshots);
        let m = meta.clone();
        let bytes = blocking("building a snapshot", move || {
            let registry: &Registry = &state.registry;
            let bytes = snapshot_file::encode(&m, registry).map_err(|e| {
                storage_err(
                    ErrorSubject::Snapshot(Some(m.signature())),
                    ErrorVerb::Write,
                    "encoding the snapshot",
                    e,
                )
            })?;
            snapshots.persist(&m, &bytes, Replace::IfNotOlder)?;
            Ok(bytes)
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
