//! The operator API's event stream (`SUBSCRIBE` on `/api/v1`) as a test
//! reads it, and plain GETs of the v0 documents.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::scheduler::take_records;
use super::Cluster;

pub struct OperatorStream {
    events: mpsc::UnboundedReceiver<Value>,
    seen: VecDeque<Value>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for OperatorStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl OperatorStream {
    /// SUBSCRIBEs at the master `addr` (the leader).
    pub async fn subscribe(c: &Cluster, addr: &str) -> OperatorStream {
        // A client of its own: the cluster's has a per-request timeout,
        // which would cut the stream.
        let http = reqwest::Client::new();
        let mut response = http
            .post(c.url(addr, "/api/v1"))
            .header("Content-Type", "application/json")
            .body(json!({"type": "SUBSCRIBE"}).to_string())
            .send()
            .await
            .expect("the master answers SUBSCRIBE");
        assert_eq!(response.status().as_u16(), 200, "operator SUBSCRIBE");
        let (tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.extend_from_slice(&chunk);
                for event in take_records(&mut buffer) {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        OperatorStream {
            events,
            seen: VecDeque::new(),
            reader,
        }
    }

    /// The next event of type `kind` that `pred` accepts (others are kept
    /// for later); panics after `limit`.
    pub async fn next_matching(
        &mut self,
        kind: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.seen.iter().position(|e| e["type"] == kind && pred(e)) {
            return self.seen.remove(i).unwrap();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) if e["type"] == kind && pred(&e) => return e,
                Ok(Some(e)) => self.seen.push_back(e),
                Ok(None) => panic!(
                    "the operator stream ended waiting for {kind}: {:?}",
                    self.seen
                ),
                Err(_) => panic!("no {kind} operator event within {limit:?}: {:?}", self.seen),
            }
        }
    }
}

/// GET `path` of `addr`, 200 expected, as JSON.
pub async fn get_json(c: &Cluster, addr: &str, path: &str) -> Value {
    let response = c
        .http
        .get(c.url(addr, path))
        .send()
        .await
        .expect("the master answers");
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.expect("a JSON document")
}
