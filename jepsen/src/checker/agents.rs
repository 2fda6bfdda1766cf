//! Checker `agents`: what the leaders said about the agents, and what the
//! agents said about themselves, under agent and master faults.
//!
//! History shape (see `agents_record`): `agents-view` polls (the leader
//! that answered GET_AGENTS, its term, every agent it lists and in which
//! state), `agent-state` polls (each agent process's own id and whether it
//! is registered), `agent-exit` (a process that ended by itself), and the
//! nemesis records, whose agent faults name the agent.
//!
//! Rules (all over the recorded times; `B` = the masters'
//! `--agent-reregister-timeout` + `slack_ms`, which covers the agent
//! noticing the change, its registration backoff and the polling):
//! 1. **ids**: an id is never held by two agent processes (two different
//!    host:port in the leaders' views, or two processes reporting it), and
//!    a process never gets a new id (nothing in a run marks one gone or
//!    reboots it, so its id must survive kills and partitions).
//! 2. **re-registration**: after every heal (a nemesis's stop, the final
//!    heal) and every failover (a view of a newer term), every agent that
//!    no agent fault touched during `[t, t + B]` is registered (listed
//!    active) with the leader in a view invoked at or after `t` and
//!    completed by `t + B`. A failover inside the window supersedes the
//!    earlier trigger; windows in which the masters had no quorum
//!    (`kill-majority`, `kill-all`, `lose-unsynced-all`) are not judged.
//!    It is a violation only when the first view invoked after `t + B`
//!    (within `poll_slack_ms`), of the same term, still does not list the
//!    agent active; otherwise the window is undecided.
//! 3. **unreachable**: a leader lists an agent unreachable only while a
//!    fault excuses it: an agent fault on it, or a quorum loss of the
//!    masters, in place from `detection_ms` before the view's completion
//!    until the agent was seen registered again after that fault ended
//!    (plus `detection_ms`).
//! 4. **gone**: no agent is ever marked gone (the workload has no
//!    operator op marking one): a leader's gone count above zero, an agent
//!    listed gone, or an id a leader listed that a later leader view no
//!    longer lists at all, fails the run; so does an agent process that
//!    exits by itself.
//! 5. **back after the final heal**: every agent is listed active by the
//!    leader within `final_within_ms` of the final heal (faulted agents
//!    are exempt from rule 2 at their own heal; this is where they must
//!    come back).
//!
//! `unknown` when no view succeeded, or when no re-registration window
//! could be decided.

mod observe;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{details, CheckResult, Checker, Validity};
use crate::agents_record::AgentState;
use crate::history::Op;
use observe::{observe, FaultKind, Observations, Trigger, TriggerKind};

/// The bounds the rules allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AgentRules {
    /// The masters' `--agent-reregister-timeout`.
    pub reregister_timeout_ms: u64,
    /// Added to it: the agent noticing the change (its silence watchdog),
    /// its registration backoff, and the polling interval.
    pub slack_ms: u64,
    /// How far from a fault's start or end a detection may lie.
    pub detection_ms: u64,
    /// How long after a window's end a view may still show what held at
    /// its end.
    pub poll_slack_ms: u64,
    /// Every agent is registered again this long after the final heal.
    pub final_within_ms: u64,
}

pub struct AgentsChecker {
    pub rules: AgentRules,
}

