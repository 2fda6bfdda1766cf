//! One allocation round: which framework, in which role, is offered
//! each agent's available resources.
//!
//! Agents are visited in a seeded random order (as Mesos shuffles them).
//! For each agent, roles are taken in DRF order, then the frameworks of
//! the role in DRF order; the first framework that wants offers in that
//! role (active, subscribed, not suppressed) and has no filter hiding
//! the agent receives everything available on it — Mesos's default of one
//! whole-agent offer. Shares are updated after every allocation, so the
//! next agent goes to whoever is now furthest behind.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::seq::SliceRandom;

use super::drf::DrfSorter;
use super::events::Allocator;
use super::model::{AgentId, Allocation, FrameworkId};
use super::resources::Resources;
use super::state::Holder;

/// The DRF sorters of one round.
struct Sorters {
    roles: DrfSorter,
    frameworks_by_role: BTreeMap<String, DrfSorter>,
}

impl Allocator {
    /// Runs one allocation round at `now` (filters that expired by then
    /// are dropped first) and returns the offers to make. The offered
    /// resources are held by their framework until [`Allocator::recover`]
    /// returns them.
    pub fn allocate(&mut self, now: Instant) -> Vec<Allocation> {
        for framework in self.frameworks.values_mut() {
            framework.expire_filters(now);
        }
        let mut sorters = self.build_sorters();
        // Only agents with something worth offering take part: nothing
        // is freed during a round, so the others would be skipped anyway,
        // and a full cluster then costs no copy of every agent's id.
        let mut order: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, agent)| self.allocatable(&agent.available))
            .map(|(id, _)| id.clone())
            .collect();
        order.shuffle(&mut self.rng);

        let mut out = Vec::new();
        for agent_id in order {
            if let Some(allocation) = self.allocate_agent(&agent_id, &mut sorters) {
                out.push(allocation);
            }
        }
        out
    }

    /// Offers one agent to the first framework DRF puts first, if any.
    fn allocate_agent(&mut self, agent_id: &AgentId, sorters: &mut Sorters) -> Option<Allocation> {
        let agent = self.agents.get(agent_id)?;
        if !self.allocatable(&agent.available) {
            return None;
        }
        let chosen = self.choose(agent_id, &agent.available, sorters)?;
        let available = self.agents.get_mut(agent_id)?.hold_all(chosen.clone());
        self.count_held(&chosen, &available);
        let quantities = available.quantities();
        sorters.roles.allocated(&chosen.role, &quantities, true);
        if let Some(sorter) = sorters.frameworks_by_role.get_mut(&chosen.role) {
            sorter.allocated(&chosen.framework_id.0, &quantities, true);
        }
        *self
            .role_allocations
            .entry(chosen.role.clone())
            .or_default() += 1;
        *self.holder_allocations.entry(chosen.clone()).or_default() += 1;
        Some(Allocation {
            framework_id: chosen.framework_id,
            role: chosen.role,
            agent_id: agent_id.clone(),
            resources: available,
        })
    }

    /// The framework and role that get `available` on `agent_id`.
    fn choose(
        &self,
        agent_id: &AgentId,
        available: &Resources,
        sorters: &Sorters,
    ) -> Option<Holder> {
        for role in sorters.roles.in_order() {
            let Some(by_framework) = sorters.frameworks_by_role.get(role) else {
                continue;
            };
            for name in by_framework.in_order() {
                let Some(framework) = self.frameworks.get(name) else {
                    continue;
                };
                if framework.offerable_in(role) && !framework.filtered(role, agent_id, available) {
                    return Some(Holder {
                        framework_id: FrameworkId(name.to_string()),
                        role: role.to_string(),
                    });
                }
            }
        }
        None
    }

    /// Whether `available` is worth an offer (Mesos's minimum allocatable
    /// resources).
    fn allocatable(&self, available: &Resources) -> bool {
        if available.is_empty() {
            return false;
        }
        let minimum = &self.config.min_allocatable;
        minimum.is_empty() || minimum.iter().any(|m| available.contains(m))
    }

    /// Sorters holding every role and framework with their current
    /// allocations against the cluster total.
    fn build_sorters(&self) -> Sorters {
        let total = &self.total;
        let mut sorters = Sorters {
            roles: DrfSorter::new(total.clone()),
            frameworks_by_role: BTreeMap::new(),
        };
        for (framework_id, framework) in &self.frameworks {
            for role in &framework.roles {
                let active = framework.offerable_in(role);
                let role_count = self.role_allocations.get(role).copied().unwrap_or(0);
                sorters
                    .roles
                    .add_client(role, self.weight(role), role_count, active);
                let holder = Holder {
                    framework_id: framework_id.clone(),
                    role: role.clone(),
                };
                let count = self.holder_allocations.get(&holder).copied().unwrap_or(0);
                sorters
                    .frameworks_by_role
                    .entry(role.clone())
                    .or_insert_with(|| DrfSorter::new(total.clone()))
                    .add_client(&framework_id.0, 1.0, count, active);
            }
        }
        for (holder, quantities) in &self.held_sums {
            sorters.roles.allocated(&holder.role, quantities, false);
            sorters
                .frameworks_by_role
                .entry(holder.role.clone())
                .or_insert_with(|| DrfSorter::new(total.clone()))
                .allocated(&holder.framework_id.0, quantities, false);
        }
        sorters
    }

    /// The dominant share of a role now: the largest fraction of any
    /// scalar kind of the cluster total that its frameworks hold (DRF
    /// orders roles by this divided by the role's weight).
    pub fn role_share(&self, role: &str) -> f64 {
        self.build_sorters().roles.dominant_share(role)
    }

    /// The dominant share of a framework in a role now.
    pub fn framework_share(&self, framework_id: &FrameworkId, role: &str) -> f64 {
        self.build_sorters()
            .frameworks_by_role
            .get(role)
            .map(|s| s.dominant_share(&framework_id.0))
            .unwrap_or(0.0)
    }
}
