//! Bounds on everything a Raft RPC can make a master allocate. A peer (or
//! anyone, without a cluster secret) must not be able to exhaust a
//! master's memory with one request.

use serde::Serialize;

/// The limits in force. The defaults follow `crate::limits`: every
/// message a healthy group sends fits, with room to spare for a peer
/// configured with larger batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RpcLimits {
    /// Largest encoded gRPC message accepted or sent.
    pub max_message_bytes: usize,
    /// Most entries in one AppendEntries.
    pub max_entries_per_append: usize,
    /// Largest snapshot chunk.
    pub max_snapshot_chunk_bytes: usize,
    /// Largest whole snapshot a follower accepts.
    pub max_snapshot_bytes: u64,
    /// Largest identity gossip header.
    pub max_gossip_bytes: usize,
}

const _: () =
    assert!(2 * crate::limits::SNAPSHOT_CHUNK_BYTES < crate::limits::GRPC_MAX_MESSAGE_BYTES);

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: crate::limits::GRPC_MAX_MESSAGE_BYTES,
            max_entries_per_append: 4 * crate::limits::REPLICATION_MAX_ENTRIES,
            max_snapshot_chunk_bytes: 2 * crate::limits::SNAPSHOT_CHUNK_BYTES,
            max_snapshot_bytes: 1024 * 1024 * 1024,
            max_gossip_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("AppendEntries with {got} entries; at most {max} are accepted")]
    TooManyEntries { got: usize, max: usize },
    #[error("snapshot chunk of {got} bytes; at most {max} are accepted")]
    ChunkTooLarge { got: usize, max: usize },
    #[error("snapshot chunk ending at byte {end}; snapshots of at most {max} bytes are accepted")]
    SnapshotTooLarge { end: u64, max: u64 },
    #[error(
        "snapshot chunk at offset {offset} of snapshot {id:?}, but only {received} bytes of it \
         arrived so far; chunks must follow each other"
    )]
    ChunkOutOfOrder {
        id: String,
        offset: u64,
        received: u64,
    },
}

impl RpcLimits {
    pub fn check_append(&self, entries: usize) -> Result<(), LimitError> {
        if entries > self.max_entries_per_append {
            return Err(LimitError::TooManyEntries {
                got: entries,
                max: self.max_entries_per_append,
            });
        }
        Ok(())
    }
}

/// The snapshot being received: which one, and how many bytes arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotReceipt {
    current: Option<(String, u64)>,
}

impl SnapshotReceipt {
    /// Accepts a chunk that starts a snapshot (offset 0) or continues the
    /// current one without a gap (a resend of an earlier offset is fine),
    /// and stays within the size limits. The receiver writes each chunk
    /// at its offset into a growing buffer, so a gap would allocate it.
    pub fn accept(
        &mut self,
        limits: &RpcLimits,
        id: &str,
        offset: u64,
        len: usize,
        done: bool,
    ) -> Result<(), LimitError> {
        if len > limits.max_snapshot_chunk_bytes {
            return Err(LimitError::ChunkTooLarge {
                got: len,
                max: limits.max_snapshot_chunk_bytes,
            });
        }
        let end = offset.saturating_add(len as u64);
        if end > limits.max_snapshot_bytes {
            return Err(LimitError::SnapshotTooLarge {
                end,
                max: limits.max_snapshot_bytes,
            });
        }
        let received = match &self.current {
            Some((cur, received)) if cur == id => *received,
            _ => 0,
        };
        if offset > received {
            return Err(LimitError::ChunkOutOfOrder {
                id: id.to_string(),
                offset,
                received,
            });
        }
        self.current = if done {
            None
        } else {
            Some((id.to_string(), received.max(end)))
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_must_be_contiguous_and_bounded() {
        let l = RpcLimits {
            max_snapshot_chunk_bytes: 10,
            max_snapshot_bytes: 25,
            ..RpcLimits::default()
        };
        let mut r = SnapshotReceipt::default();
        assert!(matches!(
            r.accept(&l, "s1", 1 << 40, 1, false),
            Err(LimitError::SnapshotTooLarge { .. })
        ));
        assert!(matches!(
            r.accept(&l, "s1", 5, 1, false),
            Err(LimitError::ChunkOutOfOrder { received: 0, .. })
        ));
        r.accept(&l, "s1", 0, 10, false).unwrap();
        r.accept(&l, "s1", 0, 10, false).unwrap(); // resent
        r.accept(&l, "s1", 10, 10, false).unwrap();
        assert!(matches!(
            r.accept(&l, "s1", 20, 11, false),
            Err(LimitError::ChunkTooLarge { .. })
        ));
        assert!(matches!(
            r.accept(&l, "s1", 20, 10, true),
            Err(LimitError::SnapshotTooLarge { end: 30, .. })
        ));
        r.accept(&l, "s1", 20, 5, true).unwrap();
        // A new snapshot starts at 0 again.
        assert!(r.accept(&l, "s1", 20, 1, false).is_err());
        r.accept(&l, "s2", 0, 1, false).unwrap();
        assert!(l.check_append(4096).is_ok());
        assert!(l.check_append(4097).is_err());
    }
}
