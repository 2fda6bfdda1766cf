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
//!
//! Followers hold no replica; for the convergence check
//! (`/raft/status?digest=true`) they report the leader's persisted state,
//! read from its work dir next to theirs (every node of a run shares one
//! data root).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Query, State};
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
    /// Exit with status 3 after this long (to test that the harness treats
    /// a master that dies by itself as a failure).
    #[arg(long)]
    pub debug_exit_after_ms: Option<u64>,
}

/// What the leader persists.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Persisted {
    weights: BTreeMap<String, f64>,
    /// Writes applied so far: the fake's "applied index".
    applied: u64,
}

struct Fake {
    args: FakeArgs,
    peers: BTreeMap<u64, String>,
    leader: Option<u64>,
    state: Mutex<Persisted>,
}

impl Fake {
    fn is_leader(&self) -> bool {
        self.leader == Some(self.args.id)
    }

    fn file(&self) -> PathBuf {
        self.args.work_dir.join("weights.json")
    }

    fn persist(&self, state: &Persisted) -> std::io::Result<()> {
        let tmp = self.args.work_dir.join("weights.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(state)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.file())
    }

    /// The leader's persisted state, as a follower sees it on disk.
    fn leader_state(&self) -> Persisted {
        if self.is_leader() {
            return self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        }
        let Some(leader) = self.leader else {
            return Persisted::default();
        };
        let dir = self
            .args
            .work_dir
            .parent()
            .map(|p| p.join(format!("n{leader}")))
            .unwrap_or_default();
        load(&dir.join("weights.json")).unwrap_or_default()
    }
}

fn load(file: &std::path::Path) -> anyhow::Result<Persisted> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).context("corrupt weights.json"),
        Err(_) => Ok(Persisted::default()),
    }
}

/// FNV-1a over the weights' JSON: equal states, equal fingerprints.
fn fingerprint(state: &Persisted) -> String {
    let bytes = serde_json::to_vec(&state.weights).unwrap_or_default();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
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
    let state = load(&args.work_dir.join("weights.json"))?;
    let fake = Arc::new(Fake {
        args: args.clone(),
        peers,
        leader,
        state: Mutex::new(state),
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
    if let Some(ms) = args.debug_exit_after_ms {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            eprintln!("fake master exiting by itself (--debug-exit-after-ms)");
            std::process::exit(3);
        });
    }
    axum::serve(listener, app).await?;
    Ok(())
}

#[derive(serde::Deserialize, Default)]
struct StatusQuery {
    #[serde(default)]
    digest: bool,
}

async fn status(State(fake): State<Arc<Fake>>, Query(query): Query<StatusQuery>) -> Json<Value> {
    let n = fake.state.lock().unwrap_or_else(|e| e.into_inner()).applied;
    let mut status = json!({
        "id": fake.args.id,
        "address": fake.args.listen,
        "role": if fake.is_leader() { "leader" } else if fake.leader.is_some() { "follower" } else { "learner" },
        "leader_id": fake.leader,
        "term": 1,
        "last_log_index": n, "committed_index": n, "applied_index": n,
        "membership": {"voters": fake.peers.keys().collect::<Vec<_>>(), "learners": [], "nodes": fake.peers},
    });
    if query.digest {
        let replica = fake.leader_state();
        status["registry_digest"] = json!({
            "applied_index": replica.applied, "applied_term": 1, "crc32": fingerprint(&replica),
        });
    }
    Json(status)
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
            let state = fake.state.lock().unwrap_or_else(|e| e.into_inner());
            let infos: Vec<Value> = state
                .weights
                .iter()
                .map(|(r, w)| json!({"role": r, "weight": w}))
                .collect();
            Json(json!({"type": "GET_WEIGHTS", "get_weights": {"weight_infos": infos}}))
                .into_response()
        }
        "GET_MASTER" => (
            [(crate::client::LEADER_TERM_HEADER, "1")],
            Json(json!({
                "type": "GET_MASTER",
                "get_master": {"master_info": {"id": format!("fake-M{}", fake.args.id),
                                               "hostname": fake.args.listen}},
            })),
        )
            .into_response(),
        "UPDATE_WEIGHTS" => {
            let Some(infos) = call["update_weights"]["weight_infos"].as_array() else {
                return (StatusCode::BAD_REQUEST, "no weight_infos\n").into_response();
            };
            let mut state = fake.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = state.clone();
            for info in infos {
                match (info["role"].as_str(), info["weight"].as_f64()) {
                    (Some(role), Some(w)) if w.is_finite() && w > 0.0 => {
                        next.weights.insert(role.to_string(), w);
                    }
                    _ => return (StatusCode::BAD_REQUEST, "bad weight_info\n").into_response(),
                }
            }
            next.applied += 1;
            if let Err(e) = fake.persist(&next) {
                return (StatusCode::INTERNAL_SERVER_ERROR, format!("persist: {e}\n"))
                    .into_response();
            }
            *state = next;
            StatusCode::OK.into_response()
        }
        other => (
            StatusCode::BAD_REQUEST,
            format!("unsupported call {other:?}\n"),
        )
            .into_response(),
    }
}
