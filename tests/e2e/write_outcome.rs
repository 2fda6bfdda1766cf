//! What a client is told about a write whose entry may have been appended.
//!
//! openraft answers ForwardToLeader both when it refuses a write before
//! appending it and after a newer leader truncated the appended entry; with
//! four or more voters a third leader holding a copy can still commit such
//! an entry. A "definitely failed" answer (307/503) there invites the
//! client to resend, and the command applies twice. Once handed to Raft, a
//! write that did not commit must be answered 504 (outcome unknown).

use crate::support;

use std::time::Duration;

use support::*;

const ELECTION: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_truncated_on_a_deposed_leader_is_answered_outcome_unknown() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    c.write_weight("before", 1.0, ELECTION).await;
    let followers: Vec<u64> = c
        .masters
        .iter()
        .map(|m| m.id)
        .filter(|id| *id != leader)
        .collect();
    let appended_before = c
        .status_u64(leader, "last_log_index")
        .await
        .expect("leader status");

    // The write reaches the leader's log only: its followers are down.
    // (Stopped followers would not do: the kernel keeps the leader's
    // AppendEntries in their sockets and they take the entry on resuming.)
    for f in &followers {
        c.kill9(*f);
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("http://{}/api/v1", c.addr(leader));
    let write = tokio::spawn(async move {
        let resp = http
            .post(url)
            .header("Content-Type", "application/json")
            .body(update_weights("lost", 2.0).to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = resp.status().as_u16();
        Ok::<_, String>((code, resp.text().await.unwrap_or_default()))
    });
    wait_for("the write appended on the leader", ELECTION, || async {
        let index = c.status_u64(leader, "last_log_index").await?;
        (index > appended_before).then_some(())
    })
    .await;

    // The followers come back and elect a new leader without that entry
    // while the old one is stopped; when it resumes, the new leader's log
    // replaces its own and the waiting write gets openraft's
    // ForwardToLeader.
    c.pause(leader);
    for f in &followers {
        c.spawn(*f);
    }
    let new_leader = wait_for("a new leader among the followers", ELECTION, || async {
        for f in &followers {
            let s = c.status(*f).await?;
            if s["role"] == "leader" {
                return Some(*f);
            }
        }
        None
    })
    .await;
    c.resume(leader);

    let (code, text) = write.await.unwrap().expect("the leader answers");
    assert_eq!(
        code, 504,
        "a write that was appended and then truncated must be answered 'outcome unknown', \
         not {code}: {text}"
    );
    // It was truncated for good (three voters): nobody applies it.
    c.wait_caught_up(leader, new_leader, ELECTION).await;
    for m in &c.masters {
        let w = wait_for("GET_WEIGHTS answered", ELECTION, || c.weights_via(&m.addr)).await;
        assert!(!w.contains_key("lost"), "master {} applied it: {w:?}", m.id);
        assert_eq!(w.get("before"), Some(&1.0));
    }
}
