//! Frameworks across failures, end to end on a real group and real
//! agents (SPEC 5, 6 and 9): a master failover while tasks run, a
//! framework failover within and past its `failover_timeout` (also across
//! a master failover), and an agent cut off from the group as seen by a
//! partition-aware and by an ordinary framework.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::agents::*;
use support::scheduler::*;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(30);

/// Fast pings, but long enough to come back after a failover that the
/// test can look at the agent while it is still recovered.
fn patient_health() -> AgentHealth {
    AgentHealth {
        reregister_timeout: Duration::from_secs(30),
        ..fast_health()
    }
}

/// A group with a leader and one active agent; the leader's id too.
async fn group_with(health: AgentHealth) -> (Cluster, AgentProc, String, u64) {
    let c = Cluster::start_with(3, |m| m.agent_health(health.clone()));
    let leader = c.wait_leader(ELECTION).await;
    let mut agent = AgentProc::new(&c, "a");
    agent.spawn();
    let (agent_id, _) = agent.wait_registered(1, LIMIT).await;
    c.wait_agents("the agent active on the leader", LIMIT, |s| {
        s.active.contains(&agent_id)
    })
    .await;
    (c, agent, agent_id, leader)
}

/// A framework's info with a failover timeout.
fn lasting(name: &str, partition_aware: bool, failover_timeout: f64) -> Value {
    let mut info = framework_info(name, partition_aware);
    info["failover_timeout"] = json!(failover_timeout);
    info
}

/// `info` naming the framework id it had.
fn with_id(mut info: Value, framework_id: &str) -> Value {
    info["id"] = json!({ "value": framework_id });
    info
}

/// A task that runs until `marker` exists, then finishes.
fn until_marker(offer: &Value, task_id: &str, marker: &Path) -> Value {
    let command = format!("while [ ! -e '{}' ]; do sleep 0.1; done", marker.display());
    task_for(offer, task_id, &command, 0.1, 16.0)
}

/// Waits until each of `tasks` reached `state`, acknowledging every
/// update on the way (an agent sends a task's next update only after the
/// previous one is acknowledged).
async fn wait_all(s: &mut TestScheduler, tasks: &[&str], state: &str) {
    let mut left: Vec<&str> = tasks.to_vec();
    while !left.is_empty() {
        let update = s.next_event("UPDATE", LIMIT).await;
        let status = &update["update"]["status"];
        if status.get("uuid").is_some() {
            assert_eq!(s.acknowledge(&update).await.code, 202);
        }
        if status["state"] == state {
            let id = status["task_id"]["value"].clone();
            left.retain(|t| id != *t);
        }
    }
}

