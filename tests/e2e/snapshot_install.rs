//! A follower killed (kill -9) at random moments while it installs a
//! snapshot from the leader always starts again and finally catches up.
//!
//! openraft purges the log covered by a received snapshot while the state
//! machine is still writing that snapshot; a crash in between must not
//! leave a log compacted past the snapshot on disk.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);
const KILLS: usize = 24;

/// One UPDATE_WEIGHTS with `count` long role names, to make the registry
/// (and so the snapshot to install) large enough that installing it takes
/// a while.
fn bulk_weights(batch: usize, count: usize) -> Value {
    let infos: Vec<Value> = (0..count)
        .map(|i| json!({"role": format!("bulk-{batch}-{i}-{}", "r".repeat(180)), "weight": 2.0}))
        .collect();
    json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": infos}})
}

/// Sequential writes: each one is its own log entry.
async fn write_entries(c: &Cluster, first: usize, count: usize) {
    for i in first..first + count {
        c.write_weight(&format!("w{}", i % 16), 1.0 + i as f64, LIMIT)
            .await;
    }
}

/// Writes until the leader has compacted its log past `index`, so a
/// follower whose log ends there can only catch up by a snapshot install.
async fn compact_past(c: &Cluster, leader: u64, index: u64, written: &mut usize) {
    loop {
        let purged = c.status_u64(leader, "purged_index").await.unwrap_or(0);
        if purged > index {
            return;
        }
        write_entries(c, *written, 50).await;
        *written += 50;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_snapshot_install_always_restarts_and_catches_up() {
    let mut rng = SeededRng::from_env("kill_9_during_snapshot_install");
    let mut c = Cluster::start_with(3, |m| m.snapshot_logs(100));
    let leader = c.wait_leader(LIMIT).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let leader_addr = c.addr(leader);
    for batch in 0..8 {
        let (code, text) = c
            .operator_follow(&leader_addr, &bulk_weights(batch, 1000))
            .await
            .expect("leader answers");
        assert_eq!(code, 200, "bulk write refused: {text}");
    }

    c.kill9(follower);
    let mut written = 0;
    write_entries(&c, written, 1000).await;
    written += 1000;
    let bound = c.status_u64(leader, "last_log_index").await.unwrap_or(0);
    compact_past(&c, leader, bound, &mut written).await;

    // One undisturbed install, timed, to aim the kills at.
    let target = c.status_u64(leader, "purged_index").await.unwrap_or(0);
    let started = Instant::now();
    c.spawn(follower);
    wait_for("the first snapshot install", LIMIT, || async {
        (c.status_u64(follower, "snapshot_index").await? >= target).then_some(())
    })
    .await;
    let window_ms = started.elapsed().as_millis() as u64 * 3 / 2 + 50;
    eprintln!(
        "restart to installed snapshot: {:?}; kills within {window_ms} ms",
        started.elapsed()
    );

    for kill in 0..KILLS {
        c.kill9(follower);
        let bound = c.status_u64(leader, "last_log_index").await.unwrap_or(0);
        compact_past(&c, leader, bound, &mut written).await;
        c.spawn(follower);
        let delay = rng.below(window_ms);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(status) = c.master(follower).exited() {
            panic!(
                "master {follower} exited ({status}) {delay} ms after restart {kill}; \
                 that run's output:\n{}",
                c.master(follower).run_log_text()
            );
        }
        eprintln!("kill {kill}: kill -9 {delay} ms after the restart");
    }
    c.kill9(follower);

    c.spawn(follower);
    c.wait_caught_up(follower, leader, LIMIT).await;
    assert!(
        c.master(follower).exited().is_none(),
        "master {follower} stopped after catching up:\n{}",
        c.master(follower).log_text()
    );
}
