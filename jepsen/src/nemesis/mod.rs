//! Nemeses: fault injectors. Each has a `start` (inject) and a `stop`
//! (heal), both returning a JSON description that the runner logs into the
//! history, so the report can shade fault windows and a failure can be
//! related to the faults around it.
//!
//! Random choices (which nodes, which half) come from the seed of the
//! schedule step, so a run with the same `--seed` picks the same shapes;
//! choices that depend on the cluster (the current leader) are resolved
//! when the step runs.

pub mod agents;
pub mod membership;
pub mod partition;
pub mod process;
pub mod wipe;

use std::sync::Arc;

use anyhow::bail;
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::net::Net;

pub struct NemesisCtx {
    pub cluster: Arc<Cluster>,
    pub net: Arc<Net>,
}

impl NemesisCtx {
    /// Node ids in a seeded random order.
    pub fn shuffled(&self, seed: u64) -> Vec<u64> {
        let mut ids = self.cluster.ids();
        ids.shuffle(&mut StdRng::seed_from_u64(seed));
        ids
    }

    /// The running masters, in the seeded order.
    pub fn running_shuffled(&self, seed: u64) -> Vec<u64> {
        let running = self.cluster.running();
        self.shuffled(seed)
            .into_iter()
            .filter(|id| running.contains(id))
            .collect()
    }

    /// Why a nemesis that drives raftctl cannot run here, if it cannot.
    pub fn needs_raftctl(&self) -> Option<String> {
        self.cluster
            .cfg
            .binaries
            .raftctl
            .is_none()
            .then(|| "needs raftctl (not available with the fake master)".to_string())
    }

    /// The current leader, or (when none is known) the first node of the
    /// seeded order, with a flag saying which.
    pub async fn leader_or_any(&self, seed: u64) -> (u64, bool) {
        match self.cluster.leader().await {
            Some(l) => (l, true),
            None => (self.shuffled(seed)[0], false),
        }
    }
}

/// What a nemesis's `start` did. An `Err` from `start` means the harness
/// failed to carry the fault out (it undid what it could).
#[derive(Clone, Debug, PartialEq)]
pub enum Injection {
    /// The fault is in place; the value describes it.
    Injected(Value),
    /// Nothing changed: the fault's preconditions did not hold (no running
    /// master left to kill, the group refused a membership change, ...).
    NotInjected { reason: String, details: Value },
}

impl Injection {
    pub fn not(reason: impl Into<String>, details: Value) -> Self {
        Injection::NotInjected {
            reason: reason.into(),
            details,
        }
    }
}

/// Faults of different classes may overlap in a schedule; two of one class
/// never do (they would fight over the same state: the packet filter, or
/// which processes run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Network,
    Process,
    /// Faults of one agent (its own rules and process): they overlap
    /// master faults, never each other.
    Agent,
}

pub fn class(name: &str) -> Class {
    if name.starts_with("agent-") {
        Class::Agent
    } else if name.starts_with("partition") {
        Class::Network
    } else {
        Class::Process
    }
}

pub trait Nemesis: Send + Sync {
    fn name(&self) -> &'static str;

    /// Why this nemesis cannot run here (e.g. partitions on loopback).
    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String>;

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>>;

    /// Undoes `start`; a no-op when nothing is active.
    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>>;
}

/// Every nemesis, by the name used on the command line.
pub const ALL: &[&str] = &[
    "partition",
    "partition-leader",
    "partition-ring",
    "partition-bridge",
    "partition-one-way",
    "kill",
    "kill-leader",
    "kill-majority",
    "kill-all",
    "pause",
    "membership",
    "wipe",
    "lose-unsynced",
    "lose-unsynced-all",
];

/// Nemeses of the agents (runs with `--agents N`); not in `all`, whose
/// runs have no agents, but in the alias `agent-faults`.
pub const AGENT_NEMESES: &[&str] = &["agent-partition", "agent-pause", "agent-kill"];

/// Nemeses that need the masters' work dirs on lazyfs.
pub fn needs_lazyfs(name: &str) -> bool {
    name.starts_with("lose-unsynced")
}

