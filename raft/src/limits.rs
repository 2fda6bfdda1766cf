//! Sizes of the Raft layer, derived from one another so that every log
//! entry the proposer can build fits in one AppendEntries, and every
//! AppendEntries or snapshot chunk fits in one gRPC message, on both
//! sides. An entry that cannot be sent would be retried for ever and stall
//! the group; the assertions below make that a compile error.
//!
//! ```text
//! command      <= MAX_COMMAND_BYTES (registry: limits on every field)
//! proposal     <= MAX_PROPOSAL_BYTES (proposer: batches by this budget)
//! log entry    <= MAX_ENTRY_BYTES (proposal + log id and framing)
//! AppendEntries < REPLICATION_MAX_BYTES + MAX_ENTRY_BYTES + RPC overhead
//!                (the log reader stops once it passed REPLICATION_MAX_BYTES,
//!                 so the last entry may cross it)
//! snapshot RPC <= SNAPSHOT_CHUNK_BYTES + RPC overhead
//! both         <  GRPC_MAX_MESSAGE_BYTES (client and server, both ways)
//! ```

pub use mesoraft_registry::MAX_COMMAND_BYTES;

/// Most bytes of encoded commands in one proposal (one log entry). Each
/// command counts its JSON length plus one separator. Room for the largest
/// command and little more: an entry travels whole in one AppendEntries,
/// which openraft abandons after one heartbeat interval (see
/// [`REPLICATION_MAX_BYTES`]).
pub const MAX_PROPOSAL_BYTES: usize = MAX_COMMAND_BYTES + 64 * 1024;

/// What a log entry adds around its commands: log id and JSON framing.
pub const ENTRY_OVERHEAD_BYTES: usize = 64 * 1024;

/// The largest log entry the proposer can produce (membership and blank
/// entries are far smaller).
pub const MAX_ENTRY_BYTES: usize = MAX_PROPOSAL_BYTES + ENTRY_OVERHEAD_BYTES;

/// One AppendEntries carries entries until their encoded size reaches this
/// (at least one entry, at most [`REPLICATION_MAX_ENTRIES`]).
///
/// openraft 0.9 gives an AppendEntries one heartbeat interval (50 ms by
/// default) to be encoded, sent, decoded, stored and fsynced, and resends
/// the same range when that passes. An RPC that cannot make it in time on a
/// loaded machine is resent for ever and the leader loses its quorum: with
/// 4 MiB entries and 1 MiB here (RPCs up to 5 MiB), 64 writes of the largest
/// command kept a 3-master group on 2 busy cores from committing for over a
/// minute. Small RPCs cost little throughput: the follower's fsync, not the
/// bytes, is most of a round trip.
pub const REPLICATION_MAX_BYTES: usize = 512 * 1024;
pub const REPLICATION_MAX_ENTRIES: usize = 1024;

/// Snapshot bytes per InstallSnapshot RPC. openraft 0.9 applies its
/// install timeout per chunk, so chunks are large and the timeout
/// generous (see the master's Raft config).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// What an RPC adds around its entries or chunk: vote, log ids, leader
/// commit, snapshot metadata with the membership.
pub const RPC_OVERHEAD_BYTES: usize = 64 * 1024;

/// The largest AppendEntries request the log can produce.
pub const LARGEST_APPEND_ENTRIES_BYTES: usize =
    REPLICATION_MAX_BYTES + MAX_ENTRY_BYTES + RPC_OVERHEAD_BYTES;

/// The largest InstallSnapshot request.
pub const LARGEST_SNAPSHOT_RPC_BYTES: usize = SNAPSHOT_CHUNK_BYTES + RPC_OVERHEAD_BYTES;

/// gRPC message limit of the Raft transport, for encoding and decoding on
/// both client and server. Larger than any message above, and still a
/// bound on what one peer can make another buffer.
pub const GRPC_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

const _: () = assert!(MAX_COMMAND_BYTES < MAX_PROPOSAL_BYTES);
/// What one AppendEntries may carry at most, so that it fits a heartbeat
/// interval on a loaded machine (see [`REPLICATION_MAX_BYTES`]).
const APPEND_ENTRIES_BUDGET_BYTES: usize = 2 * 1024 * 1024;
const _: () = assert!(LARGEST_APPEND_ENTRIES_BYTES <= APPEND_ENTRIES_BUDGET_BYTES);
const _: () = assert!(LARGEST_APPEND_ENTRIES_BYTES < GRPC_MAX_MESSAGE_BYTES);
const _: () = assert!(LARGEST_SNAPSHOT_RPC_BYTES < GRPC_MAX_MESSAGE_BYTES);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposer::Proposal;
    use crate::{Entry, LogId, Vote};
    use mesoraft_proto::mesos::v1::WeightInfo;
    use mesoraft_registry::{Command, MAX_ROLE_LEN, MAX_WEIGHT_INFOS_PER_CALL};
    use openraft::raft::AppendEntriesRequest;
    use openraft::{CommittedLeaderId, EntryPayload};

    /// The largest UPDATE_WEIGHTS the registry takes.
    fn largest_command() -> Command {
        let weights = (0..MAX_WEIGHT_INFOS_PER_CALL)
            .map(|i| WeightInfo {
                weight: f64::MIN_POSITIVE,
                role: Some(format!("{i:04}{}", "r".repeat(MAX_ROLE_LEN - 4))),
            })
            .collect();
        Command::UpdateWeights { weights }
    }

    fn json_len<T: serde::Serialize>(value: &T) -> usize {
        serde_json::to_vec(value).expect("encodes").len()
    }

    #[test]
    fn a_full_proposal_fits_an_entry_and_an_append_entries_fits_grpc() {
        let command = largest_command();
        let per_command = json_len(&command) + 1;
        let count = MAX_PROPOSAL_BYTES / per_command;
        let id = LogId::new(CommittedLeaderId::new(u64::MAX, u64::MAX), u64::MAX);
        let entry = Entry {
            log_id: id,
            payload: EntryPayload::Normal(Proposal {
                commands: vec![command; count],
            }),
        };
        let entry_len = json_len(&entry);
        assert!(entry_len <= MAX_ENTRY_BYTES, "entry of {entry_len} bytes");

        // Entries just under the batching threshold, then one full entry.
        let small = Entry {
            log_id: id,
            payload: EntryPayload::Blank,
        };
        let small_count = (REPLICATION_MAX_BYTES - 1) / json_len(&small);
        let mut entries = vec![small; small_count];
        entries.push(entry);
        let request = AppendEntriesRequest::<crate::TypeConfig> {
            vote: Vote::new_committed(u64::MAX, u64::MAX),
            prev_log_id: Some(id),
            leader_commit: Some(id),
            entries,
        };
        let len = json_len(&request);
        assert!(
            len <= LARGEST_APPEND_ENTRIES_BYTES,
            "AppendEntries of {len} bytes"
        );
    }
}
