//! Member identity, end to end: a master that lost its work dir, or runs on
//! a restored copy of an old one, must not vote or acknowledge entries as
//! the member it was; removing and adding it again brings it back.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

/// A write every master has applied: after it, every member slot is bound
/// and every master took part in replication.
async fn write_everywhere(c: &Cluster, leader: u64, role: &str) {
    let (code, text) = c
        .operator_follow(&c.addr(leader), &update_weights(role, 1.0))
        .await
        .expect("leader answers");
    assert_eq!(code, 200, "{text}");
    let commit = c.status(leader).await.unwrap()["committed_index"]
        .as_u64()
        .unwrap();
    wait_for("every master applied the write", LIMIT, || async {
        for m in &c.masters {
            let s = c.status(m.id).await?;
            (s["applied_index"].as_u64()? >= commit).then_some(())?;
        }
        Some(())
    })
    .await;
}

/// The other two masters of a three-master group.
fn others(leader: u64) -> (u64, u64) {
    let mut rest = [1, 2, 3].into_iter().filter(|id| *id != leader);
    (rest.next().unwrap(), rest.next().unwrap())
}

/// Waits until `refused` says why it may not take part, or (on a build
/// without the identity checks) until one of `candidates` leads.
async fn refused_or_led(c: &Cluster, refused: u64, candidates: &[u64]) {
    wait_for("the wiped master refused, or a leader", LIMIT, || async {
        if let Some(s) = c.status(refused).await {
            if s["needs_readding"].is_string() {
                return Some(());
            }
        }
        for id in candidates {
            if c.status(*id).await?["role"] == "leader" {
                return Some(());
            }
        }
        None
    })
    .await
}

async fn status_of(c: &Cluster, id: u64) -> Value {
    c.status(id).await.expect("status answered")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The reproduction of the lost write: A (leader) and B acknowledge W
/// while C is paused; B and A are killed, A's disk is wiped and A restarts
/// with the same flags; C resumes and asks A for its vote before B is back.
/// A must refuse (it is a new incarnation), so W survives; `raftctl status`
/// shows A as needing re-adding, and `members add --replace` brings it back
/// as a working member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_master_is_refused_and_no_acknowledged_write_is_lost() {
    let mut c = Cluster::start(3);
    let a = c.wait_leader(LIMIT).await;
    let (b, cc) = others(a);
    write_everywhere(&c, a, "warm-up").await;

    c.pause(cc);
    let (code, text) = c
        .operator_follow(&c.addr(a), &update_weights("w", 7.0))
        .await
        .unwrap();
    assert_eq!(code, 200, "W acknowledged by A and B: {text}");
    c.kill9(b);
    c.kill9(a);
    std::fs::remove_dir_all(&c.master(a).work_dir).unwrap();
    c.spawn(a);
    c.resume(cc);
    refused_or_led(&c, a, &[a, cc]).await;
    c.spawn(b);
    let leader = c.wait_leader_among(&[b, cc], LIMIT).await;
    let w = c.read_weights(&c.addr(leader), LIMIT).await;
    assert_eq!(w.get("w"), Some(&7.0), "acknowledged write W lost: {w:?}");

    let s = status_of(&c, a).await;
    let why = s["needs_readding"].as_str().unwrap_or_default();
    assert!(
        why.contains("incarnation") && why.contains("members add --replace"),
        "{s}"
    );
    let (code, out, err) = c.raftctl(&["status"]);
    assert_eq!(
        code, 1,
        "a master needing re-adding is degraded: {out}{err}"
    );
    assert!(out.contains("needs re-adding"), "{out}");

    // The way back: remove the old incarnation and add the new one.
    let (code, out, err) = c.raftctl(&["members", "add", "--replace", &a.to_string(), &c.addr(a)]);
    assert_eq!(code, 0, "members add --replace: {out}{err}");
    wait_for("A is a member again", LIMIT, || async {
        let s = c.status(a).await?;
        (s["needs_readding"].is_null() && s["voter"] == true).then_some(())
    })
    .await;
    // A working member: with C gone, writes need A's acknowledgement.
    c.kill9(cc);
    c.write_weight("after-readd", 3.0, LIMIT).await;
    let leader = c.wait_leader(LIMIT).await;
    let w = c.weights_via(&c.addr(leader)).await.unwrap();
    assert_eq!(w.get("w"), Some(&7.0), "{w:?}");
    assert_eq!(w.get("after-readd"), Some(&3.0), "{w:?}");
    let (code, out, _) = c.raftctl(&["status"]);
    assert_eq!(code, 1, "C is down: {out}");
    assert!(!out.contains("needs re-adding"), "{out}");
}

