//! The [`Allocator`]: agents, frameworks, weights, filters and what is
//! held where, changed by the master's events. The allocation round
//! itself is in `round.rs`.
//!
//! Each operation validates before it mutates: an `Err` means the state
//! is exactly as before.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use mesoraft_proto::mesos::v1::Attribute;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::drf::DEFAULT_WEIGHT;
use super::filters::{OfferFilter, RefuseFilter};
use super::model::{
    AgentId, AgentView, AllocatorConfig, AllocatorError, FrameworkId, Held, Released,
};
use super::resources::{Quantities, Resources};
use super::state::{Agent, Framework, Holder};

/// The master's allocator state; see the module documentation.
#[derive(Debug)]
pub struct Allocator {
    pub(super) config: AllocatorConfig,
    pub(super) agents: BTreeMap<AgentId, Agent>,
    pub(super) frameworks: BTreeMap<FrameworkId, Framework>,
    pub(super) weights: BTreeMap<String, f64>,
    /// How many allocations each role, and each framework in a role, has
    /// received: DRF's first tie-break.
    pub(super) role_allocations: BTreeMap<String, u64>,
    pub(super) holder_allocations: BTreeMap<Holder, u64>,
    /// The scalars of every agent's total, and of everything each holder
    /// holds over all agents, kept as they change: an allocation round
    /// starts from these instead of summing every agent (DRF needs only
    /// the sums).
    pub(super) total: Quantities,
    pub(super) held_sums: BTreeMap<Holder, Quantities>,
    pub(super) rng: StdRng,
}

impl Allocator {
    pub fn new(config: AllocatorConfig) -> Allocator {
        Allocator {
            rng: StdRng::seed_from_u64(config.agent_order_seed),
            config,
            agents: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            weights: BTreeMap::new(),
            role_allocations: BTreeMap::new(),
            holder_allocations: BTreeMap::new(),
            total: Quantities::new(),
            held_sums: BTreeMap::new(),
        }
    }

    /// `resources` now held by `holder` (in the sums; the agent's record
    /// is the caller's).
    pub(super) fn count_held(&mut self, holder: &Holder, resources: &Resources) {
        match self.held_sums.get_mut(holder) {
            Some(sum) => resources.add_scalars_to(sum),
            None => {
                let mut sum = Quantities::new();
                resources.add_scalars_to(&mut sum);
                if !sum.is_empty() {
                    self.held_sums.insert(holder.clone(), sum);
                }
            }
        }
    }

    /// `resources` no longer held by `holder`.
    fn count_released(&mut self, holder: &Holder, resources: &Resources) {
        if let Some(sum) = self.held_sums.get_mut(holder) {
            resources.sub_scalars_from(sum);
            if sum.is_empty() {
                self.held_sums.remove(holder);
            }
        }
    }

    /// Adds an agent with its total resources and what frameworks already
    /// hold on it (tasks found on a re-registering agent).
    pub fn add_agent(
        &mut self,
        agent_id: AgentId,
        total: Resources,
        attributes: Vec<Attribute>,
        held: Vec<Held>,
    ) -> Result<(), AllocatorError> {
        if self.agents.contains_key(&agent_id) {
            return Err(AllocatorError::AgentExists(agent_id));
        }
        let mut agent = Agent::new(total, attributes);
        for h in held {
            let holder = Holder {
                framework_id: h.framework_id,
                role: h.role,
            };
            if !agent.hold(holder, &h.resources) {
                return Err(AllocatorError::NotAvailable {
                    agent_id,
                    requested: Box::new(h.resources),
                    available: Box::new(agent.available),
                });
            }
        }
        agent.total.add_scalars_to(&mut self.total);
        for (holder, resources) in &agent.held {
            self.count_held(holder, resources);
        }
        self.agents.insert(agent_id, agent);
        Ok(())
    }

    /// Changes an agent's total; what is held on it must still fit.
    pub fn update_agent(
        &mut self,
        agent_id: &AgentId,
        total: Resources,
    ) -> Result<(), AllocatorError> {
        let agent = self.agent_mut(agent_id)?;
        let held = agent.held_total();
        let Some(available) = total.checked_sub(&held) else {
            return Err(AllocatorError::TotalBelowHeld {
                agent_id: agent_id.clone(),
                total: Box::new(total),
                held: Box::new(held),
            });
        };
        let old = std::mem::replace(&mut agent.total, total);
        agent.available = available;
        let new = agent.total.clone();
        old.sub_scalars_from(&mut self.total);
        new.add_scalars_to(&mut self.total);
        Ok(())
    }

