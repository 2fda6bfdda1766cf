//! Process faults: kill -9 and restart, SIGSTOP and SIGCONT.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::{Nemesis, NemesisCtx};

#[derive(Clone, Copy, Debug)]
pub enum KillTarget {
    Random,
    Leader,
    Majority,
    All,
}

pub struct KillNemesis {
    target: KillTarget,
    killed: Mutex<Vec<u64>>,
}

impl KillNemesis {
    pub fn new(target: KillTarget) -> Self {
        Self {
            target,
            killed: Mutex::new(Vec::new()),
        }
    }
}

/// How long a restarted node gets to answer `/health` before the nemesis
/// reports it (the run goes on; the final heal checks readiness again).
const RESTART_HEALTH: Duration = Duration::from_secs(15);

impl Nemesis for KillNemesis {
    fn name(&self) -> &'static str {
        match self.target {
            KillTarget::Random => "kill",
            KillTarget::Leader => "kill-leader",
            KillTarget::Majority => "kill-majority",
            KillTarget::All => "kill-all",
        }
    }

    fn unsupported(&self, _: &NemesisCtx) -> Option<String> {
        None
    }

    fn start<'a>(&'a self, ctx: &'a NemesisCtx, seed: u64) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let order = ctx.shuffled(seed);
            let mut note = json!({});
            let victims: Vec<u64> = match self.target {
                KillTarget::Random => vec![order[0]],
                KillTarget::Leader => {
                    let (leader, known) = ctx.leader_or_any(seed).await;
                    note = json!({"was_leader": known});
                    vec![leader]
                }
                KillTarget::Majority => order[..order.len() / 2 + 1].to_vec(),
                KillTarget::All => order.clone(),
            };
            let mut killed = Vec::new();
            for id in &victims {
                if ctx.cluster.kill(*id) {
                    killed.push(*id);
                }
            }
            self.killed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(&killed);
            Ok(json!({"killed": killed, "targets": victims, "notes": note}))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let killed =
                std::mem::take(&mut *self.killed.lock().unwrap_or_else(|e| e.into_inner()));
            for id in &killed {
                ctx.cluster.start(*id)?;
            }
            let health = ctx.cluster.wait_healthy(&killed, RESTART_HEALTH).await;
            Ok(json!({
                "restarted": killed,
                "healthy": health.is_ok(),
                "health_error": health.err().map(|e| e.to_string()),
            }))
        })
    }
}

#[derive(Default)]
pub struct PauseNemesis {
    paused: Mutex<Vec<u64>>,
}

impl Nemesis for PauseNemesis {
    fn name(&self) -> &'static str {
        "pause"
    }

    fn unsupported(&self, _: &NemesisCtx) -> Option<String> {
        None
    }

    fn start<'a>(&'a self, ctx: &'a NemesisCtx, seed: u64) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let leader_please = StdRng::seed_from_u64(seed ^ 0x9e37_79b9).gen_bool(0.5);
            let (target, was_leader) = if leader_please {
                ctx.leader_or_any(seed).await
            } else {
                (ctx.shuffled(seed)[0], false)
            };
            let paused = ctx.cluster.pause(target);
            if paused {
                self.paused
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(target);
            }
            Ok(json!({"paused": target, "was_running": paused, "was_leader": was_leader}))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let paused =
                std::mem::take(&mut *self.paused.lock().unwrap_or_else(|e| e.into_inner()));
            let resumed: Vec<u64> = paused
                .into_iter()
                .filter(|id| ctx.cluster.resume(*id))
                .collect();
            Ok(json!({"resumed": resumed}))
        })
    }
}
