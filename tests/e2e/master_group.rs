//! The replicated master group, end to end: real `mesoraft master`
//! processes on loopback.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_redirects_and_acknowledged_write_is_read_everywhere() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    let follower = c
        .masters
        .iter()
        .map(|m| m.id)
        .find(|id| *id != leader)
        .unwrap();

    let body = update_weights("web", 2.5);
    let (code, location, _) = c.operator(&c.addr(follower), &body).await.unwrap();
    assert_eq!(code, 307, "a follower must redirect operator writes");
    assert_eq!(
        location.as_deref(),
        Some(format!("//{}/api/v1", c.addr(leader)).as_str())
    );

    let (code, _, text) = c.operator(&c.addr(leader), &body).await.unwrap();
    assert_eq!(code, 200, "leader refused the write: {text}");
    for m in &c.masters {
        let w = c.weights_via(&m.addr).await.expect("GET_WEIGHTS answered");
        assert_eq!(w.get("web"), Some(&2.5), "master {} sees {w:?}", m.id);
    }

    // Shapes and status codes of the operator API.
    let (code, _, text) = c
        .operator(&c.addr(leader), &json!({"type": "GET_WEIGHTS"}))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "GET_WEIGHTS");
    assert_eq!(v["get_weights"]["weight_infos"][0]["role"], "web");
    let (code, _, _) = c
        .operator(&c.addr(leader), &json!({"type": "UPDATE_WEIGHTS"}))
        .await
        .unwrap();
    assert_eq!(code, 400);
    let (code, _, _) = c
        .operator(&c.addr(leader), &update_weights("web", -1.0))
        .await
        .unwrap();
    assert_eq!(code, 400, "negative weights are refused");
    let leader_addr = c.addr(leader);
    assert_eq!(
        c.post_raw(&leader_addr, "application/json", "{not json")
            .await,
        400
    );
    assert_eq!(c.post_raw(&leader_addr, "text/plain", "{}").await, 415);
    let (code, _, text) = c
        .operator(&c.addr(follower), &json!({"type": "GET_MASTER"}))
        .await
        .unwrap();
    assert_eq!(code, 307, "{text}");
    let (code, _, text) = c
        .operator(&c.addr(leader), &json!({"type": "GET_MASTER"}))
        .await
        .unwrap();
    assert_eq!(code, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["get_master"]["master_info"]["port"].as_u64(),
        Some(c.addr(leader).rsplit(':').next().unwrap().parse().unwrap())
    );

    // Tool endpoints on every master.
    for m in &c.masters {
        let v: serde_json::Value = c
            .http
            .get(format!("http://{}/version", m.addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["version"].is_string());
        let code = c
            .http
            .get(format!("http://{}/health", m.addr))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(code.as_u16(), 200);
        let text = c
            .http
            .get(format!("http://{}/metrics", m.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("mesoraft_raft_term "), "{text}");
        let resp = c
            .http
            .get(format!("http://{}/master/redirect", m.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 307);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            format!("//{}", c.addr(leader))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_new_leader_elected_and_old_node_catches_up() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    for i in 0..20 {
        c.write_weight(&format!("before-{i}"), 1.0 + i as f64, ELECTION)
            .await;
    }
    c.kill9(leader);
    let new_leader = c.wait_leader(ELECTION).await;
    assert_ne!(new_leader, leader);
    for i in 0..20 {
        c.write_weight(&format!("after-{i}"), 100.0 + i as f64, ELECTION)
            .await;
    }
    c.restart(leader);
    let target = c.status(new_leader).await.unwrap()["last_log_index"]
        .as_u64()
        .unwrap();
    wait_for("restarted master caught up", ELECTION, || async {
        let s = c.status(leader).await?;
        (s["applied_index"].as_u64()? >= target && s["leader_id"].as_u64() == Some(new_leader))
            .then_some(())
    })
    .await;
    let w = c
        .weights_via(&c.addr(leader))
        .await
        .expect("GET_WEIGHTS via the restarted master");
    for i in 0..20 {
        assert_eq!(w.get(&format!("before-{i}")), Some(&(1.0 + i as f64)));
        assert_eq!(w.get(&format!("after-{i}")), Some(&(100.0 + i as f64)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_mid_writes_keeps_every_acknowledged_write() {
    let mut c = Cluster::start_with(3, |m| m.snapshot_logs(50));
    let leader = c.wait_leader(ELECTION).await;
    let leader_addr = c.addr(leader);
    // Concurrent writers; record what was acknowledged, kill everything
    // while writes are still in flight.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let http = c.http.clone();
        let addr = leader_addr.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let role = format!("w{w}-{i}");
                let body = update_weights(&role, 1.0 + i as f64);
                let resp = http
                    .post(format!("http://{addr}/api/v1"))
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().as_u16() == 200 => {
                        acked.lock().unwrap().push((role, 1.0 + i as f64))
                    }
                    _ => break,
                }
            }
        }));
    }
    wait_for("some writes acknowledged", ELECTION, || async {
        (acked.lock().unwrap().len() >= 150).then_some(())
    })
    .await;
    for id in 1..=3 {
        c.kill9(id);
    }
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    for id in 1..=3 {
        c.restart(id);
    }
    c.wait_leader(ELECTION).await;
    let addr = c.addr(1);
    let weights = wait_for("GET_WEIGHTS after restart", ELECTION, || {
        c.weights_via(&addr)
    })
    .await;
    for (role, weight) in &acked {
        assert_eq!(
            weights.get(role),
            Some(weight),
            "acknowledged write {role} lost"
        );
    }
    // Each writer's acknowledged roles form a prefix: nothing out of order.
    for w in 0..8 {
        let present: Vec<u64> = weights
            .keys()
            .filter_map(|k| k.strip_prefix(&format!("w{w}-"))?.parse().ok())
            .collect();
        let max = present.iter().max().copied().unwrap_or(0);
        assert!(
            present.len() as u64 >= max,
            "writer {w} has holes: {present:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_nodes_never_serve_stale_reads_or_ack_writes() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    let follower = c
        .masters
        .iter()
        .map(|m| m.id)
        .find(|id| *id != leader)
        .unwrap();

    // A paused follower misses writes; resumed, it must redirect or refuse,
    // never answer from its stale copy.
    c.write_weight("r", 1.0, ELECTION).await;
    c.pause(follower);
    c.write_weight("r", 2.0, ELECTION).await;
    c.resume(follower);
    let (code, location, _) = c
        .operator(&c.addr(follower), &json!({"type": "GET_WEIGHTS"}))
        .await
        .unwrap();
    assert!(
        code == 307 || code == 503,
        "resumed follower answered {code}"
    );
    if code == 307 {
        assert_eq!(location.unwrap(), format!("//{}/api/v1", c.addr(leader)));
    }
    let w = c.weights_via(&c.addr(follower)).await.unwrap();
    assert_eq!(w["r"], 2.0);

    // A paused leader is replaced; when it wakes up it still believes it
    // leads, but must not answer a read or acknowledge a write.
    c.pause(leader);
    let new_leader = c.wait_leader(ELECTION).await;
    assert_ne!(new_leader, leader);
    c.write_weight("r", 3.0, ELECTION).await;
    c.resume(leader);
    let old = c.addr(leader);
    let (code, _, text) = c
        .operator(&old, &json!({"type": "GET_WEIGHTS"}))
        .await
        .unwrap();
    if code == 200 {
        assert_eq!(
            parse_weights(&text).unwrap()["r"],
            3.0,
            "stale read from a deposed leader"
        );
    }
    let (code, _, _) = c.operator(&old, &update_weights("r", 4.0)).await.unwrap();
    assert_ne!(code, 200, "a deposed leader acknowledged a write");
    // Healed: it follows the new leader again.
    wait_for("old leader follows", ELECTION, || async {
        let s = c.status(leader).await?;
        (s["role"] == "follower" && s["leader_id"].as_u64() == Some(new_leader)).then_some(())
    })
    .await;
    let w = c.weights_via(&old).await.unwrap();
    assert!(
        w["r"] == 3.0 || w["r"] == 4.0,
        "unexpected register value {w:?}"
    );
}
