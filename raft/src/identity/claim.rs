//! What a master says about itself in every Raft RPC, and the durable
//! state it vouches for.

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// A durable state a master held: its vote was at least of `term`, and if
/// exactly of `term`, its log reached at least `index`.
///
/// Ordered like that statement: a later state of a master that kept its
/// disk is never smaller than an earlier one (its vote only grows; within
/// one term the leader of that term never makes it drop entries it
/// acknowledged), so the derived lexicographic order is "is at least as new
/// as".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Promise {
    #[serde(rename = "t")]
    pub term: u64,
    #[serde(rename = "x")]
    pub index: u64,
}

impl Promise {
    pub fn new(term: u64, index: u64) -> Self {
        Self { term, index }
    }
}

impl std::fmt::Display for Promise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vote term {} / log index {}", self.term, self.index)
    }
}

/// How many run ids a claim carries (the newest last).
pub const RUN_HISTORY: usize = 8;

/// A master's statement about itself, sent with every request and answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    #[serde(rename = "i")]
    pub incarnation: String,
    #[serde(rename = "n")]
    pub node: NodeId,
    /// Starts of this incarnation so far, this one included.
    #[serde(rename = "r")]
    pub run: u64,
    /// Ids of the latest runs, oldest first; the last is `run`'s.
    #[serde(rename = "a")]
    pub runs: Vec<String>,
    /// The durable state this run started from.
    #[serde(rename = "s")]
    pub start: Promise,
    /// A durable state the master vouches for now (a leader: its term and
    /// the last entry it flushed).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub durable: Option<Promise>,
}

impl Claim {
    /// The id of this run.
    pub fn run_id(&self) -> &str {
        self.runs.last().map(String::as_str).unwrap_or("")
    }

    /// Checks what a peer cannot have produced honestly; bounds sizes
    /// (this arrives in a request header).
    pub fn validate(&self) -> Result<(), String> {
        let hex =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(&self.incarnation) {
            return Err("malformed incarnation id".into());
        }
        if self.runs.is_empty()
            || self.runs.len() > RUN_HISTORY
            || !self.runs.iter().all(|r| hex(r))
        {
            return Err("malformed run history".into());
        }
        if (self.runs.len() as u64) > self.run {
            return Err("run history longer than the run count".into());
        }
        Ok(())
    }
}
