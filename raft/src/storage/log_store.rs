//! The Raft log, vote and committed id, on a [`KvStore`].
//!
//! Layout: `Space::Log` maps big-endian u64 index -> JSON `Entry`;
//! `Space::Meta` holds JSON `vote`, `committed` and `last_purged`.
//!
//! Every mutation is one atomic batch followed by `flush_durable` before
//! openraft is told it happened (append callback, or returning from
//! save_vote / truncate / purge); the committed id alone is written without
//! its own sync (see `save_committed`). openraft serializes these
//! calls through `&mut self`, so writes never reorder. A purge first waits
//! until a durable snapshot covers it (`purge_guard`).

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, ControlFlow, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{corrupt_err, storage_err};
use super::kv::{edge, Direction, KeyRange, KvError, KvStore, Space, WriteBatch};
use super::purge_guard::PurgeGuard;
use super::sled_kv::SledKv;
use crate::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

// `limited_get_log_entries` (what replication sends in one AppendEntries)
// stops after REPLICATION_MAX_ENTRIES entries or once REPLICATION_MAX_BYTES
// encoded bytes were read; `crate::limits` sizes the gRPC messages for it.
use crate::limits::{REPLICATION_MAX_BYTES, REPLICATION_MAX_ENTRIES};

/// Named records live under their own prefix, apart from openraft's.
fn record_key(name: &str) -> Vec<u8> {
    [b"record:".as_slice(), name.as_bytes()].concat()
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

fn key_range<RB: RangeBounds<u64>>(range: &RB) -> KeyRange {
    let map = |b: Bound<&u64>| match b {
        Bound::Included(i) => Bound::Included(index_key(*i).to_vec()),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i).to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (map(range.start_bound()), map(range.end_bound()))
}

/// openraft's log store. Clones share the engine; a clone is also the log
/// reader handed to replication tasks.
pub struct LogStore<K: KvStore = SledKv> {
    kv: Arc<K>,
    /// Holds each purge until a durable snapshot covers it (see
    /// `purge_guard`). `storage::open` always sets it.
    purge_guard: Option<PurgeGuard>,
}

impl<K: KvStore> Clone for LogStore<K> {
    fn clone(&self) -> Self {
        Self {
            kv: Arc::clone(&self.kv),
            purge_guard: self.purge_guard.clone(),
        }
    }
}

impl<K: KvStore> LogStore<K> {
    /// A log store that purges whatever openraft asks: for tests of the
    /// log alone. A master's log store comes from `storage::open`.
    pub fn new(kv: Arc<K>) -> Self {
        Self {
            kv,
            purge_guard: None,
        }
    }

    /// Makes every purge wait until the snapshot directory behind `guard`
    /// durably covers it.
    pub fn with_purge_guard(mut self, guard: PurgeGuard) -> Self {
        self.purge_guard = Some(guard);
        self
    }

    /// Drops the purge guard (openraft's storage suite purges logs that no
    /// snapshot covers).
    #[cfg(test)]
    pub(crate) fn without_purge_guard(mut self) -> Self {
        self.purge_guard = None;
        self
    }

    /// The engine underneath (tests use it to inspect or damage raw data).
    pub fn kv(&self) -> &Arc<K> {
        &self.kv
    }

    fn path(&self) -> &Path {
        self.kv.path()
    }

    /// The last purged log id, as recorded by `purge`.
    pub fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        self.read_meta(LAST_PURGED, ErrorSubject::Logs)
    }

    /// The durable vote and last log id, read directly (before the store
    /// is handed to openraft).
    pub fn durable_position(&self) -> Result<(Option<Vote>, Option<LogId>), StorageError> {
        let vote = self.read_meta(VOTE, ErrorSubject::Vote)?;
        let last = match self.edge_entry(Direction::Reverse)? {
            Some(e) => Some(e.log_id),
            None => self.last_purged()?,
        };
        Ok((vote, last))
    }

    /// A named record kept beside the Raft state (this master's identity,
    /// its witness ledger): in the same store as the vote, so that a copy
    /// of the store carries them consistently with it.
    pub fn read_record<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError> {
        self.read_meta(record_key(name).as_slice(), ErrorSubject::Store)
    }

    /// Writes a named record and waits until it is durable.
    pub async fn write_record<T: Serialize>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Meta,
            record_key(name),
            Self::encode(value, ErrorSubject::Store)?,
        );
        self.write_durable(batch, ErrorSubject::Store, "saving a record")
            .await
    }

    fn read_meta<T: DeserializeOwned>(
        &self,
        key: &[u8],
        subject: ErrorSubject<NodeId>,
    ) -> Result<Option<T>, StorageError> {
        let name = String::from_utf8_lossy(key);
        let raw = self.kv.get(Space::Meta, key).map_err(|e| {
            storage_err(
                subject.clone(),
                ErrorVerb::Read,
                format_args!("reading {name}"),
                e,
            )
        })?;
        let Some(raw) = raw else { return Ok(None) };
        serde_json::from_slice(&raw).map(Some).map_err(|e| {
            corrupt_err(
                subject,
                format_args!("stored {name} in {} is not valid", self.path().display()),
                e,
            )
        })
    }

    fn encode<T: Serialize>(
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec(value)
            .map_err(|e| storage_err(subject, ErrorVerb::Write, "encoding to JSON", e))
    }

    /// Applies `batch` and waits until it is durable.
    async fn write_durable(
        &self,
        batch: WriteBatch,
        subject: ErrorSubject<NodeId>,
        what: &str,
    ) -> Result<(), StorageError> {
        let err = |e: KvError| storage_err(subject.clone(), ErrorVerb::Write, what, e);
        self.kv.write(batch).map_err(err)?;
        self.kv.flush_durable().await.map_err(err)
    }

    fn decode_entry(&self, key: &[u8], value: &[u8]) -> Result<Entry, StorageError> {
        let path = self.path().display();
        let Some(index) = key_index(key) else {
            return Err(corrupt_err(
                ErrorSubject::Logs,
                format_args!("Raft log in {path} has a malformed key {key:02x?}"),
                "expected an 8-byte index",
            ));
        };
        let entry: Entry = serde_json::from_slice(value).map_err(|e| {
            corrupt_err(
                ErrorSubject::LogIndex(index),
                format_args!("Raft log entry {index} in {path} is not valid"),
                e,
            )
        })?;
        if entry.log_id.index != index {
            return Err(corrupt_err(
                ErrorSubject::LogIndex(index),
                format_args!("Raft log entry stored at index {index} in {path}"),
                format_args!("it carries log id {}", entry.log_id),
            ));
        }
        Ok(entry)
    }

    /// Reads entries in `range` in order, stopping after `max_entries` or
    /// once `max_bytes` of encoded entries were read (always at least one).
    fn read_entries(
        &self,
        range: KeyRange,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, StorageError> {
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        let mut failed = None;
        self.kv
            .scan(Space::Log, range, Direction::Forward, &mut |k, v| {
                match self.decode_entry(k, v) {
                    Ok(e) => entries.push(e),
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                bytes += v.len();
                if entries.len() >= max_entries || bytes >= max_bytes {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(|e| {
                storage_err(
                    ErrorSubject::Logs,
                    ErrorVerb::Read,
                    "reading log entries",
                    e,
                )
            })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(entries),
        }
    }

    /// The first or last entry present in the log.
    fn edge_entry(&self, direction: Direction) -> Result<Option<Entry>, StorageError> {
        let found = edge(&*self.kv, Space::Log, direction)
            .map_err(|e| storage_err(ErrorSubject::Logs, ErrorVerb::Read, "reading the log", e))?;
        found.map(|(k, v)| self.decode_entry(&k, &v)).transpose()
    }

    /// Index of the first or last entry present, reading only the key.
    fn edge_index(&self, direction: Direction) -> Result<Option<u64>, StorageError> {
        let found = edge(&*self.kv, Space::Log, direction)
            .map_err(|e| storage_err(ErrorSubject::Logs, ErrorVerb::Read, "reading the log", e))?;
        match found {
            None => Ok(None),
            Some((k, _)) => key_index(&k).map(Some).ok_or_else(|| {
                corrupt_err(
                    ErrorSubject::Logs,
                    format_args!(
                        "Raft log in {} has a malformed key {k:02x?}",
                        self.path().display()
                    ),
                    "expected an 8-byte index",
                )
            }),
        }
    }
}

impl<K: KvStore> RaftLogReader<TypeConfig> for LogStore<K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_entries(key_range(&range), usize::MAX, usize::MAX)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_entries(
            key_range(&(start..end)),
            REPLICATION_MAX_ENTRIES,
            REPLICATION_MAX_BYTES,
        )
    }
}

impl<K: KvStore> RaftLogStorage<TypeConfig> for LogStore<K> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = match self.edge_entry(Direction::Reverse)? {
            Some(e) => Some(e.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.put(Space::Meta, VOTE, Self::encode(vote, ErrorSubject::Vote)?);
        self.write_durable(batch, ErrorSubject::Vote, "saving the vote")
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(VOTE, ErrorSubject::Vote)
    }

    /// Lets a restarted node re-apply what it knew to be committed at once
    /// (openraft re-applies `(last_applied, committed]` from the log on
    /// startup) instead of after the leader's first AppendEntries.
    ///
    /// Written, not synced: it becomes durable with the next sync of the
    /// store (the next append, vote or truncation). openraft calls this on
    /// every commit-index move, in the path of every acknowledged write,
    /// and a stale committed id after a crash is harmless here: a master
    /// never resumes leading its old term after a restart
    /// (`storage::restart`), so it serves reads only after its new term's
    /// blank entry, and with it every earlier entry, is committed; a
    /// follower learns the commit index from the leader.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Meta,
            COMMITTED,
            Self::encode(&committed, ErrorSubject::Store)?,
        );
        self.kv.write(batch).map_err(|e| {
            storage_err(
                ErrorSubject::Store,
                ErrorVerb::Write,
                "saving the committed log id",
                e,
            )
        })
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .read_meta::<Option<LogId>>(COMMITTED, ErrorSubject::Store)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut last = None;
        for entry in entries {
            let value = serde_json::to_vec(&entry).map_err(|e| {
                storage_err(
                    ErrorSubject::Log(entry.log_id),
                    ErrorVerb::Write,
                    "encoding log entry",
                    e,
                )
            })?;
            batch.put(Space::Log, index_key(entry.log_id.index), value);
            last = Some(entry.log_id);
        }
        let Some(last) = last else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };

        let subject = ErrorSubject::Log(last);
        let what = "appending log entries";
        // After `write` the entries are readable (openraft requires that
        // on return); the callback waits for durability.
        if let Err(e) = self.kv.write(batch) {
            callback.log_io_completed(Err(io::Error::other(e.to_string())));
            return Err(storage_err(subject, ErrorVerb::Write, what, e));
        }
        match self.kv.flush_durable().await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(storage_err(subject, ErrorVerb::Write, what, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let Some(last) = self.edge_index(Direction::Reverse)? else {
            return Ok(());
        };
        if last < log_id.index {
            return Ok(());
        }
        tracing::debug!(from = log_id.index, to = last, "truncating Raft log");
        // Deleting the contiguous suffix [index, last] leaves no hole.
        let mut batch = WriteBatch::new();
        for i in log_id.index..=last {
            batch.delete(Space::Log, index_key(i));
        }
        self.write_durable(batch, ErrorSubject::Log(log_id), "truncating the log")
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        if self.last_purged()? >= Some(log_id) {
            return Ok(());
        }
        // Never durable before the snapshot holding these entries is: after
        // an install openraft purges while the state machine still writes
        // the snapshot. Waiting here also holds back later appends, since
        // openraft issues log-store calls one at a time.
        if let Some(guard) = &self.purge_guard {
            guard.wait_covered(&log_id).await?;
        }
        // last_purged is written in the same atomic batch as the deletions,
        // so after a crash either both happened or neither: the log state
        // never shows a hole between last_purged and the first entry.
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Meta,
            LAST_PURGED,
            Self::encode(&log_id, ErrorSubject::Logs)?,
        );
        let first = self.edge_index(Direction::Forward)?;
        let last = self.edge_index(Direction::Reverse)?;
        if let (Some(first), Some(last)) = (first, last) {
            for i in first..=last.min(log_id.index) {
                batch.delete(Space::Log, index_key(i));
            }
        }
        tracing::debug!(upto = %log_id, deletes = batch.len() - 1, "purging Raft log");
        self.write_durable(batch, ErrorSubject::Log(log_id), "purging the log")
            .await
    }
}
