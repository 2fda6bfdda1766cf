//! The small key-value interface the Raft log store is written against.
//!
//! sled is the engine today; keeping the log store on this trait means an
//! engine with a stable on-disk format (redb) can replace it without
//! touching the Raft logic. The trait only asks for what the log store
//! needs: point reads, ordered scans, atomic batches and an explicit
//! "make everything written so far durable" barrier.

use std::future::Future;
use std::ops::{Bound, ControlFlow};
use std::path::Path;

/// The keyspaces of the Raft log store.
///
/// An engine maps each onto its own notion (sled: a key prefix in one tree;
/// redb: a table), but a [`WriteBatch`] spanning several spaces must stay
/// atomic: `purge` records the new last-purged id and deletes the entries
/// in one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Log entries keyed by big-endian u64 index, so byte order is index
    /// order.
    Log,
    /// Small named records: vote, committed, last purged log id.
    Meta,
}

/// Direction of a [`KvStore::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

/// One change inside a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOp {
    Put {
        space: Space,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        space: Space,
        key: Vec<u8>,
    },
}

/// Changes applied all together or not at all, also across a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Put {
            space,
            key: key.into(),
            value: value.into(),
        });
    }

    pub fn delete(&mut self, space: Space, key: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Delete {
            space,
            key: key.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn into_ops(self) -> Vec<BatchOp> {
        self.ops
    }
}

/// A key range within one [`Space`].
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// An owned key and value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Called by [`KvStore::scan`] with each key and value; `Break` stops.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// Why the engine failed. Carries the engine's own message; the log store
/// adds what it was doing and converts to openraft's `StorageError`.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("{engine} error on {path}: {message}")]
    Engine {
        engine: &'static str,
        path: String,
        message: String,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The storage engine under the Raft log.
///
/// Writes become visible to readers as soon as [`KvStore::write`] returns;
/// they are durable only after a later [`KvStore::flush_durable`] completes.
pub trait KvStore: Send + Sync + 'static {
    /// Where the engine keeps its files, for error messages.
    fn path(&self) -> &Path;

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Calls `visit` with each pair whose key lies in `range`, in key order
    /// (or reverse), until it returns `Break`. A visitor rather than an
    /// iterator so engines can lend their buffers without copying and the
    /// caller can stop on a byte budget.
    fn scan(
        &self,
        space: Space,
        range: KeyRange,
        direction: Direction,
        visit: &mut Visitor<'_>,
    ) -> Result<(), KvError>;

    /// Applies `batch` atomically.
    fn write(&self, batch: WriteBatch) -> Result<(), KvError>;

    /// Returns once everything written before the call is on stable storage
    /// (data and the metadata needed to find it after a power loss).
    fn flush_durable(&self) -> impl Future<Output = Result<(), KvError>> + Send;
}

/// The first pair of `space` in `direction` (first or last key).
pub fn edge<K: KvStore + ?Sized>(
    kv: &K,
    space: Space,
    direction: Direction,
) -> Result<Option<KvPair>, KvError> {
    let mut found = None;
    kv.scan(
        space,
        (Bound::Unbounded, Bound::Unbounded),
        direction,
        &mut |k, v| {
            found = Some((k.to_vec(), v.to_vec()));
            ControlFlow::Break(())
        },
    )?;
    Ok(found)
}
