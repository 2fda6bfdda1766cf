//! What was acknowledged is there after reopening the same directory.

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{RaftLogReader, RaftSnapshotBuilder, StorageHelper};

use super::util::*;
use crate::Vote;

#[tokio::test]
async fn log_vote_and_committed_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Like a real log: openraft's initial membership entry is index 0.
    let entries: Vec<_> = std::iter::once(membership(0, 0, &[1]))
        .chain((1..=6).map(|i| normal(1, i)))
        .collect();
    {
        let (mut log, _sm) = open_ok(dir.path()).await;
        log.blocking_append(entries.clone()).await.unwrap();
        log.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
        log.save_committed(Some(log_id(1, 4))).await.unwrap();
    }

    let (mut log, mut sm) = open_ok(dir.path()).await;
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new_committed(1, 1))
    );
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 4)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(state.last_log_id, Some(log_id(1, 6)));
    let read = log.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(json(&read), json(&entries));

    // openraft's startup re-applies the committed prefix to the empty
    // state machine.
    let handle = sm.registry_handle();
    assert_eq!(handle.last_applied(), None);
    StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 4)));
    assert_eq!(handle.last_applied(), Some(log_id(1, 4)));
}

#[tokio::test]
async fn truncate_and_purge_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, mut sm) = open_ok(dir.path()).await;
        let entries: Vec<_> = (1..=10).map(|i| normal(1, i)).collect();
        log.blocking_append(entries.clone()).await.unwrap();
        sm.apply(entries[..6].to_vec()).await.unwrap();
        // Purging needs a snapshot covering the purged entries.
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        log.purge(log_id(1, 5)).await.unwrap();
        log.truncate(log_id(1, 9)).await.unwrap();
    }

    let (mut log, mut sm) = open_ok(dir.path()).await;
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));
    assert_eq!(state.last_log_id, Some(log_id(1, 8)));
    let indexes: Vec<u64> = log
        .try_get_log_entries(0..100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(indexes, vec![6, 7, 8]);
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 6)));
}

#[tokio::test]
async fn purge_everything_keeps_last_log_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm) = open_ok(dir.path()).await;
    let entries: Vec<_> = (1..=3).map(|i| normal(1, i)).collect();
    log.blocking_append(entries.clone()).await.unwrap();
    sm.apply(entries).await.unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    log.purge(log_id(1, 3)).await.unwrap();
    drop((log, sm));

    let (mut log, _sm) = open_ok(dir.path()).await;
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 3)));
    log.blocking_append([normal(2, 4)]).await.unwrap();
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 4))
    );
}

#[tokio::test]
async fn snapshot_restores_state_and_only_latest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (registry_before, applied_before, meta_before) = {
        let (_log, mut sm) = open_ok(dir.path()).await;
        sm.apply([membership(1, 1, &[1, 2, 3]), normal(1, 2), normal(1, 3)])
            .await
            .unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        sm.apply([normal(1, 4), blank(2, 5)]).await.unwrap();
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(
            snapshot_files(dir.path()).len(),
            1,
            "older snapshot deleted"
        );
        let registry = sm.registry_handle().read(|r| r.clone());
        (registry, sm.applied_state().await.unwrap(), snap.meta)
    };

    let (_log, mut sm) = open_ok(dir.path()).await;
    assert_eq!(sm.applied_state().await.unwrap(), applied_before);
    assert_eq!(sm.registry_handle().read(|r| r.clone()), registry_before);
    let current = sm.get_current_snapshot().await.unwrap().expect("snapshot");
    assert_eq!(current.meta, meta_before);
    assert_eq!(sm.registry_handle().last_applied(), Some(log_id(2, 5)));
}

#[tokio::test]
async fn installed_snapshot_is_durable() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();

    let (_l_log, mut leader) = open_ok(leader_dir.path()).await;
    leader
        .apply([membership(1, 1, &[1, 2]), normal(1, 2), normal(1, 3)])
        .await
        .unwrap();
    let snap = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    {
        let (_f_log, mut follower) = open_ok(follower_dir.path()).await;
        let mut rx = follower.registry_handle().subscribe_applied();
        let mut data = follower.begin_receiving_snapshot().await.unwrap();
        *data = *snap.snapshot;
        follower.install_snapshot(&snap.meta, data).await.unwrap();
        assert_eq!(*rx.borrow_and_update(), Some(log_id(1, 3)));
    }

    let (_f_log, mut follower) = open_ok(follower_dir.path()).await;
    assert_eq!(
        follower.applied_state().await.unwrap(),
        leader.applied_state().await.unwrap()
    );
    let current = follower
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("snapshot");
    assert_eq!(current.meta, snap.meta);
    assert_eq!(snapshot_files(follower_dir.path()).len(), 1);
}

#[tokio::test]
async fn invalid_received_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open_ok(dir.path()).await;
    sm.apply([normal(1, 1)]).await.unwrap();

    let other = tempfile::tempdir().unwrap();
    let (_l, mut leader) = open_ok(other.path()).await;
    leader.apply([normal(1, 1), normal(1, 2)]).await.unwrap();
    let snap = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let mut bytes = snap.snapshot.into_inner();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let err = sm
        .install_snapshot(&snap.meta, Box::new(std::io::Cursor::new(bytes)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(
        sm.applied_state().await.unwrap().0,
        Some(log_id(1, 1)),
        "state kept"
    );
    assert!(snapshot_files(dir.path()).is_empty());
}
