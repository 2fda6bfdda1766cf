//! Process faults: kill -9 and restart (optionally losing every write not
//! fsynced, on lazyfs), SIGSTOP and SIGCONT.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::{Injection, Nemesis, NemesisCtx};

#[derive(Clone, Copy, Debug)]
pub enum KillTarget {
    Random,
    Leader,
    Majority,
    All,
}

pub struct KillNemesis {
    target: KillTarget,
    /// Also drop the victims' unsynced writes (a power loss, not a crash
    /// of the process alone).
    lose_unsynced: bool,
    killed: Mutex<Vec<u64>>,
}

impl KillNemesis {
    pub fn new(target: KillTarget) -> Self {
        Self {
            target,
            lose_unsynced: false,
            killed: Mutex::new(Vec::new()),
        }
    }

    pub fn losing_unsynced(target: KillTarget) -> Self {
        Self {
            lose_unsynced: true,
            ..Self::new(target)
        }
    }
}

/// How long a restarted node gets to answer `/health` before the nemesis
/// reports it (the run goes on; the final heal checks readiness again).
const RESTART_HEALTH: Duration = Duration::from_secs(15);

impl Nemesis for KillNemesis {
    fn name(&self) -> &'static str {
        match (self.target, self.lose_unsynced) {
            (KillTarget::Random, false) => "kill",
            (KillTarget::Leader, false) => "kill-leader",
            (KillTarget::Majority, false) => "kill-majority",
            (KillTarget::All, false) => "kill-all",
            (KillTarget::All, true) => "lose-unsynced-all",
            (_, true) => "lose-unsynced",
        }
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        if !self.lose_unsynced || ctx.cluster.runs_on_lazyfs() {
            return None;
        }
        Some(match crate::lazyfs::LazyFs::supported() {
            Err(why) => format!("needs the lazyfs FUSE filesystem: {why}"),
            Ok(()) => "the masters' work dirs are not on lazyfs".into(),
        })
    }

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>> {
        Box::pin(async move {
            // Only running masters can be killed: a kill of a stopped one
            // would change nothing and must not count as a fault.
            let running = ctx.cluster.running();
            let order = ctx.running_shuffled(seed);
            let total = ctx.cluster.ids().len();
            let mut note = json!({});
            let victims: Vec<u64> = match self.target {
                _ if order.is_empty() => Vec::new(),
                KillTarget::Random => vec![order[0]],
                KillTarget::Leader => {
                    let (leader, known) = ctx.leader_or_any(seed).await;
                    note = json!({"was_leader": known});
                    vec![if running.contains(&leader) {
                        leader
                    } else {
                        order[0]
                    }]
                }
                KillTarget::Majority if order.len() < total / 2 + 1 => Vec::new(),
                KillTarget::Majority => order[..total / 2 + 1].to_vec(),
                KillTarget::All => order.clone(),
            };
            if victims.is_empty() {
                return Ok(Injection::not(
                    "not enough running masters to kill",
                    json!({"running": running}),
                ));
            }
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
            if killed.is_empty() {
                return Ok(Injection::not(
                    "the chosen masters were no longer running",
                    json!({"targets": victims}),
                ));
            }
            if self.lose_unsynced {
                let cluster = ctx.cluster.clone();
                let victims = killed.clone();
                let dropped = tokio::task::spawn_blocking(move || {
                    victims
                        .iter()
                        .map(|id| (*id, cluster.crash_unsynced(*id)))
                        .collect::<Vec<_>>()
                })
                .await?;
                if let Some((id, _)) = dropped.iter().find(|(_, r)| r.is_none()) {
                    anyhow::bail!("master {id} has no lazyfs mount to crash");
                }
                note["unsynced_dropped"] = json!(dropped
                    .into_iter()
                    .map(|(id, r)| (id.to_string(), json!(r)))
                    .collect::<serde_json::Map<_, _>>());
            }
            Ok(Injection::Injected(
                json!({"killed": killed, "targets": victims, "notes": note}),
            ))
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

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>> {
        Box::pin(async move {
            let leader_please = StdRng::seed_from_u64(seed ^ 0x9e37_79b9).gen_bool(0.5);
            let running = ctx.cluster.running();
            let (target, was_leader) = if leader_please {
                ctx.leader_or_any(seed).await
            } else {
                let any = ctx
                    .shuffled(seed)
                    .into_iter()
                    .find(|id| running.contains(id));
                (any.unwrap_or(0), false)
            };
            if !ctx.cluster.pause(target) {
                return Ok(Injection::not(
                    format!("master {target} is not running"),
                    json!({"target": target, "running": running}),
                ));
            }
            self.paused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(target);
            Ok(Injection::Injected(
                json!({"paused": target, "was_leader": was_leader}),
            ))
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
