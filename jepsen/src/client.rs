//! HTTP client for the masters' operator API and status endpoints, and the
//! classification of every outcome into ok / fail (certainly not applied) /
//! info (unknown).
//!
//! Rules (from the API contract):
//! - 200: ok.
//! - 307 to another master: follow it (bounded), the op is recorded against
//!   the master finally reached; a redirect is a definite "not done here".
//!   Only addresses of our own cluster are followed.
//! - 503, 4xx, connection refused (nothing was sent): fail.
//! - 504 (the master's own write timeout), other 5xx, a timeout or a broken
//!   connection after the request may have been sent: info for writes.
//! - Reads have no effect, so any read that did not succeed is a fail.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Response header of a GET_MASTER the leader answered: the term it leads.
pub const LEADER_TERM_HEADER: &str = "mesoraft-leader-term";

/// A GET_MASTER answer, redirects not followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterAnswer {
    /// 200: this master acts as leader of `term`.
    Leader { term: u64 },
    /// 307 or 503: another master leads, or none is known.
    NotLeader,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok(Value),
    Fail(String),
    Info(String),
}

/// The subset of `GET /raft/status` the harness uses.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RaftStatus {
    pub id: u64,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub leader_id: Option<u64>,
    #[serde(default)]
    pub term: u64,
    #[serde(default)]
    pub last_log_index: Option<u64>,
    #[serde(default)]
    pub committed_index: Option<u64>,
    #[serde(default)]
    pub applied_index: Option<u64>,
    #[serde(default)]
    pub membership: Membership,
    /// Set once the group's identity is committed (None on a pristine node).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Term changes this process has seen since it started.
    #[serde(default)]
    pub elections_seen: Option<u64>,
    /// Leader changes this process has seen since it started.
    #[serde(default)]
    pub leader_changes: Option<u64>,
    /// Only when asked for (`?digest=true`).
    #[serde(default)]
    pub registry_digest: Option<RegistryDigest>,
    /// Why the group does not take this master as the member it claims to
    /// be (a lost or restored work dir), when it does not.
    #[serde(default)]
    pub needs_readding: Option<String>,
}

/// A replica's registry fingerprint at its applied index.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RegistryDigest {
    #[serde(default)]
    pub applied_index: Option<u64>,
    #[serde(default)]
    pub applied_term: Option<u64>,
    pub crc32: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Membership {
    #[serde(default)]
    pub voters: Vec<u64>,
    #[serde(default)]
    pub learners: Vec<u64>,
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
}

impl RaftStatus {
    pub fn is_leader(&self) -> bool {
        self.role == "leader"
    }

    /// The fields recorded in the election workload's history.
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id, "role": self.role, "term": self.term, "leader_id": self.leader_id,
            "last_log_index": self.last_log_index, "committed_index": self.committed_index,
            "applied_index": self.applied_index, "voters": self.membership.voters,
        })
    }
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Addresses a redirect may lead to (our nodes only).
    allowed: Vec<String>,
    pub op_timeout: Duration,
}

const MAX_REDIRECTS: usize = 3;

impl ApiClient {
    pub fn new(allowed: Vec<String>, op_timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Never go through a proxy: traffic must stay between us and
            // the nodes we started.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(op_timeout.min(Duration::from_millis(500)))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self::with_http(http, allowed, op_timeout))
    }