    /// Forgets an agent; returns what was held on it (offers to rescind,
    /// tasks that are gone with it). Filters on it are dropped.
    pub fn remove_agent(&mut self, agent_id: &AgentId) -> Result<Vec<Held>, AllocatorError> {
        let agent = self
            .agents
            .remove(agent_id)
            .ok_or_else(|| AllocatorError::UnknownAgent(agent_id.clone()))?;
        for framework in self.frameworks.values_mut() {
            framework.forget_agent(agent_id);
        }
        agent.total.sub_scalars_from(&mut self.total);
        for (holder, resources) in &agent.held {
            self.count_released(holder, resources);
        }
        Ok(agent.held_list())
    }

    /// Adds a framework subscribed to `roles` (MULTI_ROLE: any number).
    pub fn add_framework(
        &mut self,
        framework_id: FrameworkId,
        roles: BTreeSet<String>,
        active: bool,
    ) -> Result<(), AllocatorError> {
        if self.frameworks.contains_key(&framework_id) {
            return Err(AllocatorError::FrameworkExists(framework_id));
        }
        let framework = Framework {
            roles,
            active,
            ..Framework::default()
        };
        self.frameworks.insert(framework_id, framework);
        Ok(())
    }

    /// Changes a framework's roles (UPDATE_FRAMEWORK, re-subscription).
    /// Roles it leaves lose their filters and suppression; what it holds
    /// in them stays held until recovered.
    pub fn update_framework_roles(
        &mut self,
        framework_id: &FrameworkId,
        roles: BTreeSet<String>,
    ) -> Result<(), AllocatorError> {
        let framework = self.framework_mut(framework_id)?;
        let left: Vec<String> = framework.roles.difference(&roles).cloned().collect();
        for role in &left {
            framework.filters.remove(role);
            framework.suppressed.remove(role);
        }
        framework.roles = roles;
        Ok(())
    }

    /// Forgets a framework and frees everything it held; returns what was
    /// freed on each agent.
    pub fn remove_framework(
        &mut self,
        framework_id: &FrameworkId,
    ) -> Result<Vec<Released>, AllocatorError> {
        self.frameworks
            .remove(framework_id)
            .ok_or_else(|| AllocatorError::UnknownFramework(framework_id.clone()))?;
        self.holder_allocations
            .retain(|holder, _| &holder.framework_id != framework_id);
        // Everything it held is released below.
        self.held_sums
            .retain(|holder, _| &holder.framework_id != framework_id);
        let mut released = Vec::new();
        for (agent_id, agent) in &mut self.agents {
            for held in agent.release_framework(framework_id) {
                released.push(Released {
                    agent_id: agent_id.clone(),
                    role: held.role,
                    resources: held.resources,
                });
            }
        }
        Ok(released)
    }

    /// The framework is offered again (subscribed, re-subscribed), in the
    /// roles it has not suppressed.
    pub fn activate_framework(&mut self, framework_id: &FrameworkId) -> Result<(), AllocatorError> {
        self.framework_mut(framework_id)?.active = true;
        Ok(())
    }

    /// The framework gets no offers (disconnected); what it holds stays
    /// held. Its filters are dropped, as in Mesos.
    pub fn deactivate_framework(
        &mut self,
        framework_id: &FrameworkId,
    ) -> Result<(), AllocatorError> {
        let framework = self.framework_mut(framework_id)?;
        framework.active = false;
        framework.filters.clear();
        Ok(())
    }

    /// SUPPRESS: no offers in the given roles (all the framework's roles
    /// when none are given) until REVIVE.
    pub fn suppress(
        &mut self,
        framework_id: &FrameworkId,
        roles: &[String],
    ) -> Result<(), AllocatorError> {
        let framework = self.framework_mut(framework_id)?;
        let roles = framework.roles_or_all(roles);
        framework.suppressed.extend(roles);
        Ok(())
    }

    /// REVIVE: clears the framework's filters in the given roles (all its
    /// roles when none are given) and lifts their suppression.
    pub fn revive(
        &mut self,
        framework_id: &FrameworkId,
        roles: &[String],
    ) -> Result<(), AllocatorError> {
        let framework = self.framework_mut(framework_id)?;
        for role in framework.roles_or_all(roles) {
            framework.filters.remove(&role);
            framework.suppressed.remove(&role);
        }
        Ok(())
    }

