//! Size limits: oversized input is refused with an answer naming the
//! limit, and writes at the limits replicate without stalling the group.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// The registry's limits, as the answers name them.
const MAX_ROLE_LEN: usize = 255;
const MAX_WEIGHT_INFOS: usize = 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

fn weights_call(infos: Vec<Value>) -> Value {
    json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": infos}})
}

/// The largest UPDATE_WEIGHTS the registry takes: the most roles per call,
/// each with the longest name.
fn largest_weights_call(weight: f64) -> Value {
    let infos = (0..MAX_WEIGHT_INFOS)
        .map(|i| {
            let prefix = format!("role-{i:04}-");
            let role = format!("{prefix}{}", "x".repeat(MAX_ROLE_LEN - prefix.len()));
            json!({"role": role, "weight": weight})
        })
        .collect();
    weights_call(infos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_input_is_refused_naming_the_limit() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    let addr = c.addr(leader);

    let long_role = "r".repeat(1024 * 1024 - 200);
    let (code, _, text) = c
        .operator(&addr, &update_weights(&long_role, 2.0))
        .await
        .unwrap();
    assert_eq!(code, 400, "a 1 MB role name must be refused: {text:.200}");
    assert!(text.contains(&MAX_ROLE_LEN.to_string()), "{text:.300}");
    assert!(
        text.len() < 2000,
        "the answer echoes the whole role: {} bytes",
        text.len()
    );

    let many: Vec<Value> = (0..20_000)
        .map(|i| json!({"role": format!("r{i}"), "weight": 1.0}))
        .collect();
    let (code, _, text) = c.operator(&addr, &weights_call(many)).await.unwrap();
    assert_eq!(
        code, 400,
        "20,000 roles in one call must be refused: {text:.200}"
    );
    assert!(text.contains(&MAX_WEIGHT_INFOS.to_string()), "{text:.300}");

    let huge = format!(
        r#"{{"type":"UPDATE_WEIGHTS","update_weights":{{"weight_infos":[{{"role":"{}","weight":1}}]}}}}"#,
        // Just over the limit: the whole body fits the socket buffers, so
        // the client is done writing before the master answers (a far
        // larger body can meet a closed connection while still sending).
        "r".repeat(MAX_BODY_BYTES + 4096)
    );
    let resp = c
        .http
        .post(format!("http://{addr}/api/v1"))
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let text = resp.text().await.unwrap();
    assert!(text.contains(&MAX_BODY_BYTES.to_string()), "{text}");

    for bad in [
        "", ".", "a/../b", "-a", "a b", "a\u{1}b", "a//b", "*/a", "a/",
    ] {
        let (code, _, text) = c.operator(&addr, &update_weights(bad, 1.0)).await.unwrap();
        assert_eq!(code, 400, "role {bad:?} must be refused: {text}");
    }
    // Any master may answer (after a redirect); a leader change on this
    // loaded machine only delays the answer.
    let w = c.read_weights(&addr, LIMIT).await;
    assert!(w.is_empty(), "a refused call changed the weights: {w:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_largest_writes_then_a_small_write_all_succeed() {
    let c = Cluster::start(3);
    c.wait_leader(LIMIT).await;

    let writes = (0..64).map(|n| {
        let body = largest_weights_call(1.0 + n as f64);
        let c = &c;
        // A group stalled by an entry it cannot replicate never answers
        // 200 again.
        async move {
            c.write_acknowledged(&format!("largest write {n}"), &body, LIMIT)
                .await
        }
    });
    futures::future::join_all(writes).await;
    c.write_weight("small", 3.0, LIMIT).await;

    let leader = c.wait_leader(LIMIT).await;
    for id in [1, 2, 3] {
        c.wait_caught_up(id, leader, LIMIT).await;
    }
    // Any master may answer (after a redirect); a leader change on this
    // loaded machine only delays the answer.
    let w = c.read_weights(&c.addr(leader), LIMIT).await;
    assert_eq!(w.len(), MAX_WEIGHT_INFOS + 1);
    assert_eq!(w.get("small"), Some(&3.0));
}