/// The same hazard with a work dir restored from an old copy: A keeps its
/// incarnation id, but the group saw it run (and acknowledge entries)
/// after the copy was made, so its restored run is recognised as a stale
/// copy and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_old_work_dir_is_refused_and_no_acknowledged_write_is_lost() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let (a, cc) = others(leader);
    write_everywhere(&c, leader, "warm-up").await;

    // The backup: a copy of A's work dir, taken while A is down.
    c.kill9(a);
    let backup = c.dir.path().join("backup-of-a");
    copy_dir(&c.master(a).work_dir, &backup);
    c.spawn(a);
    for i in 0..5 {
        write_everywhere(&c, leader, &format!("after-backup-{i}")).await;
    }
    // C has seen A's new run (the leader's gossip): older builds keep no
    // such record, so this is a wait, not an assertion.
    let a_run_seen_by_c = poll_until(Duration::from_secs(10), || async {
        let s = c.status(cc).await?;
        let seen = s["witnessed"].as_object()?.values().any(|r| {
            r["node"].as_u64() == Some(a) && r["run"].as_u64().is_some_and(|run| run >= 2)
        });
        seen.then_some(())
    })
    .await;

    c.pause(cc);
    let (code, text) = c
        .operator_follow(&c.addr(leader), &update_weights("w", 7.0))
        .await
        .unwrap();
    assert_eq!(code, 200, "W acknowledged by the leader and A: {text}");
    c.kill9(leader);
    c.kill9(a);
    std::fs::remove_dir_all(&c.master(a).work_dir).unwrap();
    copy_dir(&backup, &c.master(a).work_dir);
    c.spawn(a);
    c.resume(cc);
    refused_or_led(&c, a, &[a, cc]).await;
    c.spawn(leader);
    let new_leader = c.wait_leader_among(&[leader, cc], LIMIT).await;
    let w = c.read_weights(&c.addr(new_leader), LIMIT).await;
    assert_eq!(w.get("w"), Some(&7.0), "acknowledged write W lost: {w:?}");
    assert!(a_run_seen_by_c.is_some(), "C never recorded A's new run");

    let s = status_of(&c, a).await;
    let why = s["needs_readding"].as_str().unwrap_or_default();
    assert!(why.contains("copy"), "{s}");
    let (code, out, _) = c.raftctl(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs re-adding"), "{out}");
}