    /// Over a caller-built HTTP client (e.g. tuned for load: big pool,
    /// `tcp_nodelay`); it must not follow redirects itself and should not
    /// use a proxy.
    pub fn with_http(http: reqwest::Client, allowed: Vec<String>, op_timeout: Duration) -> Self {
        Self {
            http,
            allowed,
            op_timeout,
        }
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// `POST /api/v1` with `body` to `addr`, following redirects within the
    /// operation's time budget. Returns the outcome and the node last
    /// contacted.
    pub async fn operator(&self, addr: &str, body: &Value, is_write: bool) -> (Outcome, String) {
        self.operator_avoiding(addr, body, is_write, &[]).await
    }

    /// Like [`ApiClient::operator`], but a redirect to one of `avoid` (nodes
    /// that just timed out) ends the operation as a failure instead of
    /// spending the rest of its budget there: a redirect means "not done
    /// here", so nothing was applied.
    pub async fn operator_avoiding(
        &self,
        addr: &str,
        body: &Value,
        is_write: bool,
        avoid: &[String],
    ) -> (Outcome, String) {
        let deadline = Instant::now() + self.op_timeout;
        let mut node = addr.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (
                    unknown_or_fail(is_write, "operation timed out".into()),
                    node,
                );
            }
            let sent = self
                .http
                .post(format!("http://{node}/api/v1"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .timeout(left)
                .json(body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => return (classify_error(&e, is_write), node),
            };
            let status = resp.status().as_u16();
            if status == 307 {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                match self.redirect_target(&location) {
                    Some(next) if avoid.contains(&next) => {
                        return (
                            Outcome::Fail(format!(
                                "redirected to {next}, which just timed out; not followed"
                            )),
                            node,
                        )
                    }
                    Some(next) if next != node => {
                        node = next;
                        continue;
                    }
                    Some(_) => return (Outcome::Fail("redirected to itself".into()), node),
                    None => {
                        return (
                            Outcome::Fail(format!("redirect to an unknown address {location:?}")),
                            node,
                        )
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let text = match tokio::time::timeout(left, resp.text()).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return (classify_error(&e, is_write), node),
                Err(_) => {
                    return (
                        unknown_or_fail(is_write, "timed out reading the answer".into()),
                        node,
                    )
                }
            };
            let outcome = match status {
                200 if text.trim().is_empty() => Outcome::Ok(Value::Null),
                200 => match serde_json::from_str(&text) {
                    Ok(v) => Outcome::Ok(v),
                    // The write is committed even if the body is odd.
                    Err(_) if is_write => Outcome::Ok(Value::Null),
                    Err(e) => Outcome::Fail(format!("unparsable answer: {e}")),
                },
                400..=499 | 503 => Outcome::Fail(format!("{status}: {}", short(&text))),
                _ => unknown_or_fail(is_write, format!("{status}: {}", short(&text))),
            };
            return (outcome, node);
        }
        (Outcome::Fail("too many redirects".into()), node)
    }

    /// Maps `//host:port/path` (or `http://host:port/path`) to `host:port`
    /// if that is one of our nodes.
    fn redirect_target(&self, location: &str) -> Option<String> {
        let rest = location
            .strip_prefix("http://")
            .or_else(|| location.strip_prefix("//"))?;
        let authority = rest.split('/').next()?;
        self.allowed.iter().find(|a| *a == authority).cloned()
    }

    /// `GET /raft/status` of one node.
    pub async fn status(&self, addr: &str, timeout: Duration) -> Result<RaftStatus, String> {
        self.status_at(&format!("http://{addr}/raft/status"), timeout)
            .await
    }

    /// `GET /raft/status?digest=true`: with the registry fingerprint.
    pub async fn status_with_digest(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<RaftStatus, String> {
        self.status_at(&format!("http://{addr}/raft/status?digest=true"), timeout)
            .await
    }

    async fn status_at(&self, url: &str, timeout: Duration) -> Result<RaftStatus, String> {
        let resp = self
            .http
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let text = tokio::time::timeout(timeout, resp.text())
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| error_text(&e))?;
        serde_json::from_str(&text).map_err(|e| format!("bad status JSON: {e}"))
    }

    /// Whether the master at `addr` answers GET_MASTER itself (acting as
    /// leader: 200, with the term it leads) rather than redirecting (307)
    /// or knowing no leader (503). Redirects are not followed.
    pub async fn answers_as_leader(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<MasterAnswer, String> {
        let resp = self
            .http
            .post(format!("http://{addr}/api/v1"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .timeout(timeout)
            .body(r#"{"type":"GET_MASTER"}"#)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        match resp.status().as_u16() {
            200 => {
                let term = resp
                    .headers()
                    .get(LEADER_TERM_HEADER)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .ok_or_else(|| {
                        format!("leader answer without a valid {LEADER_TERM_HEADER} header")
                    })?;
                Ok(MasterAnswer::Leader { term })
            }
            307 | 503 => Ok(MasterAnswer::NotLeader),
            other => Err(format!("HTTP {other}")),
        }
    }

    /// `GET /health` answered 200.
    pub async fn healthy(&self, addr: &str, timeout: Duration) -> bool {
        matches!(
            self.http
                .get(format!("http://{addr}/health"))
                .timeout(timeout)
                .send()
                .await,
            Ok(r) if r.status().is_success()
        )
    }
}

fn unknown_or_fail(is_write: bool, why: String) -> Outcome {
    if is_write {
        Outcome::Info(why)
    } else {
        Outcome::Fail(why)
    }
}

fn classify_error(e: &reqwest::Error, is_write: bool) -> Outcome {
    // A connect error means the request never left: certainly not applied.
    if e.is_connect() {
        return Outcome::Fail(error_text(e));
    }
    unknown_or_fail(is_write, error_text(e))
}

/// The error with its causes (reqwest's Display hides them).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    short(&text)
}

fn short(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_string(),
    }
}

/// Body of an UPDATE_WEIGHTS call.
pub fn update_weights(weights: &[(String, f64)]) -> Value {
    json!({
        "type": "UPDATE_WEIGHTS",
        "update_weights": {
            "weight_infos": weights.iter().map(|(role, w)| json!({"role": role, "weight": w})).collect::<Vec<_>>()
        }
    })
}

pub fn get_weights() -> Value {
    json!({"type": "GET_WEIGHTS"})
}

/// `{role: weight}` from a GET_WEIGHTS answer.
pub fn parse_weights(answer: &Value) -> Option<BTreeMap<String, f64>> {
    let infos = answer.get("get_weights")?.get("weight_infos")?.as_array()?;
    let mut out = BTreeMap::new();
    for info in infos {
        let role = info.get("role")?.as_str()?;
        let weight = match info.get("weight")? {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        out.insert(role.to_string(), weight);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
