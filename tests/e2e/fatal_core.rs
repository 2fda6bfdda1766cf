//! A master whose Raft core stopped on a fatal error exits non-zero with a
//! log line saying so, so that a supervisor restarts it.

use crate::support;

use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_stops_the_master_with_a_clear_message() {
    let mut c = Cluster::start_with(3, |m| m.snapshot_logs(50));
    let leader = c.wait_leader(LIMIT).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();

    // The follower's next snapshot cannot be written: its snapshot
    // directory is replaced by a plain file underneath it.
    let snapshots = c.master(follower).work_dir.join("raft").join("snapshots");
    std::fs::remove_dir_all(&snapshots).expect("remove the snapshot dir");
    std::fs::write(&snapshots, b"not a directory").expect("put a file in its place");

    for i in 0..120 {
        c.write_weight(&format!("r{}", i % 8), 1.0 + i as f64, LIMIT)
            .await;
    }

    let work_dir = c.master(follower).work_dir.display().to_string();
    let status = c.master(follower).wait_exit(LIMIT).await;
    let log = c.master(follower).log_text();
    let status = status
        .unwrap_or_else(|| panic!("master {follower} still runs with a stopped Raft core:\n{log}"));
    assert!(!status.success(), "exit status {status}:\n{log}");
    let line = log
        .lines()
        .find(|l| l.contains("Raft core stopped"))
        .unwrap_or_else(|| panic!("no 'Raft core stopped' line:\n{log}"));
    eprintln!("master {follower} logged: {line}");
    assert!(line.contains("supervisor"), "{line}");
    assert!(line.contains(&work_dir), "{line}");

    // The other two carry on.
    c.write_weight("after", 1.0, LIMIT).await;
}
