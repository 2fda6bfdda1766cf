//! A leader that restarts after losing the unsynced tail of its log.
//!
//! A leader sends new entries to its followers while it is still syncing
//! them itself; a quorum of followers can make an entry durable, commit it
//! and the client can be answered before the leader's own sync finishes.
//! Power fails then: the followers keep the entry, the leader's log ends
//! one entry earlier, while its vote (synced at its election) survives.
//! openraft 0.9 restores a node whose stored vote is a committed vote for
//! itself as leader of the same term at once. Its next entry then gets the
//! lost entry's log id (same term, same index), the followers take it for
//! the entry they already hold, and the replicas diverge: the leader
//! applies the new command, the followers the acknowledged one it lost.
//!
//! The test builds that disk state exactly (the leader's log truncated by
//! one entry and its committed id moved back, with the followers stopped
//! so that no one else campaigns meanwhile) and checks that the
//! acknowledged write survives and every replica ends with one registry.

use crate::support;

use std::time::Duration;

use mesoraft_raft::openraft::storage::RaftLogStorage;
use mesoraft_raft::openraft::RaftLogReader;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);

/// Removes the last entry of the log in `dir` (which must be a weights
/// update: the last write the test made) and moves the stored committed id back before
/// it, as a power failure before the leader's own sync would have left it.
async fn lose_unsynced_tail(dir: &std::path::Path) {
    let (mut log, _sm) = mesoraft_raft::storage::open(dir)
        .await
        .expect("open the stopped leader's storage");
    let state = log.get_log_state().await.expect("log state");
    let last = state.last_log_id.expect("a non-empty log");
    let entries = log
        .try_get_log_entries(last.index..last.index + 1)
        .await
        .expect("read the last entry");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        text.contains("UpdateWeights"),
        "the last entry is not the acknowledged write: {text}"
    );
    let before = log
        .try_get_log_entries(last.index - 1..last.index)
        .await
        .expect("read the entry before")[0]
        .log_id;
    // The committed id is written without a sync of its own; the
    // truncation's sync makes both durable.
    log.save_committed(Some(before))
        .await
        .expect("save committed");
    log.truncate(last).await.expect("truncate");
}

async fn digest(c: &Cluster, id: u64) -> Option<(u64, String)> {
    let s: serde_json::Value = c
        .http
        .get(c.url(&c.addr(id), "/raft/status?digest=true"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let d = &s["registry_digest"];
    Some((
        d["applied_index"].as_u64()?,
        d["crc32"].as_str()?.to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lost_its_unsynced_tail_does_not_resume_its_term() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    c.write_weight("before", 1.0, ELECTION).await;
    c.write_weight("acknowledged", 2.0, ELECTION).await;
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|m| *m != leader).collect();
    for f in &followers {
        c.wait_caught_up(*f, leader, ELECTION).await;
    }
    for f in &followers {
        c.pause(*f);
    }
    c.kill9(leader);
    let work_dir = c.master(leader).work_dir.clone();
    lose_unsynced_tail(&work_dir.join("raft")).await;
    c.spawn(leader);
    // Old behaviour: the restarted master leads its old term at once, with
    // no one else running.
    let resumed = poll_until(Duration::from_secs(3), || async {
        let s = c.status(leader).await?;
        (s["role"] == "leader").then_some(())
    })
    .await;
    for f in &followers {
        c.resume(*f);
    }
    c.write_weight("after", 3.0, ELECTION).await;
    let now_leader = c.wait_leader(ELECTION).await;
    let w = c
        .weights_via(&c.addr(now_leader))
        .await
        .expect("GET_WEIGHTS");
    assert_eq!(
        (w.get("acknowledged"), w.get("after")),
        (Some(&2.0), Some(&3.0)),
        "registry on leader {now_leader} (restarted master {leader} resumed its term at once: {})",
        resumed.is_some()
    );
    // Every replica applies the same entries to the same registry.
    for id in [1, 2, 3] {
        c.wait_caught_up(id, now_leader, ELECTION).await;
    }
    let want = digest(&c, now_leader).await.expect("leader digest");
    for id in [1, 2, 3] {
        let got = wait_for("a digest at the leader's index", ELECTION, || async {
            let d = digest(&c, id).await?;
            (d.0 >= want.0).then_some(d)
        })
        .await;
        if got.0 == want.0 {
            assert_eq!(
                got.1, want.1,
                "master {id} diverged from leader {now_leader}"
            );
        }
    }
}
