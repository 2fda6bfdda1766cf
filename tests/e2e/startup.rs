//! Forming a group and the start-up refusals that protect it.

use crate::support;

use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(20);

/// Waits until every running master reports the same, non-empty cluster
/// id (followers learn it when they apply the leader's first entry).
async fn one_cluster_id(c: &Cluster) {
    wait_for("one cluster id on every master", LIMIT, || async {
        let mut ids = Vec::new();
        for m in c.masters.iter().filter(|m| m.is_running()) {
            let s = c.status(m.id).await?;
            ids.push(s["cluster_id"].as_str()?.to_string());
        }
        ids.windows(2).all(|w| w[0] == w[1]).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_start_order_forms_exactly_one_group() {
    // Highest id first, the initializer last.
    let mut c = Cluster::create(3);
    c.spawn(3);
    c.spawn(2);
    let leader = c.leader_within(Duration::from_millis(800)).await;
    assert!(
        leader.is_none(),
        "masters 2 and 3 must wait for master 1 to initialize"
    );
    c.spawn(1);
    c.wait_leader(LIMIT).await;
    one_cluster_id(&c).await;

    // The initializer and one other: a majority is enough to begin; the
    // third joins the same group later.
    let mut c = Cluster::create(3);
    c.spawn(1);
    c.spawn(2);
    c.wait_leader(LIMIT).await;
    c.spawn(3);
    wait_for("master 3 follows", LIMIT, || async {
        let s = c.status(3).await?;
        s["leader_id"].as_u64().map(|_| ())
    })
    .await;
    one_cluster_id(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_work_dirs_that_are_not_its_own() {
    let mut c = Cluster::start(3);
    c.wait_leader(LIMIT).await;
    let peers = c.initial_peers();
    c.kill9(3);

    // The work dir of master 3 started as master 2.
    let m3_dir = c.masters[2].work_dir.clone();
    let as_master_2 = MasterCmd::new(2, c.addr(2), &m3_dir).peers(peers);
    let (code, out) = run_bounded(MESORAFT, &as_master_2.args(), LIMIT);
    assert!(matches!(code, Some(c) if c != 0), "{out}");
    assert!(out.contains("belongs to master 3"), "{out}");

    // A copy of a work dir (its id file gone) started as another master:
    // the Raft state's own identity record still names master 3.
    std::fs::remove_file(c.masters[2].work_dir.join("master.json")).unwrap();
    let peers_with_4 = [(1, c.addr(1)), (2, c.addr(2)), (4, c.addr(3))];
    let as_master_4 = MasterCmd::new(4, c.addr(3), &m3_dir).peers(peers_with_4);
    let (code, out) = run_bounded(MESORAFT, &as_master_4.args(), LIMIT);
    assert!(matches!(code, Some(c) if c != 0), "{out}");
    assert!(out.contains("belongs to master 3, not 4"), "{out}");

    // A work dir of this cluster pointed at another cluster's masters.
    let other = Cluster::start(3);
    other.wait_leader(LIMIT).await;
    c.kill9(1);
    let foreign = [(1, c.addr(1)), (2, other.addr(2)), (3, other.addr(3))];
    let (code, out) = c.run_to_exit(&c.bare_cmd(1).peers(foreign));
    assert!(matches!(code, Some(c) if c != 0), "{out}");
    assert!(out.contains("belongs to cluster"), "{out}");

    // Bad flags are refused before anything touches disk.
    let twice = [(1, "127.0.0.1:1"), (1, "127.0.0.1:2")];
    let (code, out) = c.run_to_exit(&c.bare_cmd(1).peers(twice));
    assert!(matches!(code, Some(c) if c != 0), "{out}");
    assert!(out.contains("listed twice"), "{out}");
    let (code, out) = c.run_to_exit(&c.bare_cmd(1));
    assert!(matches!(code, Some(c) if c != 0), "{out}");
    assert!(out.contains("--peers") && out.contains("--join"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_stays_quiet_while_its_peers_are_slow_to_answer() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let term = c.status_u64(leader, "term").await.expect("leader status");
    let restarted = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let slow = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader && *id != restarted)
        .unwrap();

    // A paused master accepts connections but never answers, so the
    // restarted master's start-up probes of it hang until they time out.
    c.pause(slow);
    c.restart(restarted);
    let seen = wait_for("the restarted master hears a leader", LIMIT, || async {
        let s = c.status(restarted).await?;
        s["millis_since_leader_contact"].as_u64()?;
        Some(s)
    })
    .await;
    assert_eq!(
        seen["term"].as_u64(),
        Some(term),
        "the restarted master campaigned before the leader reached it: {seen}"
    );
    assert_eq!(seen["leader_id"].as_u64(), Some(leader), "{seen}");
    let s = c.status(leader).await.expect("leader status");
    assert_eq!(s["role"], "leader", "{s}");
    assert_eq!(s["term"].as_u64(), Some(term), "{s}");
    c.resume(slow);
}

/// A master whose port is taken (here by a plain listener; in the wild by
/// another process or an outgoing connection's ephemeral port) must fail
/// before it opens its Raft storage: otherwise its Raft core runs, builds
/// snapshots and purges its log while the process is already on its way
/// out, and the error is buried under that core's last lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_whose_port_is_taken_fails_before_touching_its_storage() {
    let mut c = Cluster::start(3);
    c.wait_leader(LIMIT).await;
    c.kill9(3);
    let squatter = std::net::TcpListener::bind(c.addr(3)).expect("the port of master 3");
    let cmd = c.masters[2].cmd.clone();
    let (code, out) = c.run_to_exit(&cmd);
    assert_eq!(code, Some(1), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mesoraft: error: cannot listen on") && last.contains(&c.addr(3)),
        "the last line must say which port is taken:\n{out}"
    );
    assert!(
        !out.contains("openraft"),
        "the Raft core ran before the port was checked:\n{out}"
    );

    drop(squatter);
    c.spawn(3);
    wait_for("master 3 follows again", LIMIT, || async {
        c.status(3).await?["leader_id"].as_u64().map(|_| ())
    })
    .await;
}
