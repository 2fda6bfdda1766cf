//! raftctl end to end against tiny fake masters on loopback: real HTTP,
//! real parallel gathering, the exit code path. Ports are always free ones
//! (bound to :0); nothing sleeps for a fixed time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use mesoraft_ctl::{execute, Args, CtlError};

async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

fn serve(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// A master that accepts connections and never answers.
async fn silent() -> String {
    let (l, addr) = bind().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

/// An address where nothing listens: bound, then released.
fn refused() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn serve_status(listener: TcpListener, status: Value) {
    serve(
        listener,
        Router::new().route("/raft/status", get(move || async move { Json(status) })),
    );
}

fn status(id: u64, addr: &str, role: &str, leader: Option<u64>, nodes: &[(u64, &str)]) -> Value {
    let voters: Vec<u64> = nodes.iter().map(|(i, _)| *i).collect();
    let map: serde_json::Map<String, Value> = nodes
        .iter()
        .map(|(i, a)| (i.to_string(), json!(a)))
        .collect();
    let leader_addr = leader
        .and_then(|l| nodes.iter().find(|(i, _)| *i == l))
        .map(|(_, a)| *a);
    let replication = (role == "leader").then(|| {
        nodes
            .iter()
            .filter(|(i, _)| *i != id)
            .map(|(i, _)| (i.to_string(), json!({"matched_index": 42, "lag": 0})))
            .collect::<serde_json::Map<String, Value>>()
    });
    json!({
        "id": id, "address": addr, "cluster_id": "c0ffee", "role": role,
        "leader_id": leader, "leader_address": leader_addr, "term": 3,
        "last_log_index": 42, "committed_index": 42, "applied_index": 42,
        "millis_since_leader_contact": 15, "voter": true,
        "membership": {"voters": voters, "learners": [], "nodes": map},
        "replication": replication, "elections_seen": 1, "leader_changes": 1,
        "recovery_warning": null
    })
}

fn args(argv: &[&str]) -> Args {
    let mut full = vec!["raftctl"];
    full.extend_from_slice(argv);
    Args::try_parse_from(full).unwrap()
}

async fn run(argv: &[&str]) -> (Result<u8, CtlError>, String) {
    let mut out = Vec::new();
    let r = execute(args(argv), &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn healthy_fake_group_exits_0() {
    let (l1, a1) = bind().await;
    let (l2, a2) = bind().await;
    let (l3, a3) = bind().await;
    let nodes = [(1, a1.as_str()), (2, a2.as_str()), (3, a3.as_str())];
    serve_status(l1, status(1, &a1, "leader", Some(1), &nodes));
    serve_status(l2, status(2, &a2, "follower", Some(1), &nodes));
    serve_status(l3, status(3, &a3, "follower", Some(1), &nodes));

    let masters = format!("{a1},{a2},{a3}");
    let (r, out) = run(&["--masters", &masters, "status"]).await;
    assert_eq!(r.unwrap(), 0, "{out}");
    assert!(out.contains("health:     HEALTHY (exit 0)"), "{out}");
    assert!(out.contains("tolerance:  1 more master may fail"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" follower ")).count(),
        2,
        "{out}"
    );
}

#[tokio::test]
async fn silent_refused_and_malformed_masters_end_up_in_their_rows() {
    let (l1, a1) = bind().await;
    let (l2, a2) = bind().await;
    let a3 = silent().await;
    let dead = refused();
    let (lbad, abad) = bind().await;
    let nodes = [(1, a1.as_str()), (2, a2.as_str()), (3, a3.as_str())];
    serve_status(l1, status(1, &a1, "leader", Some(1), &nodes));
    serve_status(l2, status(2, &a2, "follower", Some(1), &nodes));
    serve(
        lbad,
        Router::new().route(
            "/raft/status",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"id\": \"one\"",
                )
            }),
        ),
    );

    // Only master 1 is listed from the group: 2 and 3 come from its
    // membership.
    let masters = format!("{a1},{dead},{abad}");
    let started = Instant::now();
    let (r, out) = run(&[
        "--masters",
        &masters,
        "--timeout",
        "300ms",
        "status",
        "-o",
        "json",
    ])
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        r.unwrap(),
        1,
        "one voter silent, strangers listed: degraded\n{out}"
    );
    // Asked in parallel: one timeout per discovery round, not one per master.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    let doc: Value = serde_json::from_str(&out).unwrap();
    let rows = doc["masters"].as_array().unwrap();
    let row = |addr: &str| {
        rows.iter()
            .find(|r| r["address"] == addr)
            .unwrap_or_else(|| panic!("no row {addr}: {out}"))
    };
    assert_eq!(row(&a1)["role"], "leader");
    assert_eq!(row(&a2)["listed"], false);
    assert_eq!(row(&a2)["role"], "follower");
    assert_eq!(row(&a3)["id"], 3, "id from the membership");
    assert_eq!(row(&a3)["reachable"], false);
    assert_eq!(row(&a3)["member"], "voter");
    assert!(
        row(&a3)["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 300ms"),
        "{out}"
    );
    assert!(
        row(&dead)["error"].as_str().unwrap().contains("refused"),
        "{out}"
    );
    assert_eq!(row(&dead)["id"], Value::Null);
    assert!(
        row(&abad)["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed /raft/status answer"),
        "{out}"
    );
    let v = &doc["verdict"];
    assert_eq!(v["quorum"], true);
    assert_eq!(v["voters_following_leader"], 2);
    assert_eq!(v["failures_tolerated"], 0);
    assert_eq!(v["exit_code"], 1);
}

