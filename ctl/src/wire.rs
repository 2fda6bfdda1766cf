//! The JSON the masters answer, as raftctl reads it.
//!
//! Deliberately lenient about absence (every field defaults, unknown fields
//! are ignored) so an older or newer master still shows up in the table,
//! and strict about types: a field of the wrong type makes the whole answer
//! malformed, which ends up in that master's error column.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /raft/status`: one master's own view of the group.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeStatus {
    pub id: Option<u64>,
    pub address: Option<String>,
    pub cluster_id: Option<String>,
    /// leader / follower / candidate / learner / shutdown.
    pub role: Option<String>,
    /// False on a master that has no membership yet (`--join`, waiting to be
    /// added). Absent on masters that do not report it.
    pub initialized: Option<bool>,
    pub leader_id: Option<u64>,
    pub leader_address: Option<String>,
    pub term: Option<u64>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// On the leader: millis since a quorum acknowledged it; elsewhere:
    /// millis since the leader was last heard.
    pub millis_since_leader_contact: Option<u64>,
    pub voter: Option<bool>,
    pub membership: Option<Membership>,
    /// Leader only: per-peer replication progress.
    pub replication: Option<BTreeMap<u64, PeerReplication>>,
    pub elections_seen: Option<u64>,
    pub leader_changes: Option<u64>,
    pub recovery_warning: Option<String>,
    /// Set when the group does not accept this master as the member it
    /// claims to be (lost or restored work dir).
    pub needs_readding: Option<String>,
    pub incarnation: Option<String>,
    pub security: Option<SecurityView>,
    /// The leader's agent figures (absent elsewhere).
    pub agents: Option<AgentCounts>,
}

/// The agents as the leader's session table counts them.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct AgentCounts {
    /// Registered with an open session.
    pub registered: u64,
    /// Admitted before the leader's term and not back yet.
    pub recovered: u64,
    /// Registered, session broken, not unreachable yet.
    pub disconnected: u64,
    pub unreachable: u64,
    pub gone: u64,
    /// Recovered agents the recovery removal limit kept from being marked
    /// unreachable (0 unless it was exceeded).
    pub recovery_removals_refused: u64,
}

/// What a master says about its port's protection.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SecurityView {
    pub cluster_secret: bool,
    pub tls: bool,
    pub mutual_tls: bool,
}

/// `GET /raft/members`, the answer of `members add/remove`, and the
/// `membership` inside a status.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Membership {
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// id -> address. JSON object keys are strings ("1"); serde_json turns
    /// them into integers.
    pub nodes: BTreeMap<u64, String>,
    /// id -> incarnation of each bound slot.
    pub incarnations: BTreeMap<u64, String>,
}

impl Membership {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.voters.is_empty() && self.learners.is_empty()
    }

    /// The id listed at this address, if any.
    pub fn id_of(&self, address: &str) -> Option<u64> {
        self.nodes
            .iter()
            .find(|(_, a)| a.as_str() == address)
            .map(|(id, _)| *id)
    }

    /// Every member id, voters first, each once.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.voters.clone();
        for id in self.learners.iter().chain(self.nodes.keys()) {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PeerReplication {
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
}

/// Error answers: `{"error": "..."}` (some answers are plain text instead).
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// The message of an error answer: the `error` field of a JSON body, else
/// the text itself, trimmed and cut short so a huge HTML page cannot flood
/// the terminal.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return shorten(e.error.trim(), 400);
    }
    let text = String::from_utf8_lossy(body);
    shorten(text.trim(), 400)
}

/// Cuts `s` to at most `max` characters, marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_the_contract_parses() {
        let s: NodeStatus = serde_json::from_str(
            r#"{"id":1,"address":"127.0.0.1:5050","cluster_id":"c0ffee","role":"leader",
            "leader_id":1,"leader_address":"127.0.0.1:5050","term":3,"last_log_index":10,
            "committed_index":10,"applied_index":10,"millis_since_leader_contact":12,"voter":true,
            "membership":{"voters":[1,2,3],"learners":[4],"nodes":{"1":"a:1","2":"b:1","3":"c:1","4":"d:1"}},
            "replication":{"2":{"matched_index":10,"lag":0},"3":{"matched_index":null,"lag":10}},
            "elections_seen":1,"leader_changes":1,"recovery_warning":null,"something_new":[1]}"#,
        )
        .unwrap();
        assert_eq!(s.id, Some(1));
        assert_eq!(s.role.as_deref(), Some("leader"));
        let m = s.membership.unwrap();
        assert_eq!(m.nodes[&4], "d:1");
        assert_eq!(m.id_of("c:1"), Some(3));
        assert_eq!(m.ids(), vec![1, 2, 3, 4]);
        assert_eq!(s.replication.unwrap()[&3].lag, Some(10));
    }

    #[test]
    fn the_leaders_agent_figures_parse() {
        let s: NodeStatus = serde_json::from_str(
            r#"{"id":1,"agents":{"registered":12,"recovered":0,"disconnected":1,
            "unreachable":2,"gone":0,"recovery_removals_refused":0,"newer":1}}"#,
        )
        .unwrap();
        let a = s.agents.unwrap();
        assert_eq!((a.registered, a.disconnected, a.unreachable), (12, 1, 2));
        let s: NodeStatus = serde_json::from_str(r#"{"id":1,"agents":null}"#).unwrap();
        assert_eq!(s.agents, None);
        assert!(serde_json::from_str::<NodeStatus>(r#"{"agents":{"gone":"x"}}"#).is_err());
    }

    #[test]
    fn missing_fields_default_but_wrong_types_fail() {
        let s: NodeStatus = serde_json::from_str(r#"{"id":2}"#).unwrap();
        assert_eq!(s.term, None);
        assert!(serde_json::from_str::<NodeStatus>(r#"{"id":"two"}"#).is_err());
        assert!(serde_json::from_str::<NodeStatus>(r#"[1,2]"#).is_err());
        assert!(
            serde_json::from_str::<NodeStatus>(r#"{"membership":{"nodes":{"x":"a:1"}}}"#).is_err()
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"error":"master 9 is not a member"}"#),
            "master 9 is not a member"
        );
        assert_eq!(error_message(b"not the leader\n"), "not the leader");
        assert_eq!(error_message(&[0xff, b'x']), "\u{fffd}x");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
