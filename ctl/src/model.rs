//! What raftctl knows about the group, independent of how it was learned
//! or how it is shown: one [`Row`] per master, and the group's cluster id.
//! Gathering (`status`) fills these in, the verdict judges them, `render`
//! prints them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::wire::AgentCounts;

/// Whether a master is in the group's membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Member {
    Voter,
    Learner,
    /// Answers, but is not in the group's membership (waiting to be added,
    /// removed, or from another cluster).
    #[serde(rename = "none")]
    Outside,
}

/// One master as raftctl sees it. `None` everywhere a value is unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    pub id: Option<u64>,
    pub address: String,
    /// It answered `/raft/status` with a usable status.
    pub reachable: bool,
    pub role: Option<String>,
    /// The leader as this master sees it.
    pub leader_id: Option<u64>,
    pub leader_address: Option<String>,
    pub term: Option<u64>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Entries behind the leader: the leader's replication view if it has
    /// one for this master, else the difference of last log indexes.
    pub lag: Option<u64>,
    pub millis_since_leader_contact: Option<u64>,
    /// `None` when unknown (no answer and not in any membership).
    pub member: Option<Member>,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    pub recovery_warning: Option<String>,
    /// The master is not accepted as the member it claims to be: why and
    /// what to do.
    pub needs_readding: Option<String>,
    /// The port takes peer RPCs and membership changes without a secret.
    pub unauthenticated: bool,
    pub cluster_id: Option<String>,
    pub initialized: Option<bool>,
    /// Given in --masters (false: found in the membership).
    pub listed: bool,
    /// The agent figures this master reports (the leader does).
    pub agents: Option<AgentCounts>,
}

impl Row {
    pub fn is_leader(&self) -> bool {
        self.role.as_deref() == Some("leader")
    }

    /// "master 3 at host:port", or the address alone when the id is unknown.
    pub fn label(&self) -> String {
        match self.id {
            Some(id) => format!("master {id} at {}", self.address),
            None => format!("the master at {}", self.address),
        }
    }
}

/// The cluster id most masters report (ties: the one seen in the highest
/// term), so a stray address from another cluster is told apart instead of
/// splitting the leader view.
pub fn majority_cluster<'a>(items: impl Iterator<Item = (Option<&'a str>, u64)>) -> Option<String> {
    let mut seen: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for (cluster, term) in items {
        if let Some(c) = cluster {
            let e = seen.entry(c).or_default();
            e.0 += 1;
            e.1 = e.1.max(term);
        }
    }
    seen.into_iter()
        .max_by_key(|(_, count_term)| *count_term)
        .map(|(c, _)| c.to_string())
}