pub fn describe(name: &str) -> &'static str {
    match name {
        "partition" => "network partition into random halves",
        "partition-leader" => "isolate the current leader",
        "partition-ring" => {
            "majorities ring: every node exchanges with a majority, no two the same (3 masters: \
             each may only open connections to the next one)"
        }
        "partition-bridge" => "two halves joined by one bridge node",
        "partition-one-way" => {
            "the leader cannot open connections to one follower; the follower still reaches it"
        }
        "kill" => "kill -9 a random running master, restart it",
        "kill-leader" => "kill -9 the leader, restart it",
        "kill-majority" => "kill -9 a majority of masters, restart them",
        "kill-all" => "kill -9 every master, restart all (durability)",
        "pause" => "SIGSTOP a master (the leader half the time), SIGCONT it",
        "membership" => "remove a master (raftctl), wipe and restart it to join, re-add it",
        "wipe" => {
            "kill -9 a master, delete its work dir, restart it with the same flags; heal: \
             raftctl members add --replace"
        }
        "lose-unsynced" => {
            "kill -9 a master and drop every write it had not fsynced (lazyfs), restart it"
        }
        "lose-unsynced-all" => {
            "kill -9 every master and drop everything they had not fsynced (lazyfs), restart"
        }
        "agent-partition" => {
            "cut one agent off from every master: both ways, or its answers lost while the \
             masters' pings still reach it (seeded); needs namespaces and iptables"
        }
        "agent-pause" => "SIGSTOP an agent, SIGCONT it",
        "agent-kill" => "kill -9 an agent, restart it with the same flags and work dir",
        _ => "unknown",
    }
}

pub fn by_name(name: &str) -> Option<Box<dyn Nemesis>> {
    use partition::{PartitionNemesis, Shape};
    use process::{KillNemesis, KillTarget, PauseNemesis};
    Some(match name {
        "partition" => Box::new(PartitionNemesis::new(Shape::Halves)),
        "partition-leader" => Box::new(PartitionNemesis::new(Shape::IsolateLeader)),
        "partition-ring" => Box::new(PartitionNemesis::new(Shape::MajoritiesRing)),
        "partition-bridge" => Box::new(PartitionNemesis::new(Shape::Bridge)),
        "partition-one-way" => Box::new(PartitionNemesis::new(Shape::OneWay)),
        "kill" => Box::new(KillNemesis::new(KillTarget::Random)),
        "kill-leader" => Box::new(KillNemesis::new(KillTarget::Leader)),
        "kill-majority" => Box::new(KillNemesis::new(KillTarget::Majority)),
        "kill-all" => Box::new(KillNemesis::new(KillTarget::All)),
        "lose-unsynced" => Box::new(KillNemesis::losing_unsynced(KillTarget::Random)),
        "lose-unsynced-all" => Box::new(KillNemesis::losing_unsynced(KillTarget::All)),
        "pause" => Box::new(PauseNemesis::default()),
        "membership" => Box::new(membership::MembershipNemesis::default()),
        "wipe" => Box::new(wipe::WipeNemesis::default()),
        "agent-partition" => Box::new(agents::AgentNemesis::new(agents::AgentFault::Partition)),
        "agent-pause" => Box::new(agents::AgentNemesis::new(agents::AgentFault::Pause)),
        "agent-kill" => Box::new(agents::AgentNemesis::new(agents::AgentFault::Kill)),
        _ => return None,
    })
}

/// Expands a comma-separated list with aliases (`partitions`, `kills`,
/// `process`, `all`, `none`) into nemesis names, in order, without repeats.
pub fn expand(list: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for item in list
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let names: Vec<&str> = match item {
            "none" => vec![],
            "all" => ALL.to_vec(),
            "partitions" => ALL
                .iter()
                .copied()
                .filter(|n| n.starts_with("partition"))
                .collect(),
            "kills" => ALL
                .iter()
                .copied()
                .filter(|n| n.starts_with("kill"))
                .collect(),
            "process" => vec!["kill", "kill-leader", "kill-majority", "kill-all", "pause"],
            "crashes" => vec!["lose-unsynced", "lose-unsynced-all"],
            "agent-faults" => AGENT_NEMESES.to_vec(),
            name if ALL.contains(&name) || AGENT_NEMESES.contains(&name) => vec![name],
            other => bail!(
                "unknown nemesis {other:?}; known: {}, {} (aliases: partitions, kills, process, \
                 crashes, agent-faults, all, none)",
                ALL.join(", "),
                AGENT_NEMESES.join(", ")
            ),
        };
        for n in names {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        for n in ALL.iter().chain(AGENT_NEMESES) {
            assert_eq!(by_name(n).unwrap().name(), *n);
            assert_ne!(describe(n), "unknown");
            assert_eq!(class(n) == Class::Agent, AGENT_NEMESES.contains(n), "{n}");
        }
        assert_eq!(
            expand(&["agent-faults,kill-leader".into()]).unwrap(),
            vec![
                "agent-partition",
                "agent-pause",
                "agent-kill",
                "kill-leader"
            ]
        );
        let e = expand(&["partition,kill".into(), "kill".into()]).unwrap();
        assert_eq!(e, vec!["partition", "kill"]);
        assert_eq!(expand(&["all".into()]).unwrap().len(), ALL.len());
        assert_eq!(expand(&["partitions".into()]).unwrap().len(), 5);
        assert!(expand(&["none".into()]).unwrap().is_empty());
        assert!(expand(&["bogus".into()]).is_err());
    }
}