/// One broken rule, with the history indexes that show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Violation {
    /// Two agent processes held one id.
    IdOfTwoProcesses {
        id: String,
        processes: Vec<String>,
        index: usize,
    },
    /// A process came back under a new id.
    NewId {
        agent: u64,
        old: String,
        new: String,
        index: usize,
    },
    /// Not registered with the leader within the bound after a trigger.
    NotReregistered {
        agent: u64,
        id: String,
        trigger_ms: f64,
        trigger: TriggerKind,
        deadline_ms: f64,
        /// The first view after the deadline, which still did not list
        /// the agent active.
        view_index: usize,
        state: Option<AgentState>,
        leader: Option<u64>,
        term: Option<u64>,
    },
    /// Listed unreachable with no fault excusing it.
    UnreachableUnfaulted {
        agent: Option<u64>,
        id: String,
        view_index: usize,
        invoke_ms: f64,
        complete_ms: f64,
        leader: Option<u64>,
        term: Option<u64>,
    },
    /// A leader counted gone agents although no operator marked one.
    MarkedGone {
        gone: u64,
        view_index: usize,
        leader: Option<u64>,
    },
    /// A leader listed an agent gone.
    ListedGone { id: String, view_index: usize },
    /// An id a leader had listed is no longer listed at all.
    Forgotten {
        id: String,
        last_listed_index: usize,
        view_index: usize,
        leader: Option<u64>,
        term: Option<u64>,
    },
    /// An agent process ended without the harness killing it.
    AgentExited {
        agent: u64,
        status: String,
        index: usize,
    },
    /// Not listed active within `final_within_ms` of the final heal.
    NotBackAfterFinalHeal {
        agent: u64,
        id: Option<String>,
        heal_ms: f64,
        last_state: Option<AgentState>,
    },
}

/// p50 / max of a set of delays, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DelayFigures {
    pub n: usize,
    pub p50_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl DelayFigures {
    fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        DelayFigures {
            n,
            p50_ms: (n > 0).then(|| ms[(n - 1) / 2]),
            max_ms: ms.last().copied(),
        }
    }
}

/// The checker's evidence.
#[derive(Debug, Default, Serialize)]
struct AgentsEvidence {
    rules: Option<AgentRules>,
    views: usize,
    agent_polls: usize,
    agents: Vec<u64>,
    faults_on_agents: usize,
    triggers: usize,
    /// Re-registration windows judged (agent x trigger) and how they went.
    windows_met: usize,
    windows_undecided: usize,
    windows_exempt: usize,
    windows_superseded: usize,
    /// Time from each trigger to the first view listing the agent active
    /// (an upper bound of the re-registration time).
    after_heal: DelayFigures,
    after_failover: DelayFigures,
    /// The same after failovers, from the last view of the old term.
    after_failover_from_old_leader: DelayFigures,
    after_final_heal: DelayFigures,
    unreachable_listings_excused: usize,
    problems: Vec<Violation>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl Checker for AgentsChecker {
    fn name(&self) -> &str {
        "agents"
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let obs = observe(history);
        let mut ev = AgentsEvidence {
            rules: Some(self.rules),
            views: obs.views.len(),
            agent_polls: obs.selfs.len(),
            agents: obs.agents.iter().copied().collect(),
            faults_on_agents: obs
                .faults
                .iter()
                .filter(|f| matches!(f.kind, FaultKind::Agent(_)))
                .count(),
            triggers: obs.triggers.len(),
            ..AgentsEvidence::default()
        };
        ids(&obs, &mut ev.problems);
        gone(&obs, &mut ev.problems);
        self.reregistration(&obs, &mut ev);
        self.unreachable(&obs, &mut ev);
        self.final_heal(&obs, &mut ev);
        let (valid, summary) = if !ev.problems.is_empty() {
            (
                Validity::False,
                format!("{} violation(s) of the agent rules", ev.problems.len()),
            )
        } else if obs.views.is_empty() {
            (
                Validity::Unknown,
                "no poll of the leader's agents succeeded".to_string(),
            )
        } else if ev.windows_met == 0 {
            (
                Validity::Unknown,
                "no re-registration window could be decided".to_string(),
            )
        } else {
            (
                Validity::True,
                format!(
                    "{} re-registration windows met ({} undecided), {} views, {} agent faults",
                    ev.windows_met, ev.windows_undecided, ev.views, ev.faults_on_agents
                ),
            )
        };
        CheckResult {
            checker: self.name().to_string(),
            valid,
            summary,
            details: details(&ev),
        }
    }
}

/// Rule 1: one process per id, one id per process.
fn ids(obs: &Observations, problems: &mut Vec<Violation>) {
    let mut holders: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for v in &obs.views {
        for a in &v.view.agents {
            let (Some(host), Some(port)) = (&a.hostname, a.port) else {
                continue;
            };
            let set = holders.entry(&a.id).or_default();
            set.insert(format!("{host}:{port}"));
            if set.len() > 1 && reported.insert(a.id.clone()) {
                problems.push(Violation::IdOfTwoProcesses {
                    id: a.id.clone(),
                    processes: set.iter().cloned().collect(),
                    index: v.index,
                });
            }
        }
    }
    let mut id_of: BTreeMap<u64, &str> = BTreeMap::new();
    let mut owner: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &obs.selfs {
        let Some(id) = s.view.id.as_deref() else {
            continue;
        };
        let agent = s.view.agent;
        match id_of.insert(agent, id) {
            Some(old) if old != id => problems.push(Violation::NewId {
                agent,
                old: old.to_string(),
                new: id.to_string(),
                index: s.index,
            }),
            _ => {}
        }
        let first = *owner.entry(id).or_insert(agent);
        if first != agent && reported.insert(id.to_string()) {
            problems.push(Violation::IdOfTwoProcesses {
                id: id.to_string(),
                processes: vec![format!("agent {first}"), format!("agent {agent}")],
                index: s.index,
            });
        }
    }
}

/// Rule 4: nothing is ever gone, forgotten, or exits by itself.
fn gone(obs: &Observations, problems: &mut Vec<Violation>) {
    if let Some(v) = obs
        .views
        .iter()
        .find(|v| v.view.gone.is_some_and(|g| g > 0))
    {
        problems.push(Violation::MarkedGone {
            gone: v.view.gone.unwrap_or(0),
            view_index: v.index,
            leader: v.view.leader,
        });
    }
    let mut listed: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for v in &obs.views {
        for a in &v.view.agents {
            if a.state == AgentState::Gone && reported.insert(a.id.clone()) {
                problems.push(Violation::ListedGone {
                    id: a.id.clone(),
                    view_index: v.index,
                });
            }
        }
        for (id, (index, complete)) in &listed {
            // Only views asked after the listing came back can contradict it.
            if *complete < v.invoke && v.view.state_of(id).is_none() && reported.insert(id.clone())
            {
                problems.push(Violation::Forgotten {
                    id: id.clone(),
                    last_listed_index: *index,
                    view_index: v.index,
                    leader: v.view.leader,
                    term: v.view.term,
                });
            }
        }
        for a in &v.view.agents {
            listed.insert(a.id.clone(), (v.index, v.complete));
        }
    }
    for (index, _, exit) in &obs.exits {
        problems.push(Violation::AgentExited {
            agent: exit.agent,
            status: exit.status.clone(),
            index: *index,
        });
    }
}

impl AgentsChecker {
    fn bound(&self) -> u64 {
        (self.rules.reregister_timeout_ms + self.rules.slack_ms) * 1_000_000
    }

