//! Nemeses: fault injectors. Each has a `start` (inject) and a `stop`
//! (heal), both returning a JSON description that the runner logs into the
//! history, so the report can shade fault windows and a failure can be
//! related to the faults around it.
//!
//! Random choices (which nodes, which half) come from the seed of the
//! schedule step, so a run with the same `--seed` picks the same shapes;
//! choices that depend on the cluster (the current leader) are resolved
//! when the step runs.

pub mod membership;
pub mod partition;
pub mod process;

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

    /// The current leader, or (when none is known) the first node of the
    /// seeded order, with a flag saying which.
    pub async fn leader_or_any(&self, seed: u64) -> (u64, bool) {
        match self.cluster.leader().await {
            Some(l) => (l, true),
            None => (self.shuffled(seed)[0], false),
        }
    }
}

pub trait Nemesis: Send + Sync {
    fn name(&self) -> &'static str;

    /// Why this nemesis cannot run here (e.g. partitions on loopback).
    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String>;

    fn start<'a>(&'a self, ctx: &'a NemesisCtx, seed: u64) -> BoxFuture<'a, anyhow::Result<Value>>;

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
];

pub fn describe(name: &str) -> &'static str {
    match name {
        "partition" => "network partition into random halves",
        "partition-leader" => "isolate the current leader",
        "partition-ring" => "majorities ring: every node sees a majority, no two the same",
        "partition-bridge" => "two halves joined by one bridge node",
        "partition-one-way" => "the leader's packets to one follower dropped (not the reverse)",
        "kill" => "kill -9 a random master, restart it",
        "kill-leader" => "kill -9 the leader, restart it",
        "kill-majority" => "kill -9 a majority of masters, restart them",
        "kill-all" => "kill -9 every master, restart all (durability)",
        "pause" => "SIGSTOP a master (the leader half the time), SIGCONT it",
        "membership" => "remove a master (raftctl), wipe and restart it to join, re-add it",
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
        "pause" => Box::new(PauseNemesis::default()),
        "membership" => Box::new(membership::MembershipNemesis::default()),
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
            "partitions" => ALL.iter().copied().filter(|n| n.starts_with("partition")).collect(),
            "kills" => ALL.iter().copied().filter(|n| n.starts_with("kill")).collect(),
            "process" => vec!["kill", "kill-leader", "kill-majority", "kill-all", "pause"],
            name if ALL.contains(&name) => vec![name],
            other => bail!(
                "unknown nemesis {other:?}; known: {} (aliases: partitions, kills, process, all, none)",
                ALL.join(", ")
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
        for n in ALL {
            assert_eq!(by_name(n).unwrap().name(), *n);
            assert_ne!(describe(n), "unknown");
        }
        let e = expand(&["partition,kill".into(), "kill".into()]).unwrap();
        assert_eq!(e, vec!["partition", "kill"]);
        assert_eq!(expand(&["all".into()]).unwrap().len(), ALL.len());
        assert_eq!(expand(&["partitions".into()]).unwrap().len(), 5);
        assert!(expand(&["none".into()]).unwrap().is_empty());
        assert!(expand(&["bogus".into()]).is_err());
    }
}
