//! Outcome classification against tiny scripted HTTP servers.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection with `reply(request_text)`; `None` = never
/// answer (hold the connection open).
async fn serve(reply: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reply = std::sync::Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read headers and a Content-Length body.
                loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                match reply(&text) {
                    Some(resp) => {
                        let _ = sock.write_all(resp.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    addr
}

fn http(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

fn client(allowed: &[&str]) -> ApiClient {
    ApiClient::new(
        allowed.iter().map(|s| s.to_string()).collect(),
        Duration::from_millis(400),
    )
    .unwrap()
}

#[tokio::test]
async fn ok_answers_and_redirects() {
    let leader = serve(|req| {
        assert!(req.contains("content-type: application/json") || req.contains("Content-Type: application/json"));
        Some(if req.contains("GET_WEIGHTS") {
            http(
                "200 OK",
                "Content-Type: application/json\r\n",
                r#"{"type":"GET_WEIGHTS","get_weights":{"weight_infos":[{"role":"a","weight":2.0}]}}"#,
            )
        } else {
            http("200 OK", "", "")
        })
    })
    .await;
    let leader2 = leader.clone();
    let follower = serve(move |_| {
        Some(http(
            "307 Temporary Redirect",
            &format!("Location: //{leader2}/api/v1\r\n"),
            "",
        ))
    })
    .await;
    let c = client(&[&leader, &follower]);
    let (o, node) = c.operator(&follower, &get_weights(), false).await;
    assert_eq!(node, leader, "recorded against the node finally reached");
    let Outcome::Ok(v) = o else { panic!("{o:?}") };
    assert_eq!(parse_weights(&v).unwrap().get("a"), Some(&2.0));
    let (o, _) = c
        .operator(&follower, &update_weights(&[("a".into(), 3.0)]), true)
        .await;
    assert_eq!(o, Outcome::Ok(Value::Null));

    // A redirect to a node being avoided (it just timed out) is a definite
    // failure, recorded against the node that redirected.
    let (o, node) = c
        .operator_avoiding(
            &follower,
            &update_weights(&[("a".into(), 4.0)]),
            true,
            std::slice::from_ref(&leader),
        )
        .await;
    assert!(matches!(o, Outcome::Fail(_)), "{o:?}");
    assert_eq!(node, follower);

    // A redirect outside the cluster is never followed.
    let c = client(&[&follower]);
    let (o, node) = c.operator(&follower, &get_weights(), false).await;
    assert!(matches!(o, Outcome::Fail(_)), "{o:?}");
    assert_eq!(node, follower);
}

#[tokio::test]
async fn definite_and_unknown_failures() {
    let unavailable = serve(|_| Some(http("503 Service Unavailable", "", "no leader"))).await;
    let bad = serve(|_| Some(http("400 Bad Request", "", "nope"))).await;
    let gateway = serve(|_| Some(http("504 Gateway Timeout", "", "unknown"))).await;
    let silent = serve(|_| None).await;
    // A port with nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let c = client(&[&unavailable, &bad, &gateway, &silent, &closed]);
    let w = update_weights(&[("a".into(), 1.0)]);
    let r = get_weights();
    let is_fail = |o: &Outcome| matches!(o, Outcome::Fail(_));
    let is_info = |o: &Outcome| matches!(o, Outcome::Info(_));

    assert!(is_fail(&c.operator(&unavailable, &w, true).await.0));
    assert!(is_fail(&c.operator(&bad, &w, true).await.0));
    assert!(is_info(&c.operator(&gateway, &w, true).await.0));
    assert!(is_fail(&c.operator(&gateway, &r, false).await.0));
    let start = Instant::now();
    assert!(is_info(&c.operator(&silent, &w, true).await.0));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "bounded by the op timeout"
    );
    assert!(is_fail(&c.operator(&silent, &r, false).await.0));
    let o = c.operator(&closed, &w, true).await.0;
    assert!(
        is_fail(&o),
        "connection refused is a definite failure: {o:?}"
    );
}

#[test]
fn parses_weights_and_status() {
    let v = serde_json::json!({"get_weights": {"weight_infos": [{"role": "x", "weight": "1.5"}, {"role": "y", "weight": 2}]}});
    let w = parse_weights(&v).unwrap();
    assert_eq!(w["x"], 1.5);
    assert_eq!(w["y"], 2.0);
    let s: RaftStatus = serde_json::from_str(
        r#"{"id":2,"address":"a:1","role":"follower","leader_id":1,"term":4,"last_log_index":9,
            "committed_index":9,"applied_index":9,"membership":{"voters":[1,2,3],"learners":[],"nodes":{"1":"a"}},
            "extra":true}"#,
    )
    .unwrap();
    assert_eq!(s.leader_id, Some(1));
    assert_eq!(s.membership.voters, vec![1, 2, 3]);
    assert!(!s.is_leader());
}
