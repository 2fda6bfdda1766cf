//! Network partitions (namespace mode only).

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Nemesis, NemesisCtx};
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
}

impl PartitionNemesis {
    pub fn new(shape: Shape) -> Self {
        Self { shape }
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
                    json!({"from": leader, "dropped_at": follower, "was_leader": known}),
                )
            }
        }
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
        (!ctx.net.is_namespaced())
            .then(|| format!("needs network namespaces; {}", ctx.net.describe()))
    }

    fn start<'a>(&'a self, ctx: &'a NemesisCtx, seed: u64) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let (g, notes) = self.plan(ctx, seed).await;
            ctx.net.apply(&g)?;
            let views = grudge::views(&g, &ctx.cluster.ids());
            Ok(json!({"shape": self.name(), "plan": notes, "drops": g, "views": views}))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            ctx.net.heal()?;
            Ok(json!({"healed": true}))
        })
    }
}
