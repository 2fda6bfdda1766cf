//! The master's port tells gRPC from HTTP by protocol: only HTTP/2 requests
//! with a gRPC content type reach the peers' gRPC service; any other
//! request to an unknown path is a plain 404 naming the endpoints, and a
//! known path with the wrong method a 405.

use crate::support;

use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Status, content type and body of `method path` on `addr`.
async fn send(c: &Cluster, addr: &str, method: &str, path: &str) -> (u16, String, String) {
    let resp = c
        .http
        .request(method.parse().unwrap(), c.url(addr, path))
        .send()
        .await
        .expect("the master answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let c = Cluster::start(1);
    let leader = c.wait_leader(LIMIT).await;
    let addr = c.addr(leader);

    for (method, path) in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("GET", "/master/nothing-here"),
        ("POST", "/api/v1/nothing"),
        // A gRPC path asked over plain HTTP/1.1 is not a gRPC call.
        ("POST", "/mesoraft.raft.Raft/Vote"),
    ] {
        let (status, content_type, body) = send(&c, &addr, method, path).await;
        assert_eq!(status, 404, "{method} {path}: {content_type} {body:?}");
        assert!(
            content_type.starts_with("text/plain"),
            "{method} {path}: {content_type}"
        );
        assert!(
            body.contains(path) && body.contains("/raft/status") && body.contains("/api/v1"),
            "{method} {path}: the answer names the request and the endpoints: {body}"
        );
    }

    for (method, path) in [
        ("DELETE", "/version"),
        ("GET", "/api/v1"),
        ("GET", "/api/v1/scheduler"),
        ("POST", "/raft/status"),
    ] {
        let (status, _, _) = send(&c, &addr, method, path).await;
        assert_eq!(status, 405, "{method} {path}");
    }

    // Every endpoint the 404 names is routed.
    for path in [
        "/version",
        "/health",
        "/metrics",
        "/raft/status",
        "/raft/members",
    ] {
        let (status, _, _) = send(&c, &addr, "GET", path).await;
        assert_ne!(status, 404, "GET {path}");
    }
}
