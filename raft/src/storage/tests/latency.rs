//! Cost of one durable append of a single small entry (reported, not
//! asserted: it depends on the disk). Run with `--nocapture` to see it.

use std::time::Instant;

use openraft::storage::RaftLogStorageExt;

use super::util::*;

#[tokio::test]
async fn durable_append_latency() {
    const N: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open_ok(dir.path()).await;
    log.blocking_append([normal(1, 1)]).await.unwrap();

    let entry_len = serde_json::to_vec(&normal(1, 2)).unwrap().len();
    let start = Instant::now();
    for i in 2..N + 2 {
        log.blocking_append([normal(1, i)]).await.unwrap();
    }
    let avg = start.elapsed() / N as u32;
    println!(
        "durable append of one {entry_len}-byte entry: {avg:?} on average over {N} appends (dir {})",
        dir.path().display()
    );
}