    /// Rule 2.
    fn reregistration(&self, obs: &Observations, ev: &mut AgentsEvidence) {
        let bound = self.bound();
        let detection = self.rules.detection_ms * 1_000_000;
        let poll_slack = self.rules.poll_slack_ms * 1_000_000;
        let (mut heal, mut failover, mut from_old) = (Vec::new(), Vec::new(), Vec::new());
        for (i, trigger) in obs.triggers.iter().enumerate() {
            let t = trigger.at;
            let deadline = t + bound;
            // A newer term restarts the clock; a heal of some other fault
            // does not make registering with the same leader any harder.
            let superseded = obs.triggers[i + 1..].iter().any(|later| {
                later.at > t
                    && later.at <= deadline
                    && matches!(later.kind, TriggerKind::Failover { .. })
            });
            let masters_down = obs
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::MastersDown && f.overlaps(t + 1, deadline));
            for &agent in &obs.agents {
                let touched = obs.faults.iter().any(|f| {
                    f.kind == FaultKind::Agent(agent)
                        && f.overlaps(t.saturating_sub(detection), deadline)
                });
                if touched {
                    ev.windows_exempt += 1;
                    continue;
                }
                if superseded {
                    ev.windows_superseded += 1;
                    continue;
                }
                if masters_down {
                    ev.windows_undecided += 1;
                    continue;
                }
                let Some(id) = obs.id_of(agent, deadline) else {
                    ev.windows_undecided += 1;
                    continue;
                };
                let met = obs.views.iter().find(|v| {
                    v.invoke >= t
                        && v.complete <= deadline
                        && v.view.state_of(id) == Some(AgentState::Registered)
                });
                if let Some(v) = met {
                    ev.windows_met += 1;
                    let delay = ms(v.complete - t);
                    match &trigger.kind {
                        TriggerKind::Heal { .. } => heal.push(delay),
                        TriggerKind::Failover { last_old_view, .. } => {
                            failover.push(delay);
                            if let Some(old) = last_old_view {
                                from_old.push(ms(v.complete.saturating_sub(*old)));
                            }
                        }
                    }
                    continue;
                }
                match self.judge_late(obs, trigger, agent, id, deadline, poll_slack) {
                    Some(violation) => ev.problems.push(violation),
                    None => ev.windows_undecided += 1,
                }
            }
        }
        ev.after_heal = DelayFigures::of(heal);
        ev.after_failover = DelayFigures::of(failover);
        ev.after_failover_from_old_leader = DelayFigures::of(from_old);
    }

