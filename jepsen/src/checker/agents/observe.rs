//! What the `agents` checker reads from a history, gathered once: the
//! leader's views (in completion order), the agents' own views, agent
//! exits, the fault windows of every nemesis, the heal times and the
//! leader changes the views show.

use std::collections::{BTreeMap, BTreeSet};

use crate::agents_record::{
    faulted_agent, AgentExit, LeaderView, SelfView, AGENTS_VIEW, AGENT_EXIT, AGENT_STATE,
};
use crate::history::{pair, HistoryValue, Op, OpType, Process};
use crate::nemesis_record::NemesisRecord;

/// Nemeses that leave the master group without a quorum: agents cannot
/// reach a leader while they last, through no fault of their own.
pub const MASTERS_DOWN: &[&str] = &["kill-majority", "kill-all", "lose-unsynced-all"];

/// A successful poll of the leader's view.
#[derive(Clone, Debug)]
pub struct ViewObs {
    /// `index` of the invocation in the full history.
    pub index: usize,
    pub invoke: u64,
    pub complete: u64,
    pub view: LeaderView,
}

/// A successful poll of one agent's `/state`.
#[derive(Clone, Debug)]
pub struct SelfObs {
    pub index: usize,
    pub complete: u64,
    pub view: SelfView,
}

/// What a fault did to the agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An agent nemesis on this agent.
    Agent(u64),
    /// The master group had no quorum.
    MastersDown,
    /// Any other master fault.
    Master,
}

/// One injected fault, from its start until its stop (None: still in
/// place when the history ends).
#[derive(Clone, Debug)]
pub struct FaultWindow {
    pub kind: FaultKind,
    pub start: u64,
    pub end: Option<u64>,
}

impl FaultWindow {
    /// Whether the fault was in place at some instant of `[from, to]`.
    pub fn overlaps(&self, from: u64, to: u64) -> bool {
        self.start <= to && self.end.is_none_or(|end| end >= from)
    }
}

/// What starts the re-registration clock.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TriggerKind {
    /// A nemesis stopped (or the harness healed everything).
    Heal { nemesis: String },
    /// A view showed a newer term than any before it.
    Failover {
        from_term: Option<u64>,
        to_term: u64,
        view_index: usize,
        /// When the last view of an older term completed.
        #[serde(skip)]
        last_old_view: Option<u64>,
    },
}

#[derive(Clone, Debug)]
pub struct Trigger {
    pub at: u64,
    pub kind: TriggerKind,
}

#[derive(Default)]
pub struct Observations {
    pub views: Vec<ViewObs>,
    pub selfs: Vec<SelfObs>,
    pub exits: Vec<(usize, u64, AgentExit)>,
    pub faults: Vec<FaultWindow>,
    pub triggers: Vec<Trigger>,
    /// When the harness's final heal was recorded.
    pub final_heal: Option<u64>,
    /// Every agent process (by the harness's number) that reported.
    pub agents: BTreeSet<u64>,
    /// Agent ids as the processes themselves reported them.
    pub agent_of_id: BTreeMap<String, u64>,
}

fn fault_kind(nemesis: &str, record: &NemesisRecord) -> FaultKind {
    if let Some(agent) = faulted_agent(&record.value) {
        FaultKind::Agent(agent)
    } else if MASTERS_DOWN.contains(&nemesis) {
        FaultKind::MastersDown
    } else {
        FaultKind::Master
    }
}

fn nemesis_events(history: &[Op], obs: &mut Observations) {
    let mut open: BTreeMap<String, FaultWindow> = BTreeMap::new();
    for op in history.iter().filter(|op| op.process == Process::Nemesis) {
        let record = NemesisRecord::of(&op.value);
        match op.f.as_str() {
            "start" if record.injected != Some(false) && op.error.is_none() => {
                let start = record.began_ns.unwrap_or(op.time).min(op.time);
                let kind = fault_kind(&record.nemesis, &record);
                let window = FaultWindow {
                    kind,
                    start,
                    end: None,
                };
                if let Some(mut earlier) = open.insert(record.nemesis.clone(), window) {
                    // A start without a stop: the fault lasted until now.
                    earlier.end = Some(op.time);
                    obs.faults.push(earlier);
                }
            }
            "stop" => {
                if let Some(mut w) = open.remove(&record.nemesis) {
                    w.end = Some(op.time);
                    obs.faults.push(w);
                }
                obs.triggers.push(Trigger {
                    at: op.time,
                    kind: TriggerKind::Heal {
                        nemesis: record.nemesis.clone(),
                    },
                });
            }
            "heal" => {
                for (_, mut w) in std::mem::take(&mut open) {
                    w.end = Some(op.time);
                    obs.faults.push(w);
                }
                obs.final_heal = Some(op.time);
                obs.triggers.push(Trigger {
                    at: op.time,
                    kind: TriggerKind::Heal {
                        nemesis: "heal".into(),
                    },
                });
            }
            _ => {}
        }
    }
    obs.faults.extend(open.into_values());
}

