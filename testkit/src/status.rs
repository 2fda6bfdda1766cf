//! A typed probe of a master's `GET /raft/status`: the fields the tests and
//! the Jepsen harness read, with the role as a [`Role`]. Unknown fields are
//! ignored and missing ones default, so a newer master still parses.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::text::error_text;

/// What a master says it is in its Raft group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Any other answer, kept as given (empty when the field is missing).
    Other(String),
}

impl Role {
    pub fn as_str(&self) -> &str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Other(s) => s,
        }
    }
}

impl Default for Role {
    fn default() -> Self {
        Role::Other(String::new())
    }
}

impl From<&str> for Role {
    fn from(text: &str) -> Self {
        match text {
            "leader" => Role::Leader,
            "follower" => Role::Follower,
            "candidate" => Role::Candidate,
            "learner" => Role::Learner,
            other => Role::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Role::from(String::deserialize(d)?.as_str()))
    }
}

/// The subset of `GET /raft/status` that tests and the harness use.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub id: u64,
    #[serde(default)]
    pub role: Role,
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

impl Status {
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
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

/// Why a status probe got no status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The request failed (the error with its causes).
    Unreachable(String),
    /// The master answered with this HTTP status.
    Http(u16),
    /// The answer did not arrive within the probe's time.
    TimedOut,
    /// The answer is not the status document.
    BadJson(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Unreachable(e) => f.write_str(e),
            ProbeError::Http(code) => write!(f, "HTTP {code}"),
            ProbeError::TimedOut => f.write_str("timed out"),
            ProbeError::BadJson(e) => write!(f, "bad status JSON: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// `<scheme>://<addr>/raft/status`, with the registry digest if asked.
pub fn status_url(scheme: &str, addr: &str, digest: bool) -> String {
    let query = if digest { "?digest=true" } else { "" };
    format!("{scheme}://{addr}/raft/status{query}")
}

/// The status at `url` (see [`status_url`]), typed.
pub async fn probe(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Status, ProbeError> {
    let text = fetch(http, url, timeout).await?;
    serde_json::from_str(&text).map_err(|e| ProbeError::BadJson(e.to_string()))
}

/// The status at `url` as a JSON document, every field, for assertions on
/// fields [`Status`] does not hold.
pub async fn probe_json(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Value, ProbeError> {
    let text = fetch(http, url, timeout).await?;
    serde_json::from_str(&text).map_err(|e| ProbeError::BadJson(e.to_string()))
}

async fn fetch(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<String, ProbeError> {
    let resp = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| ProbeError::Unreachable(error_text(&e)))?;
    if !resp.status().is_success() {
        return Err(ProbeError::Http(resp.status().as_u16()));
    }
    tokio::time::timeout(timeout, resp.text())
        .await
        .map_err(|_| ProbeError::TimedOut)?
        .map_err(|e| ProbeError::Unreachable(error_text(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_status_document_and_keeps_unknown_roles() {
        let s: Status = serde_json::from_str(
            r#"{"id":2,"address":"a:1","role":"follower","leader_id":1,"term":4,"last_log_index":9,
                "committed_index":9,"applied_index":9,"membership":{"voters":[1,2,3],"learners":[],"nodes":{"1":"a"}},
                "extra":true}"#,
        )
        .unwrap();
        assert_eq!(s.role, Role::Follower);
        assert_eq!(s.leader_id, Some(1));
        assert_eq!(s.membership.voters, vec![1, 2, 3]);
        assert!(!s.is_leader());
        let odd: Status = serde_json::from_str(r#"{"id":1,"role":"shutdown"}"#).unwrap();
        assert_eq!(odd.role, Role::Other("shutdown".into()));
        assert_eq!(serde_json::to_value(&odd.role).unwrap(), "shutdown");
        let bare: Status = serde_json::from_str(r#"{"id":1}"#).unwrap();
        assert_eq!(bare.role.to_string(), "");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Leader, Role::Follower, Role::Candidate, Role::Learner] {
            assert_eq!(Role::from(role.as_str()), role);
            assert_eq!(role, role.as_str());
        }
    }

    #[test]
    fn probe_errors_read_as_before() {
        assert_eq!(ProbeError::Http(503).to_string(), "HTTP 503");
        assert_eq!(ProbeError::TimedOut.to_string(), "timed out");
        assert_eq!(
            status_url("https", "h:1", true),
            "https://h:1/raft/status?digest=true"
        );
    }
}
