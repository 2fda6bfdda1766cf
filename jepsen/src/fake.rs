//! A fake master for testing the harness itself (process management,
//! namespaces, clients, nemeses, checkers, reports) without the real
//! system: `jepsen fake-master` takes the same flags as `mesoraft master`.
//!
//! The lowest-numbered peer is the leader forever (term 1) and keeps the
//! weights in memory, persisted to `<work-dir>/weights.json` on every write
//! (temp file + rename), so it is linearizable and durable; the others
//! redirect to it. With `--debug-unsafe-stale-reads` every node answers
//! GET_WEIGHTS from its own copy, which on followers is never updated:
//! exactly the stale reads the checker must catch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(clap::Args, Debug, Clone)]
pub struct FakeArgs {
    #[arg(long)]
    pub id: u64,
    #[arg(long)]
    pub listen: String,
    #[arg(long)]
    pub peers: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub join: Vec<String>,
    #[arg(long)]
    pub work_dir: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub heartbeat_interval_ms: u64,
    #[arg(long, default_value_t = 400)]
    pub election_timeout_min_ms: u64,
    #[arg(long, default_value_t = 800)]
    pub election_timeout_max_ms: u64,
    #[arg(long)]
    pub snapshot_logs: Option<u64>,
    #[arg(long)]
    pub debug_unsafe_stale_reads: bool,
}

struct Fake {
    args: FakeArgs,
    peers: BTreeMap<u64, String>,
    leader: Option<u64>,
    weights: Mutex<BTreeMap<String, f64>>,
    writes: Mutex<u64>,
}

impl Fake {
    fn is_leader(&self) -> bool {
        self.leader == Some(self.args.id)
    }

    fn file(&self) -> PathBuf {
        self.args.work_dir.join("weights.json")
    }

    fn persist(&self, weights: &BTreeMap<String, f64>) -> std::io::Result<()> {
        let tmp = self.args.work_dir.join("weights.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(weights)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.file())
    }
}

fn parse_peers(text: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (id, addr) = item.split_once('=').context("peer is not ID=HOST:PORT")?;
            Ok((id.trim().parse()?, addr.trim().to_string()))
        })
        .collect()
}

pub async fn run(args: FakeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)?;
    let peers = match &args.peers {
        Some(p) => parse_peers(p)?,
        None => BTreeMap::new(),
    };
    let leader = peers.keys().next().copied();
    let file = args.work_dir.join("weights.json");
    let weights: BTreeMap<String, f64> = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).context("corrupt weights.json")?,
        Err(_) => BTreeMap::new(),
    };
    let fake = Arc::new(Fake {
        args: args.clone(),
        peers,
        leader,
        weights: Mutex::new(weights),
        writes: Mutex::new(0),
    });
    let app = Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/raft/status", get(status))
        .route("/api/v1", post(operator))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("fake master {} listening on {}", args.id, args.listen);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn status(State(fake): State<Arc<Fake>>) -> Json<Value> {
    let n = *fake.writes.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({
        "id": fake.args.id,
        "address": fake.args.listen,
        "role": if fake.is_leader() { "leader" } else if fake.leader.is_some() { "follower" } else { "learner" },
        "leader_id": fake.leader,
        "term": 1,
        "last_log_index": n, "committed_index": n, "applied_index": n,
        "membership": {"voters": fake.peers.keys().collect::<Vec<_>>(), "learners": [], "nodes": fake.peers},
    }))
}

async fn operator(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed call\n").into_response();
    };
    let kind = call["type"].as_str().unwrap_or("");
    let local_read = kind == "GET_WEIGHTS" && fake.args.debug_unsafe_stale_reads;
    if !fake.is_leader() && !local_read {
        return match fake.leader.and_then(|l| fake.peers.get(&l)) {
            Some(addr) => (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, format!("//{addr}/api/v1"))],
                "not the leader\n",
            )
                .into_response(),
            None => (StatusCode::SERVICE_UNAVAILABLE, "no leader\n").into_response(),
        };
    }
    match kind {
        "GET_WEIGHTS" => {
            let weights = fake.weights.lock().unwrap_or_else(|e| e.into_inner());
            let infos: Vec<Value> = weights
                .iter()
                .map(|(r, w)| json!({"role": r, "weight": w}))
                .collect();
            Json(json!({"type": "GET_WEIGHTS", "get_weights": {"weight_infos": infos}}))
                .into_response()
        }
        "UPDATE_WEIGHTS" => {
            let Some(infos) = call["update_weights"]["weight_infos"].as_array() else {
                return (StatusCode::BAD_REQUEST, "no weight_infos\n").into_response();
            };
            let mut weights = fake.weights.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = weights.clone();
            for info in infos {
                match (info["role"].as_str(), info["weight"].as_f64()) {
                    (Some(role), Some(w)) if w.is_finite() && w > 0.0 => {
                        next.insert(role.to_string(), w);
                    }
                    _ => return (StatusCode::BAD_REQUEST, "bad weight_info\n").into_response(),
                }
            }
            if let Err(e) = fake.persist(&next) {
                return (StatusCode::INTERNAL_SERVER_ERROR, format!("persist: {e}\n"))
                    .into_response();
            }
            *weights = next;
            *fake.writes.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            StatusCode::OK.into_response()
        }
        other => (
            StatusCode::BAD_REQUEST,
            format!("unsupported call {other:?}\n"),
        )
            .into_response(),
    }
}