/// Leader changes: the first view of each term newer than all before it.
fn failovers(obs: &mut Observations) {
    let mut newest: Option<u64> = None;
    let mut last_view_of_newest: Option<u64> = None;
    for v in &obs.views {
        let Some(term) = v.view.term else { continue };
        match newest {
            Some(t) if term <= t => {
                if term == t {
                    last_view_of_newest = Some(v.complete);
                }
            }
            _ => {
                if newest.is_some() {
                    obs.triggers.push(Trigger {
                        at: v.complete,
                        kind: TriggerKind::Failover {
                            from_term: newest,
                            to_term: term,
                            view_index: v.index,
                            last_old_view: last_view_of_newest,
                        },
                    });
                }
                newest = Some(term);
                last_view_of_newest = Some(v.complete);
            }
        }
    }
}

pub fn observe(history: &[Op]) -> Observations {
    let mut obs = Observations::default();
    for c in pair(history) {
        let Some(done) = c.complete else { continue };
        match c.invoke.f.as_str() {
            AGENTS_VIEW if done.kind == OpType::Ok => {
                if let Some(view) = LeaderView::of(&done.value) {
                    obs.views.push(ViewObs {
                        index: c.invoke.index,
                        invoke: c.invoke.time,
                        complete: done.time,
                        view,
                    });
                }
            }
            AGENT_STATE if done.kind == OpType::Ok => {
                if let Some(view) = SelfView::of(&done.value) {
                    obs.agents.insert(view.agent);
                    if let Some(id) = &view.id {
                        obs.agent_of_id.entry(id.clone()).or_insert(view.agent);
                    }
                    obs.selfs.push(SelfObs {
                        index: c.invoke.index,
                        complete: done.time,
                        view,
                    });
                }
            }
            AGENT_EXIT => {
                if let Some(exit) = AgentExit::of(c.value()) {
                    obs.exits.push((c.invoke.index, done.time, exit));
                }
            }
            _ => {}
        }
    }
    obs.views.sort_by_key(|v| (v.complete, v.index));
    obs.selfs.sort_by_key(|s| (s.complete, s.index));
    nemesis_events(history, &mut obs);
    failovers(&mut obs);
    obs.triggers.sort_by_key(|t| t.at);
    obs
}

impl Observations {
    /// The id agent `agent` last reported by time `t`.
    pub fn id_of(&self, agent: u64, t: u64) -> Option<&str> {
        self.selfs
            .iter()
            .filter(|s| s.view.agent == agent && s.complete <= t)
            .filter_map(|s| s.view.id.as_deref())
            .next_back()
    }

    /// The newest term shown by views completed by `t`.
    pub fn term_at(&self, t: u64) -> Option<u64> {
        self.views
            .iter()
            .filter(|v| v.complete <= t)
            .filter_map(|v| v.view.term)
            .max()
    }

    /// Faults on `agent` or leaving the masters without a quorum.
    pub fn faults_affecting(&self, agent: Option<u64>) -> impl Iterator<Item = &FaultWindow> {
        self.faults.iter().filter(move |f| match f.kind {
            FaultKind::Agent(a) => Some(a) == agent,
            FaultKind::MastersDown => true,
            FaultKind::Master => false,
        })
    }

    /// When `id` was first seen registered in a view invoked at or after
    /// `t` (the view's completion).
    pub fn registered_again(&self, id: &str, t: u64) -> Option<&ViewObs> {
        self.views.iter().find(|v| {
            v.invoke >= t
                && v.view.state_of(id) == Some(crate::agents_record::AgentState::Registered)
        })
    }
}
