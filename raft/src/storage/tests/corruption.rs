//! Damaged data is reported with the file and the repair, never half-loaded
//! and never a panic.

use std::fs::OpenOptions;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{RaftLogReader, RaftSnapshotBuilder};

use super::util::*;
use crate::storage::{open, KvStore, Space, WriteBatch, REPAIR_ADVICE};
use crate::StorageError;

/// Builds one snapshot in a fresh directory and returns the directory and
/// the snapshot file.
async fn dir_with_snapshot() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_log, mut sm) = open_ok(dir.path()).await;
        sm.apply([membership(1, 1, &[1]), normal(1, 2)])
            .await
            .unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
    }
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 1);
    (dir, files[0].clone())
}

fn open_error(res: Result<impl Sized, StorageError>) -> String {
    match res {
        Ok(_) => panic!("open succeeded on damaged data"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn flipped_byte_in_snapshot_is_reported() {
    let (dir, file) = dir_with_snapshot().await;
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();

    let msg = open_error(open(dir.path()).await);
    println!("flipped byte: {msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains(REPAIR_ADVICE), "{msg}");
}

#[tokio::test]
async fn truncated_snapshot_is_reported() {
    let (dir, file) = dir_with_snapshot().await;
    let len = std::fs::metadata(&file).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let msg = open_error(open(dir.path()).await);
    println!("truncated: {msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");

    // Down to less than the header.
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(5)
        .unwrap();
    let msg = open_error(open(dir.path()).await);
    assert!(msg.contains("shorter than"), "{msg}");
}

#[tokio::test]
async fn garbage_snapshot_file_is_reported() {
    let (dir, file) = dir_with_snapshot().await;
    std::fs::write(&file, b"this is not a snapshot at all, not even close").unwrap();
    let msg = open_error(open(dir.path()).await);
    assert!(msg.contains("not a mesoraft snapshot"), "{msg}");
}

#[tokio::test]
async fn leftovers_of_interrupted_writes_are_cleaned() {
    let (dir, file) = dir_with_snapshot().await;
    let snaps = file.parent().unwrap().to_path_buf();
    // A temp file from a crash mid-write, and an older snapshot from a crash
    // between rename and delete.
    std::fs::write(snaps.join("snapshot-0000000099-1-9.snap.tmp"), b"partial").unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("snapshot-0000000000-"), "{name}");
    let older = snaps.join("snapshot-0000000000-0-0.snap");
    std::fs::rename(
        &file,
        snaps.join(name.replace("snapshot-0000000000-", "snapshot-0000000001-")),
    )
    .unwrap();
    std::fs::write(&older, b"old").unwrap();

    let (_log, mut sm) = open_ok(dir.path()).await;
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 2)));
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().contains("snapshot-0000000001-"));

    // The next snapshot continues the sequence.
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(
        files[0].to_string_lossy().contains("snapshot-0000000002-"),
        "{files:?}"
    );
}

#[tokio::test]
async fn purged_log_without_snapshot_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        // As an older version or a hand-deleted snapshot could leave it:
        // the purge guard would not let a master write this.
        let (log, _sm) = open_ok(dir.path()).await;
        let mut log = log.without_purge_guard();
        log.blocking_append((1..=4).map(|i| normal(1, i)))
            .await
            .unwrap();
        log.purge(log_id(1, 2)).await.unwrap();
    }
    let msg = open_error(open(dir.path()).await);
    println!("purged without snapshot: {msg}");
    assert!(msg.contains("compacted up to"), "{msg}");
    assert!(msg.contains("no snapshot"), "{msg}");
}

#[tokio::test]
async fn corrupt_log_value_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open_ok(dir.path()).await;
    log.blocking_append((1..=3).map(|i| normal(1, i)))
        .await
        .unwrap();

    let mut batch = WriteBatch::new();
    batch.put(Space::Log, 2u64.to_be_bytes(), b"{not json".to_vec());
    log.kv().write(batch).unwrap();

    let err = log.try_get_log_entries(0..10).await.unwrap_err();
    let msg = err.to_string();
    println!("corrupt entry: {msg}");
    assert!(msg.contains("Raft log entry 2"), "{msg}");
    assert!(
        msg.contains(&log.kv().path().display().to_string()),
        "{msg}"
    );
    // Entries around it are still readable one by one.
    assert_eq!(log.try_get_log_entries(3..4).await.unwrap().len(), 1);
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(log_id(1, 3))
    );

    // The last entry corrupt: the log state itself cannot be read.
    let mut batch = WriteBatch::new();
    batch.put(Space::Log, 3u64.to_be_bytes(), vec![0xff, 0x00, 0x13]);
    log.kv().write(batch).unwrap();
    assert!(log.get_log_state().await.is_err());

    // An entry stored under the wrong index.
    let mut batch = WriteBatch::new();
    batch.put(
        Space::Log,
        1u64.to_be_bytes(),
        serde_json::to_vec(&normal(1, 7)).unwrap(),
    );
    log.kv().write(batch).unwrap();
    let msg = log.try_get_log_entries(1..2).await.unwrap_err().to_string();
    assert!(msg.contains("stored at index 1"), "{msg}");
}

#[tokio::test]
async fn corrupt_vote_and_committed_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open_ok(dir.path()).await;
    let mut batch = WriteBatch::new();
    batch.put(Space::Meta, b"vote".to_vec(), b"[1,2".to_vec());
    batch.put(Space::Meta, b"committed".to_vec(), b"{}".to_vec());
    log.kv().write(batch).unwrap();
    let msg = log.read_vote().await.unwrap_err().to_string();
    assert!(msg.contains("stored vote"), "{msg}");
    assert!(log.read_committed().await.is_err());
}
