//! Helpers shared by the storage tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mesoraft_registry::Command;
use openraft::{CommittedLeaderId, EntryPayload};

use crate::proposer::Proposal;
use crate::storage::{open, LogStore, StateMachineStore};
use crate::{Entry, LogId, Membership};

pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

pub fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

pub fn command(n: u64) -> Command {
    Command::InitCluster {
        cluster_id: format!("cluster-{n}"),
    }
}

pub fn normal(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Proposal::single(command(index))),
    }
}

pub fn membership(term: u64, index: u64, voters: &[u64]) -> Entry {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
    }
}

pub async fn open_ok(dir: &Path) -> (LogStore, StateMachineStore) {
    open(dir).await.expect("open storage")
}

/// The snapshot files in `dir`'s snapshot directory, sorted.
pub fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(crate::storage::SNAPSHOT_DIR))
        .expect("list snapshots")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

/// Compares entries by their JSON (Entry has no PartialEq).
pub fn json(entries: &[Entry]) -> String {
    serde_json::to_string(entries).expect("entries to JSON")
}
