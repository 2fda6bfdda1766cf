//! Network partitions (namespace mode only). Each injection is verified:
//! after the cuts are in place every node tries to open a connection to
//! every other node, and the history records the cuts that probe found;
//! if they differ from the planned shape the injection failed.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Injection, Nemesis, NemesisCtx};
use crate::net::grudge::{self, Grudge};

#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Halves,
    IsolateLeader,
    MajoritiesRing,
    Bridge,
    OneWay,
}

pub struct PartitionNemesis {
    shape: Shape,
    /// The grudge this nemesis put in place (taken back on stop).
    active: Mutex<Option<Grudge>>,
}

/// How long a probe connection may take before the pair counts as cut.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl PartitionNemesis {
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            active: Mutex::new(None),
        }
    }

    /// The shape on a fixed order of `ids`, to tell what it needs.
    fn example(&self, ids: &[u64]) -> Grudge {
        match self.shape {
            Shape::Halves => grudge::halves(ids),
            Shape::MajoritiesRing => grudge::majorities_ring(ids),
            Shape::Bridge => grudge::bridge(ids),
            Shape::IsolateLeader => grudge::isolate(ids[0], ids),
            Shape::OneWay => grudge::one_way(ids[0], ids[ids.len().min(2) - 1]),
        }
    }

    /// The grudge for this shape, plus notes about how it was chosen.
    async fn plan(&self, ctx: &NemesisCtx, seed: u64) -> (Grudge, Value) {
        let order = ctx.shuffled(seed);
        match self.shape {
            Shape::Halves => (grudge::halves(&order), json!({"order": order})),
            Shape::MajoritiesRing => (grudge::majorities_ring(&order), json!({"ring": order})),
            Shape::Bridge => (grudge::bridge(&order), json!({"order": order})),
            Shape::IsolateLeader => {
                let (leader, known) = ctx.leader_or_any(seed).await;
                (
                    grudge::isolate(leader, &order),
                    json!({"isolated": leader, "was_leader": known}),
                )
            }
            Shape::OneWay => {
                let (leader, known) = ctx.leader_or_any(seed).await;
                let follower = order
                    .iter()
                    .copied()
                    .find(|n| *n != leader)
                    .unwrap_or(leader);
                (
                    grudge::one_way(leader, follower),
                    json!({"cannot_connect": leader, "to": follower, "was_leader": known}),
                )
            }
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Grudge>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Nemesis for PartitionNemesis {
    fn name(&self) -> &'static str {
        match self.shape {
            Shape::Halves => "partition",
            Shape::IsolateLeader => "partition-leader",
            Shape::MajoritiesRing => "partition-ring",
            Shape::Bridge => "partition-bridge",
            Shape::OneWay => "partition-one-way",
        }
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        let ids = ctx.cluster.ids();
        if ids.len() < 2 {
            return Some("needs at least two masters".into());
        }
        ctx.net.can_make(&self.example(&ids)).err()
    }

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>> {
        Box::pin(async move {
            if self.active().is_some() {
                anyhow::bail!("{} is already in place", self.name());
            }
            let (g, notes) = self.plan(ctx, seed).await;
            ctx.net.apply(&g)?;
            *self.active() = Some(g.clone());
            let intended = ctx.net.cut_now();
            let net = ctx.net.clone();
            let probed = tokio::task::spawn_blocking(move || net.probe(PROBE_TIMEOUT)).await?;
            let probed = match probed {
                Ok(p) => p,
                Err(e) => {
                    self.undo(ctx);
                    return Err(e.context("probing the partition"));
                }
            };
            if probed != intended {
                self.undo(ctx);
                anyhow::bail!(
                    "the network does not have the planned shape: planned cuts {intended:?}, \
                     probed cuts {probed:?}"
                );
            }
            let reaches = grudge::reaches(&g, &ctx.cluster.ids());
            Ok(Injection::Injected(json!({
                "shape": self.name(), "plan": notes, "cuts": probed, "reaches": reaches,
                "method": ctx.net.describe(),
            })))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let Some(g) = self.active().take() else {
                return Ok(json!({"nothing_to_do": true}));
            };
            ctx.net.remove(&g)?;
            Ok(json!({"healed": grudge::cut_pairs(&g), "cuts_left": ctx.net.cut_now()}))
        })
    }
}

impl PartitionNemesis {
    fn undo(&self, ctx: &NemesisCtx) {
        if let Some(g) = self.active().take() {
            if let Err(e) = ctx.net.remove(&g) {
                tracing::warn!(error = %e, "could not take back a failed partition");
            }
        }
    }
}
