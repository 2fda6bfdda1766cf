//! The operator API's event stream (`SUBSCRIBE` on `/api/v1`) as a test
//! reads it, and plain GETs of the v0 documents.

use std::time::Duration;

use serde_json::{json, Value};

use super::records::EventStream;
use super::Cluster;

pub struct OperatorStream {
    events: EventStream,
}

impl OperatorStream {
    /// SUBSCRIBEs at the master `addr` (the leader).
    pub async fn subscribe(c: &Cluster, addr: &str) -> OperatorStream {
        // A client of its own: the cluster's has a per-request timeout,
        // which would cut the stream.
        let http = reqwest::Client::new();
        let response = http
            .post(c.url(addr, "/api/v1"))
            .header("Content-Type", "application/json")
            .body(json!({"type": "SUBSCRIBE"}).to_string())
            .send()
            .await
            .expect("the master answers SUBSCRIBE");
        assert_eq!(response.status().as_u16(), 200, "operator SUBSCRIBE");
        OperatorStream {
            events: EventStream::read("operator", response),
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
        self.events.next_matching(kind, limit, pred).await
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
