//! Agent faults: cut an agent off from every master (both ways, or only
//! its answers lost), pause it (SIGSTOP/SIGCONT), kill -9 it and restart
//! it with the same flags and work dir. The agent and the kind of cut
//! come from the step's seed; every start record names the agent
//! (`"agent": i`), which is how the agents checker excuses what the fault
//! causes.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::{Injection, Nemesis, NemesisCtx};
use crate::net::agent_cuts::AgentCut;

/// How long a cut's probe connection may take before it counts as cut.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentFault {
    Partition,
    Pause,
    Kill,
}

pub struct AgentNemesis {
    fault: AgentFault,
    /// The agent the fault is on, while it is.
    active: Mutex<Option<u64>>,
}

impl AgentNemesis {
    pub fn new(fault: AgentFault) -> Self {
        Self {
            fault,
            active: Mutex::new(None),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The agents in a seeded order.
fn shuffled(ctx: &NemesisCtx, seed: u64) -> Vec<u64> {
    let mut ids = ctx.cluster.agents.ids();
    ids.shuffle(&mut StdRng::seed_from_u64(seed));
    ids
}

/// The kind of cut a step makes (half of each, seeded).
pub fn cut_kind(seed: u64) -> AgentCut {
    if StdRng::seed_from_u64(seed ^ 0x00a9_e17c).gen_bool(0.5) {
        AgentCut::Both
    } else {
        AgentCut::AnswersLost
    }
}

impl Nemesis for AgentNemesis {
    fn name(&self) -> &'static str {
        match self.fault {
            AgentFault::Partition => "agent-partition",
            AgentFault::Pause => "agent-pause",
            AgentFault::Kill => "agent-kill",
        }
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        if ctx.cluster.agents.ids().is_empty() {
            return Some("the run has no agents (--agents N)".into());
        }
        match self.fault {
            AgentFault::Partition => ctx.net.can_cut_agents().err(),
            AgentFault::Pause | AgentFault::Kill => None,
        }
    }

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>> {
        Box::pin(async move {
            if let Some(agent) = *self.active() {
                anyhow::bail!("{} is already in place on agent {agent}", self.name());
            }
            let running = ctx.cluster.agents.running();
            let order = shuffled(ctx, seed);
            let Some(agent) = order.iter().copied().find(|a| running.contains(a)) else {
                return Ok(Injection::not(
                    "no agent is running",
                    json!({"running": running}),
                ));
            };
            let done = match self.fault {
                AgentFault::Partition => {
                    let kind = cut_kind(seed);
                    ctx.net.cut_agent(agent, kind)?;
                    *self.active() = Some(agent);
                    let net = ctx.net.clone();
                    let probed =
                        tokio::task::spawn_blocking(move || net.probe_agent(agent, PROBE_TIMEOUT))
                            .await?;
                    let probed = match probed {
                        Ok(p) => p,
                        Err(e) => {
                            self.undo(ctx);
                            return Err(e.context("probing the agent's cut"));
                        }
                    };
                    if !probed.shows(kind, &ctx.cluster.ids()) {
                        self.undo(ctx);
                        anyhow::bail!(
                            "agent {agent} is not cut off as planned ({kind:?}): probes found {probed:?}"
                        );
                    }
                    json!({"agent": agent, "kind": kind, "probed": probed,
                           "method": ctx.net.describe()})
                }
                AgentFault::Pause => {
                    if !ctx.cluster.agents.pause(agent) {
                        return Ok(Injection::not(
                            format!("agent {agent} is not running or already paused"),
                            json!({"agent_asked": agent}),
                        ));
                    }
                    *self.active() = Some(agent);
                    json!({"agent": agent, "paused": true})
                }
                AgentFault::Kill => {
                    if !ctx.cluster.agents.kill(agent) {
                        return Ok(Injection::not(
                            format!("agent {agent} was no longer running"),
                            json!({"agent_asked": agent}),
                        ));
                    }
                    *self.active() = Some(agent);
                    json!({"agent": agent, "killed": true})
                }
            };
            Ok(Injection::Injected(done))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let Some(agent) = self.active().take() else {
                return Ok(json!({"nothing_to_do": true}));
            };
            match self.fault {
                AgentFault::Partition => {
                    ctx.net.heal_agent(agent)?;
                    Ok(json!({"agent": agent, "healed": true}))
                }
                AgentFault::Pause => {
                    let resumed = ctx.cluster.agents.resume(agent);
                    Ok(json!({"agent": agent, "resumed": resumed}))
                }
                AgentFault::Kill => {
                    ctx.cluster.agents.start(agent)?;
                    Ok(json!({"agent": agent, "restarted": true}))
                }
            }
        })
    }
}

impl AgentNemesis {
    fn undo(&self, ctx: &NemesisCtx) {
        if let Some(agent) = self.active().take() {
            if let Err(e) = ctx.net.heal_agent(agent) {
                tracing::warn!(agent, error = %e, "could not take back a failed agent cut");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_cut_are_drawn() {
        let kinds: std::collections::BTreeSet<String> = (0..64u64)
            .map(|seed| format!("{:?}", cut_kind(seed)))
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert_eq!(cut_kind(7), cut_kind(7), "seeded");
    }
}
