//! Frameworks end to end through the Mesos v1 scheduler HTTP API, on a
//! real master group and real agents (SPEC 8 and 9): subscribe, offers,
//! launch, status updates and acknowledgements, decline with
//! refuse_seconds, revive, suppress, kill, shutdown of an executor,
//! reconcile, teardown, the HTTP rules (redirects, media types, stream
//! ids), and what operators see of it (views and the event stream).

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::agents::*;
use support::operator_stream::*;
use support::scheduler::*;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(30);

/// A group with a leader and one registered agent; returns the leader's
/// address too.
async fn group_with_agent() -> (Cluster, AgentProc, String, String) {
    support::agents::group_with_agent(ELECTION, LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_is_offered_launches_a_task_and_sees_it_run_and_finish() {
    let (c, _agent, agent_id, leader) = group_with_agent().await;
    let mut s = TestScheduler::subscribe(&c, &leader, framework_info("e2e", false), LIMIT).await;
    assert!(!s.framework_id.is_empty());
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    assert_eq!(offer["agent_id"]["value"], agent_id.as_str());
    assert_eq!(offer["framework_id"]["value"], s.framework_id.as_str());
    assert!(scalar(&offer, "cpus") > 0.0, "{offer}");
    assert!(
        offer["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "{offer}"
    );
    let task = task_for(&offer, "t1", "echo hello", 0.1, 32.0);
    let answer = s.launch(&offer, vec![task], 0.0).await;
    assert_eq!(answer.code, 202, "ACCEPT: {}", answer.body);
    s.wait_state("t1", "TASK_RUNNING", LIMIT).await;
    let finished = s.wait_state("t1", "TASK_FINISHED", LIMIT).await;
    assert_eq!(
        finished["update"]["status"]["agent_id"]["value"],
        agent_id.as_str()
    );
    // Once acknowledged, the leader forgets the task as live.
    c.wait_tasks("t1 completed", LIMIT, |s| {
        s.completed.iter().any(|t| t.id == "t1")
    })
    .await;
    // The resources came back: the rest of the agent and the freed task
    // resources come as one offer or two, depending on timing; declined
    // together, the whole agent is offered as one.
    let full = scalar(&offer, "cpus");
    let deadline = std::time::Instant::now() + LIMIT;
    let mut held: Vec<Value> = Vec::new();
    let again = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = s.next_event("OFFERS", left).await;
        held.extend(
            event["offers"]["offers"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(whole) = held.iter().find(|o| scalar(o, "cpus") >= full) {
            break whole.clone();
        }
        if held.iter().map(|o| scalar(o, "cpus")).sum::<f64>() >= full - 1e-9 {
            let ids: Vec<Value> = held.drain(..).map(|o| o["id"].clone()).collect();
            let decline = json!({"type": "DECLINE", "decline": {
                "offer_ids": ids, "filters": {"refuse_seconds": 0.0}}});
            assert_eq!(s.call(decline).await.code, 202);
        }
    };
    assert!(again["id"] != offer["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_offers_wait_refuse_seconds_unless_revived_and_suppress_stops_them() {
    let (c, _agent, _agent_id, leader) = group_with_agent().await;
    let mut s =
        TestScheduler::subscribe(&c, &leader, framework_info("decline", false), LIMIT).await;
    let offers = s.next_event("OFFERS", LIMIT).await;
    let decline = json!({"type": "DECLINE", "decline": {
        "offer_ids": [offers["offers"]["offers"][0]["id"]],
        "filters": {"refuse_seconds": 3600.0}}});
    assert_eq!(s.call(decline).await.code, 202);
    assert!(
        !s.sees("OFFERS", Duration::from_secs(3)).await,
        "offered again within the refusal"
    );
    assert_eq!(s.call(json!({"type": "REVIVE"})).await.code, 202);
    let offers = s.next_event("OFFERS", LIMIT).await;
    // SUPPRESS, then decline with no filter: nothing comes back.
    assert_eq!(s.call(json!({"type": "SUPPRESS"})).await.code, 202);
    let decline = json!({"type": "DECLINE", "decline": {
        "offer_ids": [offers["offers"]["offers"][0]["id"]],
        "filters": {"refuse_seconds": 0.0}}});
    assert_eq!(s.call(decline).await.code, 202);
    assert!(
        !s.sees("OFFERS", Duration::from_secs(3)).await,
        "offered while suppressed"
    );
    assert_eq!(s.call(json!({"type": "REVIVE"})).await.code, 202);
    s.next_event("OFFERS", LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_task_is_killed_and_unknown_tasks_are_answered_by_reconciliation() {
    let (c, _agent, agent_id, leader) = group_with_agent().await;
    let mut s = TestScheduler::subscribe(&c, &leader, framework_info("kill", true), LIMIT).await;
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "sleeper", "sleep 600", 0.1, 32.0);
    assert_eq!(s.launch(&offer, vec![task], 0.0).await.code, 202);
    s.wait_state("sleeper", "TASK_RUNNING", LIMIT).await;
    // Implicit reconciliation reports it running, without a uuid.
    assert_eq!(
        s.call(json!({"type": "RECONCILE", "reconcile": {}}))
            .await
            .code,
        202
    );
    let answer = s
        .next_matching("UPDATE", LIMIT, |e| {
            e["update"]["status"]["reason"] == "REASON_RECONCILIATION"
        })
        .await;
    assert_eq!(answer["update"]["status"]["state"], "TASK_RUNNING");
    assert!(answer["update"]["status"].get("uuid").is_none(), "{answer}");
    let kill = json!({"type": "KILL", "kill": {"task_id": {"value": "sleeper"}}});
    assert_eq!(s.call(kill).await.code, 202);
    s.wait_state("sleeper", "TASK_KILLED", LIMIT).await;
    // KILL of a task nobody launched, on a registered agent: TASK_GONE
    // for a partition-aware framework.
    let kill = json!({"type": "KILL", "kill": {
        "task_id": {"value": "never"}, "agent_id": {"value": agent_id}}});
    assert_eq!(s.call(kill).await.code, 202);
    let gone = s
        .next_matching("UPDATE", LIMIT, |e| {
            e["update"]["status"]["task_id"]["value"] == "never"
        })
        .await;
    assert_eq!(gone["update"]["status"]["state"], "TASK_GONE");
}

/// SHUTDOWN of an executor: the agent tells it to shut down, it kills its
/// task, and the task's end reaches the framework (a command task's
/// executor is named after the task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_executor_ends_its_task_killed() {
    let (c, _agent, agent_id, leader) = group_with_agent().await;
    let mut s = TestScheduler::subscribe(&c, &leader, framework_info("shut", false), LIMIT).await;
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "doomed", "sleep 600", 0.1, 32.0);
    assert_eq!(s.launch(&offer, vec![task], 0.0).await.code, 202);
    s.wait_state("doomed", "TASK_RUNNING", LIMIT).await;
    let shutdown = json!({"type": "SHUTDOWN", "shutdown": {
        "executor_id": {"value": "doomed"}, "agent_id": {"value": agent_id}}});
    let answer = s.call(shutdown).await;
    assert_eq!(answer.code, 202, "{}", answer.body);
    s.wait_state("doomed", "TASK_KILLED", LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_does_not_fit_or_uses_a_stale_offer_is_refused_with_its_reason() {
    let (c, _agent, _agent_id, leader) = group_with_agent().await;
    let mut s =
        TestScheduler::subscribe(&c, &leader, framework_info("refused", false), LIMIT).await;
    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let huge = task_for(&offer, "huge", "true", 10_000.0, 32.0);
    assert_eq!(s.launch(&offer, vec![huge], 0.0).await.code, 202);
    let error = s.wait_state("huge", "TASK_ERROR", LIMIT).await;
    assert_eq!(error["update"]["status"]["reason"], "REASON_TASK_INVALID");
    // The same offer again: it was used, so it is stale now.
    let late = task_for(&offer, "late", "true", 0.1, 32.0);
    assert_eq!(s.launch(&offer, vec![late], 0.0).await.code, 202);
    let lost = s.wait_state("late", "TASK_LOST", LIMIT).await;
    assert_eq!(lost["update"]["status"]["reason"], "REASON_INVALID_OFFERS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_rules_of_the_scheduler_api_hold() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let mut s =
        TestScheduler::subscribe(&c, &c.addr(leader), framework_info("http", false), LIMIT).await;
    // A follower redirects to the leader, keeping the path.
    let revive = json!({"type": "REVIVE", "framework_id": {"value": s.framework_id}});
    let follower_url = c.url(&c.addr(follower), "/api/v1/scheduler");
    let answer = s.call_at(&follower_url, &revive, Some(&s.stream_id)).await;
    assert_eq!(answer.code, 307, "{}", answer.body);
    assert_eq!(
        answer.location.as_deref(),
        Some(format!("//{}/api/v1/scheduler", c.addr(leader)).as_str())
    );
    // Calls need the stream id; a wrong one is a 400.
    let body = json!({"type": "REVIVE", "framework_id": {"value": s.framework_id}});
    assert_eq!(s.call_raw(&body, None).await.code, 400);
    assert_eq!(s.call_raw(&body, Some("not-the-stream")).await.code, 400);
    // A framework that never subscribed: 403.
    let stranger = json!({"type": "REVIVE", "framework_id": {"value": "nobody"}});
    assert_eq!(s.call_raw(&stranger, Some(&s.stream_id)).await.code, 403);
    // Malformed, unknown type, wrong field type: 400 naming the problem.
    for bad in [
        json!({"type": "NO_SUCH_CALL", "framework_id": {"value": s.framework_id}}),
        json!({"type": "KILL", "framework_id": {"value": s.framework_id}, "kill": {"task_id": 7}}),
    ] {
        let answer = s.call_raw(&bad, Some(&s.stream_id)).await;
        assert_eq!(answer.code, 400, "{bad}: {}", answer.body);
    }
    // Media types.
    let text = s
        .http
        .post(&s.url)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status().as_u16(), 415);
    let html = s
        .http
        .post(&s.url)
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(json!({"type": "REVIVE"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(html.status().as_u16(), 406);
    // Heartbeats arrive on the stream (15 s by default; the test waits
    // for one within its limit).
    s.next_event("HEARTBEAT", LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubscription_takes_over_and_a_torn_down_framework_is_refused_for_good() {
    let c = Cluster::start(3);
    let leader = c.addr(c.wait_leader(ELECTION).await);
    let mut first =
        TestScheduler::subscribe(&c, &leader, framework_info("failover", false), LIMIT).await;
    let mut info = framework_info("failover", false);
    info["id"] = json!({"value": first.framework_id});
    info["failover_timeout"] = json!(60.0);
    let second = TestScheduler::subscribe(&c, &leader, info.clone(), LIMIT).await;
    assert_eq!(second.framework_id, first.framework_id);
    let error = first.next_event("ERROR", LIMIT).await;
    assert_eq!(error["error"]["message"], "Framework failed over");
    assert!(first.stream_ends(LIMIT).await);
    // The old stream's id no longer works.
    let old = first.call(json!({"type": "REVIVE"})).await;
    assert_eq!(old.code, 400, "{}", old.body);
    assert_eq!(second.call(json!({"type": "TEARDOWN"})).await.code, 202);
    // Subscribing again with the removed id gets ERROR and the stream
    // ends.
    let body = refused_subscription(&c, &leader, &info).await;
    assert!(body.contains("Framework has been removed"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_frameworks_and_tasks_in_the_views_and_on_the_event_stream() {
    let (c, _agent, agent_id, leader) = group_with_agent().await;
    let mut watch = OperatorStream::subscribe(&c, &leader).await;
    let subscribed = watch.next_matching("SUBSCRIBED", LIMIT, |_| true).await;
    let state = &subscribed["subscribed"]["get_state"];
    assert_eq!(
        state["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        agent_id.as_str(),
        "{subscribed}"
    );

    let mut s = TestScheduler::subscribe(&c, &leader, framework_info("views", true), LIMIT).await;
    let fid = s.framework_id.clone();
    let added = watch
        .next_matching("FRAMEWORK_ADDED", LIMIT, |_| true)
        .await;
    let framework = &added["framework_added"]["framework"];
    assert_eq!(framework["framework_info"]["id"]["value"], fid.as_str());
    assert_eq!(framework["active"], true, "{added}");

    let offers = s.next_event("OFFERS", LIMIT).await;
    let offer = offers["offers"]["offers"][0].clone();
    let task = task_for(&offer, "long", "sleep 600", 0.25, 32.0);
    assert_eq!(s.launch(&offer, vec![task], 0.0).await.code, 202);
    let task_added = watch.next_matching("TASK_ADDED", LIMIT, |_| true).await;
    assert_eq!(task_added["task_added"]["task"]["task_id"]["value"], "long");
    assert_eq!(task_added["task_added"]["task"]["state"], "TASK_STAGING");
    s.wait_state("long", "TASK_RUNNING", LIMIT).await;
    watch
        .next_matching("TASK_UPDATED", LIMIT, |e| {
            e["task_updated"]["state"] == "TASK_RUNNING"
        })
        .await;

    // v1: GET_FRAMEWORKS and GET_STATE.
    let (code, body) = c
        .operator_follow(&leader, &json!({"type": "GET_FRAMEWORKS"}))
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed = &doc["get_frameworks"]["frameworks"][0];
    assert_eq!(listed["framework_info"]["id"]["value"], fid.as_str());
    assert_eq!(listed["connected"], true);
    let cpus = |list: &serde_json::Value| -> f64 {
        list.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == "cpus")
            .map(|r| r["scalar"]["value"].as_f64().unwrap_or(0.0))
            .sum()
    };
    assert!(
        (cpus(&listed["allocated_resources"]) - 0.25).abs() < 1e-9,
        "{body}"
    );
    let (code, body) = c
        .operator_follow(&leader, &json!({"type": "GET_STATE"}))
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let state = &doc["get_state"];
    assert_eq!(state["get_tasks"]["tasks"][0]["task_id"]["value"], "long");
    assert_eq!(state["get_tasks"]["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(
        state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        fid.as_str()
    );
    let agent = &state["get_agents"]["agents"][0];
    assert!(
        (cpus(&agent["allocated_resources"]) - 0.25).abs() < 1e-9,
        "{body}"
    );

    // v0: /master/frameworks, /master/tasks, /master/state.
    let frameworks = get_json(&c, &leader, "/master/frameworks").await;
    let f = &frameworks["frameworks"][0];
    assert_eq!(f["id"], fid.as_str(), "{frameworks}");
    assert_eq!(f["tasks"][0]["id"], "long");
    assert_eq!(f["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(f["used_resources"]["cpus"], 0.25);
    let tasks = get_json(&c, &leader, "/master/tasks").await;
    assert_eq!(tasks["tasks"][0]["id"], "long", "{tasks}");
    assert_eq!(tasks["tasks"][0]["slave_id"], agent_id.as_str());
    let state = get_json(&c, &leader, "/master/state").await;
    assert_eq!(state["frameworks"][0]["id"], fid.as_str());
    assert_eq!(state["slaves"][0]["used_resources"]["cpus"], 0.25);

    // Mesos's figures: published by the leader at most 100 ms late.
    wait_for("the task and framework in the metrics", LIMIT, || async {
        let figures = get_json(&c, &leader, "/metrics/snapshot").await;
        (figures["master/tasks_running"] == 1.0
            && figures["master/frameworks_active"] == 1.0
            && figures["master/frameworks_connected"] == 1.0)
            .then_some(())
    })
    .await;

    // Teardown: the framework is removed and its task killed.
    assert_eq!(s.call(json!({"type": "TEARDOWN"})).await.code, 202);
    let removed = watch
        .next_matching("FRAMEWORK_REMOVED", LIMIT, |_| true)
        .await;
    assert_eq!(
        removed["framework_removed"]["framework_info"]["id"]["value"],
        fid.as_str()
    );
    watch
        .next_matching("TASK_UPDATED", LIMIT, |e| {
            e["task_updated"]["state"] == "TASK_KILLED"
        })
        .await;
    let frameworks = get_json(&c, &leader, "/master/frameworks").await;
    assert_eq!(frameworks["frameworks"], json!([]), "{frameworks}");
    assert_eq!(frameworks["completed_frameworks"][0]["id"], fid.as_str());
    wait_for("the killed task counted", LIMIT, || async {
        let figures = get_json(&c, &leader, "/metrics/snapshot").await;
        (figures["master/tasks_killed"] == 1.0 && figures["master/tasks_running"] == 0.0)
            .then_some(())
    })
    .await;
}
