//! A log purge never gets ahead of the snapshot that covers it on disk.
//!
//! After a follower receives a snapshot, openraft hands it to the state
//! machine and, without waiting, asks the log store to purge the entries
//! it covers. Were the purge durable first, a crash in between would leave
//! a log compacted past every snapshot on disk: the node could not start.

use std::time::Duration;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::RaftSnapshotBuilder;

use super::util::*;
use crate::storage::{open, LogStore};

#[tokio::test]
async fn a_purge_past_the_durable_snapshot_does_not_happen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _sm) = open_ok(dir.path()).await;
        log.blocking_append((1..=10).map(|i| normal(1, i)).collect::<Vec<_>>())
            .await
            .unwrap();
        // The snapshot covering index 8 is still being written.
        let purge = tokio::time::timeout(Duration::from_secs(2), log.purge(log_id(1, 8))).await;
        assert!(
            !matches!(purge, Ok(Ok(()))),
            "the log was purged up to 8 with no snapshot on disk"
        );
    }
    // A crash at this point leaves storage that opens, with the log whole.
    let (mut log, _sm) = open(dir.path())
        .await
        .expect("storage opens after a crash before the snapshot was stored");
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
}

#[tokio::test]
async fn a_purge_waits_for_the_snapshot_being_installed() {
    // The snapshot a leader would send: its state machine at index 8.
    let leader_dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (1..=10).map(|i| normal(1, i)).collect();
    let snapshot = {
        let (_log, mut sm) = open_ok(leader_dir.path()).await;
        sm.apply(entries[..8].to_vec()).await.unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    };

    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm) = open_ok(dir.path()).await;
    log.blocking_append(entries).await.unwrap();
    let path = dir.path().to_path_buf();
    let purge = tokio::spawn(async move {
        log.purge(log_id(1, 8)).await.expect("purge");
        // What is on disk the moment the purge is done.
        snapshot_files(&path)
    });
    sm.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    let on_disk = purge.await.unwrap();
    assert_eq!(
        on_disk.len(),
        1,
        "the purge finished before the snapshot covering it was stored: {on_disk:?}"
    );
    drop(sm);
    let (mut log, _sm) = open_ok(dir.path()).await;
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 8)));
}

#[tokio::test]
async fn a_purge_nothing_covers_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, mut sm) = open_ok(dir.path()).await;
        let guard = sm.durable_snapshots().guard(Duration::from_millis(100));
        let mut log = LogStore::new(log.kv().clone()).with_purge_guard(guard);
        log.blocking_append((1..=10).map(|i| normal(1, i)).collect::<Vec<_>>())
            .await
            .unwrap();
        let refused = log.purge(log_id(1, 8)).await.expect_err("nothing covers 8");
        assert!(
            refused.to_string().contains("refusing to purge"),
            "{refused}"
        );
        // Covered purges still go ahead.
        sm.apply((1..=6).map(|i| normal(1, i)).collect::<Vec<_>>())
            .await
            .unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        log.purge(log_id(1, 6))
            .await
            .expect("covered by the snapshot");
    }
    let (mut log, _sm) = open_ok(dir.path()).await;
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 6)));
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
}
