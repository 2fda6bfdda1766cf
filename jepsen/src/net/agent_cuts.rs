//! Cutting one agent off from every master (namespace mode, iptables).
//!
//! The agent opens its session to the master's port and both sides talk
//! on that one connection, so the cut is by packet direction on that port:
//! - [`AgentCut::AnswersLost`]: in each master's namespace, packets from
//!   the agent to the master port are dropped (`INPUT -p tcp -s AGENT
//!   --dport PORT -j DROP`). The master's pings still reach the agent;
//!   its answers (and new connections) do not.
//! - [`AgentCut::Both`]: the same, plus, in the agent's namespace, every
//!   packet from a master is dropped: nothing passes either way.
//!
//! Each cut is verified by TCP probes: the agent must not reach any
//! master's port; a master must reach the agent's port after a one-way
//! cut and must not after a full one.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use super::{in_netns, in_ns, tcp_reaches, Method, Net};

/// How an agent is cut off from the masters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentCut {
    /// Nothing passes between the agent and any master.
    Both,
    /// The masters' packets reach the agent; the agent's never reach a
    /// master.
    AnswersLost,
}

/// What the probes of an agent cut found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentProbe {
    /// Masters whose port the agent reached.
    pub agent_reaches: BTreeSet<u64>,
    /// Masters that reached the agent's port.
    pub reach_agent: BTreeSet<u64>,
}

impl AgentProbe {
    /// Whether the probe shows exactly the cut `cut` of an agent from
    /// `masters`.
    pub fn shows(&self, cut: AgentCut, masters: &[u64]) -> bool {
        let all: BTreeSet<u64> = masters.iter().copied().collect();
        self.agent_reaches.is_empty()
            && match cut {
                AgentCut::Both => self.reach_agent.is_empty(),
                AgentCut::AnswersLost => self.reach_agent == all,
            }
    }
}

impl Net {
    pub(super) fn agent_cuts(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, AgentCut>> {
        self.agent_cuts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why agents cannot be cut off here, if they cannot.
    pub fn can_cut_agents(&self) -> Result<(), String> {
        match self.method {
            Some(Method::Iptables) => Ok(()),
            Some(Method::Routes) => Err("cutting agents off needs iptables (blackhole routes \
                 cannot cut one direction of a connection); apt-get install -y iptables"
                .into()),
            None => Err(format!(
                "cutting agents off needs network namespaces ({})",
                self.describe()
            )),
        }
    }

    /// `(namespace, iptables rule)` pairs of a cut (after `-A`/`-D`).
    fn agent_rules(&self, agent: u64, cut: AgentCut) -> anyhow::Result<Vec<(String, Vec<String>)>> {
        let place = self.agents.get(&agent).context("no such agent")?;
        let agent_ns = place.netns.clone().context("the agent has no namespace")?;
        let mut rules = Vec::new();
        for m in self.nodes.values() {
            let ns = m.netns.clone().context("a master has no namespace")?;
            rules.push((
                ns,
                [
                    "INPUT",
                    "-p",
                    "tcp",
                    "-s",
                    &place.ip,
                    "--dport",
                    &m.port.to_string(),
                ]
                .iter()
                .map(|s| s.to_string())
                .chain(["-j".into(), "DROP".into()])
                .collect(),
            ));
            if cut == AgentCut::Both {
                rules.push((
                    agent_ns.clone(),
                    ["INPUT", "-s", &m.ip, "-j", "DROP"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ));
            }
        }
        Ok(rules)
    }

    fn iptables(ns: &str, op: &str, rule: &[String]) -> anyhow::Result<()> {
        let mut args = vec!["-w", "5", op];
        args.extend(rule.iter().map(String::as_str));
        in_ns(ns, "iptables", &args).map(|_| ())
    }

    /// Cuts `agent` off from every master, all or nothing.
    pub fn cut_agent(&self, agent: u64, cut: AgentCut) -> anyhow::Result<()> {
        self.can_cut_agents().map_err(anyhow::Error::msg)?;
        let mut cuts = self.agent_cuts();
        if cuts.contains_key(&agent) {
            bail!("agent {agent} is already cut off");
        }
        let rules = self.agent_rules(agent, cut)?;
        for (i, (ns, rule)) in rules.iter().enumerate() {
            if let Err(e) = Self::iptables(ns, "-A", rule) {
                for (ns, rule) in rules[..i].iter().rev() {
                    let _ = Self::iptables(ns, "-D", rule);
                }
                return Err(e.context(format!("cutting agent {agent} off")));
            }
        }
        cuts.insert(agent, cut);
        Ok(())
    }

    /// Takes back the cut of `agent` (nothing to do when it has none).
    pub fn heal_agent(&self, agent: u64) -> anyhow::Result<()> {
        let Some(cut) = self.agent_cuts().remove(&agent) else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for (ns, rule) in self.agent_rules(agent, cut)? {
            if let Err(e) = Self::iptables(&ns, "-D", &rule) {
                errors.push(format!("{e:#}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("healing agent {agent}: {}", errors.join("; "))
        }
    }

    /// Which masters the agent reaches and which reach it, by TCP.
    pub fn probe_agent(&self, agent: u64, timeout: Duration) -> anyhow::Result<AgentProbe> {
        let place = self.agents.get(&agent).context("no such agent")?;
        let agent_ns = place.netns.clone().context("the agent has no namespace")?;
        let agent_addr: SocketAddr = place.addr().parse()?;
        let mut outgoing = Vec::new();
        let mut incoming = Vec::new();
        for m in self.nodes.values() {
            let addr: SocketAddr = m.addr().parse()?;
            outgoing.push((
                m.id,
                in_netns(&agent_ns, move || tcp_reaches(addr, timeout)),
            ));
            let ns = m.netns.clone().unwrap_or_default();
            incoming.push((
                m.id,
                in_netns(&ns, move || tcp_reaches(agent_addr, timeout)),
            ));
        }
        let collect = |probes: Vec<(u64, std::thread::JoinHandle<anyhow::Result<bool>>)>| {
            let mut reached = BTreeSet::new();
            for (id, probe) in probes {
                let ok = probe
                    .join()
                    .map_err(|_| anyhow::anyhow!("probe thread panicked"))??;
                if ok {
                    reached.insert(id);
                }
            }
            anyhow::Ok(reached)
        };
        Ok(AgentProbe {
            agent_reaches: collect(outgoing)?,
            reach_agent: collect(incoming)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_judge_both_kinds() {
        let masters = [1, 2, 3];
        let none = AgentProbe {
            agent_reaches: BTreeSet::new(),
            reach_agent: BTreeSet::new(),
        };
        assert!(none.shows(AgentCut::Both, &masters));
        assert!(!none.shows(AgentCut::AnswersLost, &masters));
        let one_way = AgentProbe {
            agent_reaches: BTreeSet::new(),
            reach_agent: BTreeSet::from([1, 2, 3]),
        };
        assert!(one_way.shows(AgentCut::AnswersLost, &masters));
        assert!(!one_way.shows(AgentCut::Both, &masters));
        let leaky = AgentProbe {
            agent_reaches: BTreeSet::from([2]),
            reach_agent: BTreeSet::new(),
        };
        assert!(!leaky.shows(AgentCut::Both, &masters));
    }
}
