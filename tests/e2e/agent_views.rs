//! The operator's views of the agents on a real master group, without
//! agent processes: GET_AGENTS, MARK_AGENT_GONE, `/master/slaves`,
//! `/master/state`, `/metrics/snapshot` and `raftctl status`. The leader
//! answers (with nothing to list); other masters redirect to it.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// `GET path` on `addr`: status, `Location`, body. No redirect following.
async fn get(c: &Cluster, addr: &str, path: &str) -> Option<(u16, Option<String>, String)> {
    let resp = c.http.get(c.url(addr, path)).send().await.ok()?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Some((status, location, resp.text().await.ok()?))
}

/// Asks `addr` until it answers `code` (a master just elected, or one
/// that has not heard of the leader yet, answers 503 meanwhile).
async fn get_until(c: &Cluster, addr: &str, path: &str, code: u16) -> (Option<String>, String) {
    wait_for(
        &format!("GET {path} on {addr} answered {code}"),
        LIMIT,
        || async {
            let (status, location, body) = get(c, addr, path).await?;
            (status == code).then_some((location, body))
        },
    )
    .await
}

async fn operator_until(
    c: &Cluster,
    addr: &str,
    call: &Value,
    code: u16,
) -> (Option<String>, String) {
    wait_for(
        &format!("{call} on {addr} answered {code}"),
        LIMIT,
        || async {
            let (status, location, body) = c.operator(addr, call).await.ok()?;
            (status == code).then_some((location, body))
        },
    )
    .await
}

/// An empty list is left out of Mesos's JSON; both mean "none".
fn empty_or_absent(v: &Value, key: &str) -> bool {
    v.get(key)
        .is_none_or(|l| l.as_array().is_some_and(|a| a.is_empty()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_views_come_from_the_leader_and_other_masters_redirect() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let leader_addr = c.addr(leader);
    let follower_addr = c.addr((1..=3).find(|id| *id != leader).unwrap());

    // GET_AGENTS: Mesos's shape, compact ASCII, nothing to list.
    let get_agents = json!({"type": "GET_AGENTS"});
    let (_, text) = operator_until(&c, &leader_addr, &get_agents, 200).await;
    assert!(text.is_ascii() && !text.contains('\n'), "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["type"], "GET_AGENTS", "{text}");
    for list in ["agents", "recovered_agents", "unreachable_agents"] {
        assert!(empty_or_absent(&answer["get_agents"], list), "{text}");
    }
    let (location, _) = operator_until(&c, &follower_addr, &get_agents, 307).await;
    assert_eq!(location, Some(format!("//{leader_addr}/api/v1")));

    // MARK_AGENT_GONE: an unknown id is 404; no id is 400 naming it.
    let gone = |id: &str| json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": id}}});
    let (_, body) = operator_until(&c, &leader_addr, &gone("no-such-agent"), 404).await;
    assert!(body.contains("no-such-agent"), "{body}");
    let (code, _, body) = c
        .operator(
            &leader_addr,
            &json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {}}),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("mark_agent_gone.agent_id"), "{body}");
    let (location, _) = operator_until(&c, &follower_addr, &gone("x"), 307).await;
    assert_eq!(location, Some(format!("//{leader_addr}/api/v1")));

    // The v0 documents, under both of Mesos's paths.
    let cluster_id = c.probe(leader).await.unwrap().cluster_id.unwrap();
    for path in ["/master/slaves", "/slaves"] {
        let (_, text) = get_until(&c, &leader_addr, path, 200).await;
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc, json!({"slaves": [], "recovered_slaves": []}), "{path}");
        let (location, _) = get_until(&c, &follower_addr, path, 307).await;
        assert_eq!(location, Some(format!("//{leader_addr}{path}")));
    }
    for path in ["/master/state", "/state"] {
        let (_, text) = get_until(&c, &leader_addr, path, 200).await;
        let state: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(state["leader"], format!("master@{leader_addr}"), "{text}");
        assert_eq!(
            state["leader_info"]["id"],
            format!("{cluster_id}-M{leader}"),
            "{text}"
        );
        assert_eq!(state["cluster"], cluster_id.as_str());
        for count in [
            "activated_slaves",
            "deactivated_slaves",
            "unreachable_slaves",
        ] {
            assert_eq!(state[count], 0, "{count}: {text}");
        }
        for list in [
            "slaves",
            "recovered_slaves",
            "frameworks",
            "completed_frameworks",
        ] {
            assert_eq!(state[list], json!([]), "{list}: {text}");
        }
        let (location, _) = get_until(&c, &follower_addr, path, 307).await;
        assert_eq!(location, Some(format!("//{leader_addr}{path}")));
    }

    // Metrics: any master answers; the leader is the elected one.
    let (_, text) = get_until(&c, &leader_addr, "/metrics/snapshot", 200).await;
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(snapshot["master/elected"], 1.0, "{text}");
    for key in [
        "master/slaves_active",
        "master/slaves_connected",
        "master/slaves_disconnected",
        "master/slaves_inactive",
        "master/slaves_unreachable",
        "master/slaves_recovered",
        "master/slave_unreachable_completed",
        "master/recovery_slave_removals",
        "master/recovery_agent_removals_refused",
    ] {
        assert_eq!(snapshot[key], 0.0, "{key}: {text}");
    }
    let (_, text) = get_until(&c, &follower_addr, "/metrics/snapshot", 200).await;
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(snapshot["master/elected"], 0.0, "{text}");
    let (_, text) = get_until(&c, &leader_addr, "/metrics", 200).await;
    assert!(
        text.contains("\nmesoraft_master_slaves_active 0\n"),
        "{text}"
    );

    // raftctl shows the leader's figures.
    let (code, out, err) = c.raftctl(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "agents:     0 registered, 0 recovered, 0 disconnected, 0 unreachable, 0 gone"
        ),
        "{out}"
    );
    let (code, out, err) = c.raftctl(&["status", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["verdict"]["agents"]["registered"], 0, "{out}");
    assert_eq!(
        doc["verdict"]["agents"]["recovery_removals_refused"], 0,
        "{out}"
    );
}
