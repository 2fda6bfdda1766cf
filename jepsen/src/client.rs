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

use mesoraft_testkit::operator::redirect_authority;
use mesoraft_testkit::status::{self, Status};
use mesoraft_testkit::text::short;
use serde_json::{json, Value};

pub use mesoraft_testkit::error_text;
pub use mesoraft_testkit::status::{Membership, RegistryDigest, Role};

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

/// The status probe's answer: the subset of `GET /raft/status` the
/// harness uses (the test kit's type, shared with the end-to-end tests).
pub type RaftStatus = Status;

/// The fields of a status recorded in the election workload's history.
pub fn status_summary(s: &RaftStatus) -> Value {
    json!({
        "id": s.id, "role": s.role, "term": s.term, "leader_id": s.leader_id,
        "last_log_index": s.last_log_index, "committed_index": s.committed_index,
        "applied_index": s.applied_index, "voters": s.membership.voters,
    })
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
        let authority = redirect_authority(location)?;
        self.allowed.iter().find(|a| *a == authority).cloned()
    }

    /// `GET /raft/status` of one node.
    pub async fn status(&self, addr: &str, timeout: Duration) -> Result<RaftStatus, String> {
        self.status_at(&status::status_url("http", addr, false), timeout)
            .await
    }

    /// `GET /raft/status?digest=true`: with the registry fingerprint.
    pub async fn status_with_digest(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<RaftStatus, String> {
        self.status_at(&status::status_url("http", addr, true), timeout)
            .await
    }

    async fn status_at(&self, url: &str, timeout: Duration) -> Result<RaftStatus, String> {
        status::probe(&self.http, url, timeout)
            .await
            .map_err(|e| e.to_string())
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