/// Without the shortcut: `members remove`, then `members add` of the
/// wiped master (running with its old flags) makes it a working member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_master_comes_back_through_remove_then_add() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let (a, other) = others(leader);
    write_everywhere(&c, leader, "warm-up").await;
    // --replace is for a lost work dir, not for a healthy member.
    let (code, _, err) = c.raftctl(&["members", "add", "--replace", &a.to_string(), &c.addr(a)]);
    assert_ne!(code, 0);
    assert!(err.contains("answers as its member"), "{err}");

    c.kill9(a);
    std::fs::remove_dir_all(&c.master(a).work_dir).unwrap();
    c.spawn(a);
    wait_for(
        "the wiped master says it needs re-adding",
        LIMIT,
        || async { c.status(a).await?["needs_readding"].as_str().map(|_| ()) },
    )
    .await;
    // A plain add of a slot held by the old incarnation is refused.
    let (code, _, err) = c.raftctl(&["members", "add", &a.to_string(), &c.addr(a)]);
    assert_ne!(code, 0);
    assert!(err.contains("--replace"), "{err}");

    let (code, out, err) = c.raftctl(&["members", "remove", &a.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = c.raftctl(&["members", "add", &a.to_string(), &c.addr(a)]);
    assert_eq!(code, 0, "{out}{err}");
    c.kill9(other);
    c.write_weight("with-a", 2.0, LIMIT).await;
    let s = status_of(&c, a).await;
    assert!(s["needs_readding"].is_null(), "{s}");
    let w = c.weights_via(&c.addr(a)).await.unwrap();
    assert_eq!(w.get("warm-up"), Some(&1.0), "{w:?}");
    assert_eq!(w.get("with-a"), Some(&2.0), "{w:?}");
}

/// Re-adds a wiped master the way an operator does: once it says it
/// needs re-adding, `members add --replace`, until it is a voter again.
async fn replace_wiped(c: &mut Cluster, wiped: u64) {
    c.kill9(wiped);
    std::fs::remove_dir_all(&c.master(wiped).work_dir).unwrap();
    c.spawn(wiped);
    wait_for(
        "the wiped master says it needs re-adding",
        LIMIT,
        || async {
            c.status(wiped).await?["needs_readding"]
                .is_string()
                .then_some(())
        },
    )
    .await;
    let (code, out, err) = c.raftctl(&[
        "members",
        "add",
        "--replace",
        &wiped.to_string(),
        &c.addr(wiped),
    ]);
    assert_eq!(code, 0, "members add --replace {wiped}: {out}{err}");
    wait_for("the wiped master is a voter again", LIMIT, || async {
        let s = c.status(wiped).await?;
        (s["needs_readding"].is_null() && s["voter"] == true).then_some(())
    })
    .await;
}

/// Two disks lost one after the other, the first one the leader's, which
/// then leads again. The second master, re-added with an empty work dir,
/// replays the log from the start: its early entries bind the leader's
/// slot to the incarnation the leader replaced. It must still take the
/// leader's AppendEntries and catch up (it refused them, so it never
/// reached the entry that rebound the slot, and `--replace` could not
/// help any more: its work dir was no longer empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_replaying_old_bindings_catches_up_from_a_replaced_leader() {
    let mut c = Cluster::start(3);
    let first = c.wait_leader(LIMIT).await;
    write_everywhere(&c, first, "warm-up").await;
    // More log than one AppendEntries carries (1 MiB), between the entry
    // that bound `first`'s old incarnation and the one that rebinds it: a
    // master replaying the log stops in between once.
    for batch in 0..6 {
        let infos: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"role": format!("bulk-{batch}-{i:04}-{}", "x".repeat(200)), "weight": 1.0}))
            .collect();
        let call = serde_json::json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": infos}});
        let (code, text) = c
            .operator_follow(&c.addr(first), &call)
            .await
            .expect("answered");
        assert_eq!(code, 200, "{text:.300}");
    }
    replace_wiped(&mut c, first).await;
    // Stop whoever else leads until the replaced master leads.
    let mut leader = c.wait_leader(LIMIT).await;
    for _ in 0..20 {
        if leader == first {
            break;
        }
        let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
        c.pause(leader);
        let next = c.wait_leader_among(&rest, LIMIT).await;
        c.resume(leader);
        leader = next;
    }
    assert_eq!(leader, first, "the replaced master never led");
    write_everywhere(&c, leader, "led-by-the-replaced").await;
    replace_wiped(&mut c, others(first).0).await;
    let leader = c.wait_leader(LIMIT).await;
    write_everywhere(&c, leader, "after-second-replace").await;
}