/// Asks for `task_id` on `agent_id` by explicit reconciliation.
async fn reconcile(s: &TestScheduler, task_id: &str, agent_id: &str) {
    let call = json!({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": task_id}, "agent_id": {"value": agent_id}}]}});
    assert_eq!(s.call(call).await.code, 202);
}

/// A reconciliation answer about `task_id`.
async fn reconciled(s: &mut TestScheduler, task_id: &str) -> Value {
    s.next_matching("UPDATE", LIMIT, |e| {
        let status = &e["update"]["status"];
        status["task_id"]["value"] == task_id && status["reason"] == "REASON_RECONCILIATION"
    })
    .await
}

/// Waits until `addr`'s `/master/frameworks` document satisfies `check`.
async fn wait_frameworks(c: &Cluster, addr: &str, what: &str, check: impl Fn(&Value) -> bool) {
    wait_for(what, LIMIT, || async {
        let response = c.http.get(c.url(addr, "/master/frameworks")).send().await;
        let doc: Value = response.ok()?.json().await.ok()?;
        check(&doc).then_some(())
    })
    .await
}

/// Whether `list` (of a `/master/frameworks` document) has a framework
/// `id` that satisfies `check`.
fn lists(list: &Value, id: &str, check: impl Fn(&Value) -> bool) -> bool {
    list.as_array()
        .is_some_and(|all| all.iter().any(|f| f["id"] == id && check(f)))
}

/// Waits until `addr` lists `framework_id` among completed frameworks.
async fn wait_completed_framework(c: &Cluster, addr: &str, framework_id: &str) {
    let what = format!("framework {framework_id} completed on {addr}");
    wait_frameworks(c, addr, &what, |doc| {
        lists(&doc["completed_frameworks"], framework_id, |_| true)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failover_keeps_tasks_delivers_their_updates_and_reconciles_after_reregistration()
{
    let (mut c, mut agent, agent_id, first_leader) = group_with(patient_health()).await;
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("finish");
    let info = lasting("failover", true, 600.0);
    let leader = c.addr(first_leader);
    let mut s = TestScheduler::subscribe(&c, &leader, info.clone(), LIMIT).await;
    let fid = s.framework_id.clone();
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let tasks = vec![
        task_for(&offer, "long", "sleep 600", 0.1, 16.0),
        until_marker(&offer, "short", &marker),
    ];
    assert_eq!(s.launch(&offer, tasks, 0.0).await.code, 202);
    wait_all(&mut s, &["long", "short"], "TASK_RUNNING").await;

    // The leader dies; the short task ends while there is none.
    c.kill9(first_leader);
    std::fs::write(&marker, b"").unwrap();
    let others: Vec<u64> = (1..=3).filter(|id| *id != first_leader).collect();
    let second_leader = c.wait_leader_among(&others, ELECTION).await;
    drop(s);
    let info = with_id(info, &fid);
    let mut s = TestScheduler::subscribe(&c, &c.addr(second_leader), info.clone(), LIMIT).await;
    assert_eq!(s.framework_id, fid, "the same framework, failed over");
    // The update produced during the failover arrives, once the agent
    // re-registered with the new leader, and offers come again.
    let finished = s.wait_state("short", "TASK_FINISHED", LIMIT).await;
    assert_eq!(
        finished["update"]["status"]["agent_id"]["value"],
        agent_id.as_str()
    );
    s.next_event("OFFERS", LIMIT).await;
    reconcile(&s, "long", &agent_id).await;
    let answer = reconciled(&mut s, "long").await;
    assert_eq!(answer["update"]["status"]["state"], "TASK_RUNNING");

    // Again, with the agent paused through the failover: while it is
    // only recovered, the new leader does not know its tasks and must
    // not answer for them (SPEC 6); once it is back, it does.
    c.spawn(first_leader);
    c.wait_caught_up(first_leader, second_leader, LIMIT).await;
    agent.pause();
    c.kill9(second_leader);
    let others: Vec<u64> = (1..=3).filter(|id| *id != second_leader).collect();
    let third_leader = c.wait_leader_among(&others, ELECTION).await;
    drop(s);
    let mut s = TestScheduler::subscribe(&c, &c.addr(third_leader), info, LIMIT).await;
    reconcile(&s, "long", &agent_id).await;
    assert!(
        !s.sees("UPDATE", Duration::from_secs(3)).await,
        "an answer about a task on an agent that is still recovered"
    );
    agent.resume();
    agent.wait_registered(1, LIMIT).await;
    c.wait_agents("the agent back on the third leader", LIMIT, |seen| {
        seen.active.contains(&agent_id)
    })
    .await;
    reconcile(&s, "long", &agent_id).await;
    let answer = reconciled(&mut s, "long").await;
    assert_eq!(answer["update"]["status"]["state"], "TASK_RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_failover_keeps_tasks_within_its_timeout_and_removes_them_past_it() {
    let (mut c, _agent, agent_id, first_leader) = group_with(fast_health()).await;
    let leader = c.addr(first_leader);
    let mut s = TestScheduler::subscribe(&c, &leader, lasting("stays", false, 3.0), LIMIT).await;
    let fid = s.framework_id.clone();
    let info = with_id(lasting("stays", false, 3.0), &fid);
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "t", "sleep 600", 0.1, 16.0);
    assert_eq!(s.launch(&offer, vec![task], 0.0).await.code, 202);
    s.wait_state("t", "TASK_RUNNING", LIMIT).await;

    // Disconnected and back within the timeout: the task still runs.
    drop(s);
    let mut s = TestScheduler::subscribe(&c, &leader, info.clone(), LIMIT).await;
    reconcile(&s, "t", &agent_id).await;
    let answer = reconciled(&mut s, "t").await;
    assert_eq!(answer["update"]["status"]["state"], "TASK_RUNNING");

    // Away past it: removed, its task killed, its id refused.
    drop(s);
    wait_completed_framework(&c, &leader, &fid).await;
    c.wait_tasks("the task killed", LIMIT, |seen| {
        seen.completed
            .iter()
            .any(|t| t.id == "t" && t.state == "TASK_KILLED")
    })
    .await;
    let body = refused_subscription(&c, &leader, &info).await;
    assert!(body.contains("Framework has been removed"), "{body}");

    // A second framework disconnects just before the leader dies: the
    // new leader re-arms its failover timer from the registry and
    // removes it; the first stays refused there.
    let other = TestScheduler::subscribe(&c, &leader, lasting("other", false, 3.0), LIMIT).await;
    let other_id = other.framework_id.clone();
    drop(other);
    // Its disconnection is replicated before the leader dies: a write
    // after it is committed.
    wait_frameworks(&c, &leader, "the other framework disconnected", |doc| {
        lists(&doc["frameworks"], &other_id, |f| f["connected"] == false)
    })
    .await;
    c.write_weight("after-disconnection", 2.0, LIMIT).await;
    c.kill9(first_leader);
    let others: Vec<u64> = (1..=3).filter(|id| *id != first_leader).collect();
    let second = c.addr(c.wait_leader_among(&others, ELECTION).await);
    wait_completed_framework(&c, &second, &other_id).await;
    let body = refused_subscription(&c, &second, &info).await;
    assert!(body.contains("Framework has been removed"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_agent_s_tasks_are_unreachable_or_lost_by_framework_then_running_then_gone() {
    let (c, mut agent, agent_id, leader) = group_with(fast_health()).await;
    let leader = c.addr(leader);
    let mut aware = TestScheduler::subscribe(&c, &leader, framework_info("pa", true), LIMIT).await;
    let offers = aware.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "pa-task", "sleep 600", 0.1, 16.0);
    // The rest of the agent is refused for long: it goes to the other.
    assert_eq!(aware.launch(&offer, vec![task], 3600.0).await.code, 202);
    aware.wait_state("pa-task", "TASK_RUNNING", LIMIT).await;
    let mut plain =
        TestScheduler::subscribe(&c, &leader, framework_info("plain", false), LIMIT).await;
    let offers = plain.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "plain-task", "sleep 600", 0.1, 16.0);
    assert_eq!(plain.launch(&offer, vec![task], 0.0).await.code, 202);
    plain.wait_state("plain-task", "TASK_RUNNING", LIMIT).await;

    agent.pause();
    let unreachable = aware.wait_state("pa-task", "TASK_UNREACHABLE", LIMIT).await;
    assert!(
        unreachable["update"]["status"]["unreachable_time"]["nanoseconds"].is_number(),
        "{unreachable}"
    );
    let lost = plain.wait_state("plain-task", "TASK_LOST", LIMIT).await;
    assert_eq!(lost["update"]["status"]["reason"], "REASON_AGENT_REMOVED");
    for s in [&mut aware, &mut plain] {
        let failure = s.next_event("FAILURE", LIMIT).await;
        assert_eq!(failure["failure"]["agent_id"]["value"], agent_id.as_str());
    }

    agent.resume();
    for (s, task) in [(&mut aware, "pa-task"), (&mut plain, "plain-task")] {
        let back = s.wait_state(task, "TASK_RUNNING", LIMIT).await;
        assert_eq!(
            back["update"]["status"]["reason"], "REASON_AGENT_REREGISTERED",
            "{back}"
        );
    }

    assert_eq!(c.mark_agent_gone(&agent_id).await, Some(200));
    aware
        .wait_state("pa-task", "TASK_GONE_BY_OPERATOR", LIMIT)
        .await;
    let lost = plain.wait_state("plain-task", "TASK_LOST", LIMIT).await;
    assert_eq!(
        lost["update"]["status"]["reason"],
        "REASON_AGENT_REMOVED_BY_OPERATOR"
    );
}