    /// Sets a role's weight (default 1.0).
    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), AllocatorError> {
        if !weight.is_finite() || weight <= 0.0 {
            return Err(AllocatorError::InvalidWeight {
                role: role.to_string(),
                weight,
            });
        }
        self.weights.insert(role.to_string(), weight);
        Ok(())
    }

    /// Replaces every weight with the registry's (roles not listed go
    /// back to 1.0); all or nothing.
    pub fn replace_weights<'a>(
        &mut self,
        weights: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Result<(), AllocatorError> {
        let mut next = BTreeMap::new();
        for (role, weight) in weights {
            if !weight.is_finite() || weight <= 0.0 {
                return Err(AllocatorError::InvalidWeight {
                    role: role.to_string(),
                    weight,
                });
            }
            next.insert(role.to_string(), weight);
        }
        self.weights = next;
        Ok(())
    }

    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(DEFAULT_WEIGHT)
    }

    /// Returns resources a framework held on an agent in a role (a
    /// declined or partly used offer, a finished task) to the agent's
    /// available pool. With a `filter`, the framework is not offered
    /// these resources on this agent in this role again until it expires
    /// (see [`super::filters`]). A framework the allocator no longer knows
    /// gets its resources freed but no filter.
    pub fn recover(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        resources: &Resources,
        filter: Option<RefuseFilter>,
        now: Instant,
    ) -> Result<(), AllocatorError> {
        let agent = self.agent_mut(agent_id)?;
        let holder = Holder {
            framework_id: framework_id.clone(),
            role: role.to_string(),
        };
        if !agent.release(&holder, resources) {
            return Err(AllocatorError::NotHeld {
                framework_id: framework_id.clone(),
                role: role.to_string(),
                agent_id: agent_id.clone(),
                resources: Box::new(resources.clone()),
            });
        }
        self.count_released(&holder, resources);
        let interval = self.config.allocation_interval;
        // Nothing returned (an offer used in full) refuses nothing: such a
        // filter could never hide anything and would only take memory.
        let filter = filter.filter(|_| !resources.is_empty());
        let duration = filter.and_then(|f| f.effective_duration(interval));
        if let (Some(duration), Some(framework)) = (duration, self.frameworks.get_mut(framework_id))
        {
            let filter = OfferFilter {
                refused: resources.clone(),
                expires_at: now + duration,
            };
            framework.add_filter(role, agent_id, filter);
        }
        Ok(())
    }

    /// Marks available resources as held by a framework outside an
    /// allocation round (e.g. a task the master learned about).
    pub fn hold(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), AllocatorError> {
        let agent = self.agent_mut(agent_id)?;
        let holder = Holder {
            framework_id: framework_id.clone(),
            role: role.to_string(),
        };
        if !agent.hold(holder.clone(), resources) {
            return Err(AllocatorError::NotAvailable {
                agent_id: agent_id.clone(),
                requested: Box::new(resources.clone()),
                available: Box::new(agent.available.clone()),
            });
        }
        self.count_held(&holder, resources);
        Ok(())
    }

    /// What the allocator knows of an agent.
    pub fn agent(&self, agent_id: &AgentId) -> Option<AgentView> {
        self.agents.get(agent_id).map(|a| AgentView {
            total: a.total.clone(),
            available: a.available.clone(),
            held: a.held_list(),
        })
    }

    /// The attributes an agent was added with, for its offers.
    pub fn agent_attributes(&self, agent_id: &AgentId) -> Option<&[Attribute]> {
        self.agents.get(agent_id).map(|a| a.attributes.as_slice())
    }

    pub fn agent_ids(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.keys()
    }

    /// Everything a framework holds in a role, over all agents.
    pub fn held_by(&self, framework_id: &FrameworkId, role: &str) -> Resources {
        let holder = Holder {
            framework_id: framework_id.clone(),
            role: role.to_string(),
        };
        let mut sum = Resources::new();
        for agent in self.agents.values() {
            if let Some(r) = agent.held.get(&holder) {
                sum.add(r);
            }
        }
        sum
    }

    fn agent_mut(&mut self, agent_id: &AgentId) -> Result<&mut Agent, AllocatorError> {
        self.agents
            .get_mut(agent_id)
            .ok_or_else(|| AllocatorError::UnknownAgent(agent_id.clone()))
    }

    fn framework_mut(
        &mut self,
        framework_id: &FrameworkId,
    ) -> Result<&mut Framework, AllocatorError> {
        self.frameworks
            .get_mut(framework_id)
            .ok_or_else(|| AllocatorError::UnknownFramework(framework_id.clone()))
    }
}
