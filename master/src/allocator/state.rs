//! The allocator's records of agents and frameworks, with the small
//! mutations that keep each record consistent.
//!
//! An agent's `available` plus everything held on it always equals its
//! `total`: every mutation here either moves resources between the two
//! or refuses and changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use mesoraft_proto::mesos::v1::Attribute;

use super::filters::OfferFilter;
use super::model::{AgentId, FrameworkId, Held};
use super::resources::Resources;

/// Who holds resources on an agent: a framework, in one of its roles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Holder {
    pub framework_id: FrameworkId,
    pub role: String,
}

#[derive(Debug, Clone)]
pub(super) struct Agent {
    pub total: Resources,
    pub available: Resources,
    pub held: BTreeMap<Holder, Resources>,
    /// Kept for the offers built from this agent; the allocator does not
    /// look inside.
    pub attributes: Vec<Attribute>,
}

impl Agent {
    pub fn new(total: Resources, attributes: Vec<Attribute>) -> Agent {
        Agent {
            available: total.clone(),
            total,
            held: BTreeMap::new(),
            attributes,
        }
    }

    /// Everything held on the agent, by anyone.
    pub fn held_total(&self) -> Resources {
        let mut sum = Resources::new();
        for r in self.held.values() {
            sum.add(r);
        }
        sum
    }

    /// Moves `resources` from available to `holder`; false (and nothing
    /// changed) if they are not all available.
    pub fn hold(&mut self, holder: Holder, resources: &Resources) -> bool {
        let Some(rest) = self.available.checked_sub(resources) else {
            return false;
        };
        self.available = rest;
        // No empty holdings: a holder with nothing is no holder.
        if !resources.is_empty() {
            self.held.entry(holder).or_default().add(resources);
        }
        true
    }

    /// Moves everything available to `holder` and returns it: the
    /// allocation round's whole-agent offer, without the containment
    /// check and copy a partial hold needs.
    pub fn hold_all(&mut self, holder: Holder) -> Resources {
        let taken = std::mem::take(&mut self.available);
        if !taken.is_empty() {
            self.held.entry(holder).or_default().add(&taken);
        }
        taken
    }

    /// Moves `resources` from `holder` back to available; false (and
    /// nothing changed) if the holder does not hold them all.
    pub fn release(&mut self, holder: &Holder, resources: &Resources) -> bool {
        let Some(held) = self.held.get(holder) else {
            return resources.is_empty();
        };
        let Some(rest) = held.checked_sub(resources) else {
            return false;
        };
        if rest.is_empty() {
            self.held.remove(holder);
        } else {
            self.held.insert(holder.clone(), rest);
        }
        self.available.add(resources);
        true
    }

    /// Releases everything `framework_id` holds, by role.
    pub fn release_framework(&mut self, framework_id: &FrameworkId) -> Vec<Held> {
        let holders: Vec<Holder> = self
            .held
            .keys()
            .filter(|h| &h.framework_id == framework_id)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for holder in holders {
            if let Some(resources) = self.held.remove(&holder) {
                self.available.add(&resources);
                out.push(Held {
                    framework_id: holder.framework_id,
                    role: holder.role,
                    resources,
                });
            }
        }
        out
    }

    pub fn held_list(&self) -> Vec<Held> {
        self.held
            .iter()
            .map(|(h, r)| Held {
                framework_id: h.framework_id.clone(),
                role: h.role.clone(),
                resources: r.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Framework {
    pub roles: BTreeSet<String>,
    pub active: bool,
    pub suppressed: BTreeSet<String>,
    /// Filters by role, then agent.
    pub filters: BTreeMap<String, BTreeMap<AgentId, Vec<OfferFilter>>>,
}

impl Framework {
    /// Whether the framework wants offers in `role` at all.
    pub fn offerable_in(&self, role: &str) -> bool {
        self.active && self.roles.contains(role) && !self.suppressed.contains(role)
    }

    /// Whether a filter hides `available` on `agent_id` in `role`.
    pub fn filtered(&self, role: &str, agent_id: &AgentId, available: &Resources) -> bool {
        self.filters
            .get(role)
            .and_then(|by_agent| by_agent.get(agent_id))
            .is_some_and(|list| list.iter().any(|f| f.hides(available)))
    }

    pub fn add_filter(&mut self, role: &str, agent_id: &AgentId, filter: OfferFilter) {
        self.filters
            .entry(role.to_string())
            .or_default()
            .entry(agent_id.clone())
            .or_default()
            .push(filter);
    }

    /// Drops the filters that expired by `now`.
    pub fn expire_filters(&mut self, now: Instant) {
        for by_agent in self.filters.values_mut() {
            for list in by_agent.values_mut() {
                list.retain(|f| !f.expired(now));
            }
            by_agent.retain(|_, list| !list.is_empty());
        }
        self.filters.retain(|_, by_agent| !by_agent.is_empty());
    }

    /// Drops every filter on `agent_id`.
    pub fn forget_agent(&mut self, agent_id: &AgentId) {
        for by_agent in self.filters.values_mut() {
            by_agent.remove(agent_id);
        }
        self.filters.retain(|_, by_agent| !by_agent.is_empty());
    }

    /// The given roles, or all the framework's roles when none are given.
    pub fn roles_or_all(&self, roles: &[String]) -> BTreeSet<String> {
        if roles.is_empty() {
            self.roles.clone()
        } else {
            roles.iter().cloned().collect()
        }
    }
}