#[tokio::test]
async fn lone_leader_has_no_quorum_and_the_table_shows_it() {
    let (l1, a1) = bind().await;
    let a2 = silent().await;
    let a3 = refused();
    let nodes = [(1, a1.as_str()), (2, a2.as_str()), (3, a3.as_str())];
    serve_status(l1, status(1, &a1, "leader", Some(1), &nodes));

    let masters = format!("{a1},{a2},{a3}");
    let (r, out) = run(&["--masters", &masters, "--timeout", "200ms", "status"]).await;
    assert_eq!(r.unwrap(), 2, "{out}");
    assert!(out.contains("quorum:     NO, 1 of 3 voters"), "{out}");
    let line3 = out.lines().find(|l| l.contains(&a3)).unwrap();
    assert!(
        line3.contains("unreachable") && line3.contains("refused"),
        "{line3}"
    );
}

#[tokio::test]
async fn nothing_reachable_is_critical_not_an_error() {
    let (r, out) = run(&["--masters", &refused(), "status"]).await;
    assert_eq!(r.unwrap(), 2, "{out}");
    assert!(out.contains("no master answered"), "{out}");
}

/// A fake leader and a follower that redirects membership calls to it.
struct Pair {
    leader: String,
    follower: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn leader_and_follower() -> Pair {
    let (ll, leader) = bind().await;
    let (lf, follower) = bind().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let members = json!({"voters": [1, 2], "learners": [], "nodes": {"1": leader, "2": follower},
        "incarnations": {"1": "aa01", "2": "bb02"}});
    let list = members.clone();
    let nodes = [(1, leader.as_str()), (2, follower.as_str())];
    let leader_status = status(1, &leader, "leader", Some(1), &nodes);
    // The follower has not heard who leads yet: raftctl must post to it and
    // follow its redirect.
    let follower_status = status(2, &follower, "follower", None, &nodes);
    let router = Router::new()
        .route("/raft/status", get(move || async move { Json(leader_status) }))
        .route("/raft/members", get(move || async move { Json(list) }))
        .route(
            "/raft/members/add",
            post(|State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                seen.lock().unwrap().push(body.clone());
                let id = body["id"].as_u64().unwrap_or(0);
                let addr = body["address"].clone();
                Json(json!({"voters": [1, 2, id], "learners": [], "nodes": {"1": "x", "2": "y", id.to_string(): addr}}))
                    .into_response()
            }),
        )
        .route(
            "/raft/members/remove",
            post(|Json(body): Json<Value>| async move {
                let id = body["id"].as_u64().unwrap_or(0);
                if id == 2 {
                    return Json(json!({"voters": [1], "learners": [], "nodes": {"1": "x"}})).into_response();
                }
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": format!("master {id} is not a member (members: [1, 2])")})),
                )
                    .into_response()
            }),
        )
        .with_state(bodies.clone());
    serve(ll, router);
    let target = leader.clone();
    let redirect = move |uri: axum::http::Uri| {
        let target = target.clone();
        async move {
            let location = format!("//{target}{}", uri.path());
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
                "not the leader\n",
            )
        }
    };
    serve(
        lf,
        Router::new()
            .route(
                "/raft/status",
                get(move || async move { Json(follower_status) }),
            )
            .route("/raft/members", get(redirect.clone()))
            .route("/raft/members/add", post(redirect.clone()))
            .route("/raft/members/remove", post(redirect)),
    );
    Pair {
        leader,
        follower,
        bodies,
    }
}

