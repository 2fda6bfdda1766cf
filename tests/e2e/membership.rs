//! Membership changes and raftctl against real master processes.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_after_compaction_remove_and_replace_a_dead_master() {
    // Small snapshot interval so the log is compacted before master 4
    // joins: it can only catch up through a snapshot install.
    let mut c = Cluster::start_with(3, |m| m.snapshot_logs(20));
    let leader = c.wait_leader(LIMIT).await;
    for i in 0..120 {
        c.write_weight(&format!("role-{i}"), 1.0 + i as f64, LIMIT)
            .await;
    }
    wait_for("log compacted on the leader", LIMIT, || async {
        let text = c
            .http
            .get(format!("http://{}/metrics", c.addr(leader)))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let purged = text
            .lines()
            .find_map(|l| l.strip_prefix("mesoraft_raft_purged_index "))?
            .parse::<u64>()
            .ok()?;
        (purged > 20).then_some(())
    })
    .await;

    // Add master 4 (started with --join, uninitialized until added).
    let addr4 = c.start_joining(4, |m| m.stale_reads(true));
    let (code, out, err) = c.raftctl(&["members", "add", "4", &addr4, "--timeout", "60"]);
    assert_eq!(code, 0, "members add failed: {out}{err}");
    let s = c.status(leader).await.unwrap();
    assert!(
        s["membership"]["voters"]
            .as_array()
            .unwrap()
            .contains(&json!(4)),
        "{s}"
    );
    // Its registry came with the snapshot: read its local copy.
    let w = wait_for("master 4 has the data", LIMIT, || async {
        let (code, _, text) = c
            .operator(&addr4, &json!({"type": "GET_WEIGHTS"}))
            .await
            .ok()?;
        let w = parse_weights(&text).filter(|_| code == 200)?;
        (w.len() == 120).then_some(w)
    })
    .await;
    assert_eq!(w["role-119"], 120.0);

    // Remove a follower (not the leader) cleanly.
    let victim = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let (code, out, err) = c.raftctl(&["members", "remove", &victim.to_string()]);
    assert_eq!(code, 0, "members remove failed: {out}{err}");
    c.kill9(victim);
    c.write_weight("after-remove", 7.0, LIMIT).await;

    // Replace a dead master: kill another follower, add 5, remove the dead one.
    let dead = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader && *id != victim)
        .unwrap();
    c.kill9(dead);
    let addr5 = c.start_joining(5, |m| m);
    let (code, out, err) = c.raftctl(&["members", "add", "5", &addr5, "--timeout", "60"]);
    assert_eq!(code, 0, "members add 5 failed: {out}{err}");
    let (code, out, err) = c.raftctl(&["members", "remove", &dead.to_string()]);
    assert_eq!(code, 0, "members remove {dead} failed: {out}{err}");
    c.write_weight("after-replace", 8.0, LIMIT).await;
    let (code, out, _) = c.raftctl(&["members", "list"]);
    assert_eq!(code, 0);
    for id in [leader, 4, 5] {
        assert!(out.contains(&c.addr(id)), "members list misses {id}: {out}");
    }

    // Bad input gets a clear refusal and a non-zero exit.
    let (code, _, err) = c.raftctl(&["members", "remove", "42"]);
    assert_ne!(code, 0);
    assert!(!err.is_empty());
    let (code, _, _) = c.raftctl(&["members", "add", "6", "not-an-address"]);
    assert_ne!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raftctl_status_exit_codes() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let (code, out, err) = c.raftctl(&["status"]);
    assert_eq!(code, 0, "healthy group: {out}{err}");
    assert!(out.contains("leader"), "{out}");

    let (code, out, _) = c.raftctl(&["status", "-o", "json"]);
    assert_eq!(code, 0);
    let _: serde_json::Value = serde_json::from_str(&out).expect("status -o json prints JSON");

    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    c.kill9(follower);
    let (code, out, _) = c.raftctl(&["status"]);
    assert_eq!(code, 1, "one master down is degraded: {out}");

    let other = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader && *id != follower)
        .unwrap();
    c.kill9(other);
    // The lone leader may still call itself leader for a moment; once it
    // notices, or straight away from the quorum count, there is no quorum.
    let (code, out, _) = c.raftctl(&["status"]);
    assert_eq!(code, 2, "no quorum: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_removed_while_down_refuses_to_start() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let removed = [3, 2].into_iter().find(|id| *id != leader).unwrap();
    c.kill9(removed);
    let (code, out, err) = c.raftctl(&["members", "remove", &removed.to_string()]);
    assert_eq!(code, 0, "members remove failed: {out}{err}");
    let before = c.status(leader).await.expect("leader status");

    // Restarted with the flags it always had.
    let cmd = c.master(removed).cmd.clone();
    let (code, out) = c.run_to_exit(&cmd);
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit code {code:?}: {out}"
    );
    assert!(out.contains("removed from the group"), "{out}");
    assert!(
        out.contains("raftctl") && out.contains("members add"),
        "{out}"
    );

    let after = c.status(leader).await.expect("leader status");
    assert_eq!(after["role"], "leader", "{after}");
    assert_eq!(after["term"], before["term"], "{after}");
}