    /// A window not met: a violation if the first view after the deadline
    /// (same term as at the trigger) still does not list the agent active.
    fn judge_late(
        &self,
        obs: &Observations,
        trigger: &Trigger,
        agent: u64,
        id: &str,
        deadline: u64,
        poll_slack: u64,
    ) -> Option<Violation> {
        let term = obs.term_at(trigger.at)?;
        let after = obs
            .views
            .iter()
            .filter(|v| v.invoke >= deadline && v.invoke <= deadline + poll_slack)
            .min_by_key(|v| v.invoke)?;
        if after.view.term != Some(term) {
            return None;
        }
        let state = after.view.state_of(id);
        (state != Some(AgentState::Registered)).then(|| Violation::NotReregistered {
            agent,
            id: id.to_string(),
            trigger_ms: ms(trigger.at),
            trigger: trigger.kind.clone(),
            deadline_ms: ms(deadline),
            view_index: after.index,
            state,
            leader: after.view.leader,
            term: after.view.term,
        })
    }

    /// Rule 3.
    fn unreachable(&self, obs: &Observations, ev: &mut AgentsEvidence) {
        let detection = self.rules.detection_ms * 1_000_000;
        for v in &obs.views {
            for a in v
                .view
                .agents
                .iter()
                .filter(|a| a.state == AgentState::Unreachable)
            {
                let agent = obs.agent_of_id.get(&a.id).copied();
                let excused = obs.faults_affecting(agent).any(|f| {
                    let back = match f.end {
                        None => None,
                        Some(end) => obs.registered_again(&a.id, end).map(|b| b.complete),
                    };
                    f.start <= v.complete + detection
                        && back.is_none_or(|b| v.invoke <= b + detection)
                });
                if excused {
                    ev.unreachable_listings_excused += 1;
                    continue;
                }
                ev.problems.push(Violation::UnreachableUnfaulted {
                    agent,
                    id: a.id.clone(),
                    view_index: v.index,
                    invoke_ms: ms(v.invoke),
                    complete_ms: ms(v.complete),
                    leader: v.view.leader,
                    term: v.view.term,
                });
            }
        }
    }

    /// Rule 5.
    fn final_heal(&self, obs: &Observations, ev: &mut AgentsEvidence) {
        let Some(heal) = obs.final_heal else {
            return;
        };
        let within = self.rules.final_within_ms * 1_000_000;
        let mut delays = Vec::new();
        for &agent in &obs.agents {
            let id = obs.id_of(agent, u64::MAX);
            let back = id.and_then(|id| {
                obs.views.iter().find(|v| {
                    v.invoke >= heal
                        && v.complete <= heal + within
                        && v.view.state_of(id) == Some(AgentState::Registered)
                })
            });
            if let Some(v) = back {
                delays.push(ms(v.complete - heal));
                continue;
            }
            // Judged only when the polls went on past the bound.
            if obs.views.iter().any(|v| v.invoke >= heal + within) {
                let last_state =
                    id.and_then(|id| obs.views.iter().rev().find_map(|v| v.view.state_of(id)));
                ev.problems.push(Violation::NotBackAfterFinalHeal {
                    agent,
                    id: id.map(str::to_string),
                    heal_ms: ms(heal),
                    last_state,
                });
            }
        }
        ev.after_final_heal = DelayFigures::of(delays);
    }
}

#[cfg(test)]
mod tests;