#[tokio::test]
async fn members_list_follows_the_redirect() {
    let p = leader_and_follower().await;
    // The first listed master is down: the next one is tried.
    let masters = format!("{},{}", refused(), p.follower);
    let (r, out) = run(&["--masters", &masters, "members", "list"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.starts_with("ID  ADDRESS"), "{out}");
    assert!(
        out.contains(&p.leader) && out.contains(&p.follower),
        "{out}"
    );

    let (r, out) = run(&["--masters", &p.follower, "-o", "json", "members", "list"]).await;
    assert_eq!(r.unwrap(), 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["voters"], json!([1, 2]));
}

#[tokio::test]
async fn members_add_posts_through_the_redirect() {
    let p = leader_and_follower().await;
    let (r, out) = run(&[
        "--masters",
        &p.follower,
        "members",
        "add",
        "4",
        "d.example:5050",
        "--timeout",
        "60",
    ])
    .await;
    assert_eq!(r.unwrap(), 0, "{out}");
    assert!(
        out.starts_with("master 4 at d.example:5050 is now a voter"),
        "{out}"
    );
    assert_eq!(
        p.bodies.lock().unwrap().as_slice(),
        [json!({"id": 4, "address": "d.example:5050", "timeout_ms": 60000})]
    );
}

/// `--replace` names the incarnation it replaces, read before the change:
/// a resend after a leader change then finds the replace done.
#[tokio::test]
async fn members_add_replace_names_the_incarnation_it_replaces() {
    let p = leader_and_follower().await;
    let (r, out) = run(&[
        "--masters",
        &p.follower,
        "members",
        "add",
        "--replace",
        "2",
        "b.example:5050",
        "--timeout",
        "60",
    ])
    .await;
    assert_eq!(r.unwrap(), 0, "{out}");
    assert_eq!(
        p.bodies.lock().unwrap().as_slice(),
        [
            json!({"id": 2, "address": "b.example:5050", "timeout_ms": 60000,
            "replace": true, "replaces": "bb02"})
        ]
    );
}

#[tokio::test]
async fn members_remove_and_unknown_id() {
    let p = leader_and_follower().await;
    let (r, out) = run(&["--masters", &p.follower, "members", "remove", "2"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("master 2 was removed"), "{out}");

    let (r, _) = run(&["--masters", &p.follower, "members", "remove", "42"]).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(matches!(e, CtlError::Refused { status: 404, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("master 42 is not a member") && msg.contains("raftctl members list"),
        "{msg}"
    );
}

#[tokio::test]
async fn changes_are_not_posted_to_a_silent_master() {
    let p = leader_and_follower().await;
    let hung = silent().await;
    // The hung master is listed first; a POST sent to it would wait for the
    // long membership timeout and end with an unknown outcome.
    let masters = format!("{hung},{}", p.follower);
    let started = Instant::now();
    let (r, out) = run(&[
        "--masters",
        &masters,
        "--timeout",
        "300ms",
        "members",
        "add",
        "5",
        "e:5050",
    ])
    .await;
    assert_eq!(r.unwrap(), 0, "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(p.bodies.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn no_leader_yet_is_retried_until_one_is_known() {
    let (l, addr) = bind().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    serve(
        l,
        Router::new().route(
            "/raft/members",
            get(move || {
                let seen = seen.clone();
                async move {
                    if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                        return (StatusCode::SERVICE_UNAVAILABLE, "no leader known\n")
                            .into_response();
                    }
                    Json(json!({"voters": [1], "learners": [], "nodes": {"1": "a:1"}}))
                        .into_response()
                }
            }),
        ),
    );
    let (r, out) = run(&["--masters", &addr, "members", "list"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("a:1"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn no_leader_until_the_deadline_fails_clearly() {
    let (l, addr) = bind().await;
    serve(
        l,
        Router::new().route(
            "/raft/members",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "no leader known\n") }),
        ),
    );
    let (r, _) = run(&[
        "--masters",
        &addr,
        "members",
        "--leader-wait",
        "300ms",
        "list",
    ])
    .await;
    let e = r.unwrap_err();
    assert!(matches!(e, CtlError::Unavailable(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("no leader could take the request within 300ms"),
        "{msg}"
    );
    assert!(
        msg.contains("no leader known") && msg.contains("raftctl status"),
        "{msg}"
    );
}

#[tokio::test]
async fn unreachable_masters_fail_clearly() {
    let dead = refused();
    let (r, _) = run(&[
        "--masters",
        &dead,
        "members",
        "--leader-wait",
        "200ms",
        "remove",
        "3",
    ])
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("no master answered") && msg.contains(&dead) && msg.contains("--masters"),
        "{msg}"
    );
}

#[tokio::test]
async fn redirect_loops_are_not_followed_forever() {
    let (la, a) = bind().await;
    let (lb, b) = bind().await;
    for (l, other) in [(la, b.clone()), (lb, a.clone())] {
        serve(
            l,
            Router::new().route(
                "/raft/members",
                get(move || {
                    let other = other.clone();
                    async move {
                        (
                            StatusCode::TEMPORARY_REDIRECT,
                            [(header::LOCATION, format!("//{other}/raft/members"))],
                        )
                    }
                }),
            ),
        );
    }
    let (r, _) = run(&["--masters", &a, "members", "--leader-wait", "200ms", "list"]).await;
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("redirects"), "{msg}");
}
