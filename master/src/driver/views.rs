//! The operator views the driver answers with: frameworks with what they
//! hold and are offered, agents with the same, and the whole cluster in
//! one step (GET_STATE, `/master/state`), so that the parts agree.

use std::collections::{BTreeMap, HashMap};

use mesoraft_proto::mesos::v1::{Resource, Task};

use super::offers::role_resources;
use super::Shell;
use crate::allocator::Resources;
use crate::framework_views::{ClusterView, FrameworkRow, FrameworksView};
use crate::frameworks::Presence;
use crate::metrics::LeaderCounts;
use crate::tasks::status::is_terminal;

impl Shell {
    /// The figures the hub publishes for status and metrics.
    pub(super) fn leader_counts(&self) -> LeaderCounts {
        LeaderCounts {
            agents: self.table.counts(),
            frameworks: self.frameworks.counts(),
            tasks: self.tasks.counts(),
            outstanding_offers: self.offers.len() as u64,
        }
    }
}

/// When a framework's stream ended, while its failover timer runs.
fn unregistered_ns(presence: &Presence) -> Option<mesoraft_registry::TimeNs> {
    match presence {
        Presence::Disconnected { failover } => Some(failover.since_ns),
        _ => None,
    }
}

/// Resources merged per role.
#[derive(Default)]
struct ByRole(BTreeMap<String, Resources>);

impl ByRole {
    fn add(&mut self, role: &str, resources: &Resources) {
        match self.0.get_mut(role) {
            Some(sum) => sum.add(resources),
            None => {
                self.0.insert(role.to_string(), resources.clone());
            }
        }
    }

    fn to_proto(&self) -> Vec<Resource> {
        self.0
            .iter()
            .flat_map(|(role, resources)| resources.to_proto(Some(role)))
            .collect()
    }
}

/// What is held (non-terminal tasks) and offered, by framework and by
/// agent: one pass over the live tasks and the offers.
#[derive(Default)]
pub(super) struct Holdings {
    allocated_to: HashMap<String, ByRole>,
    offered_to: HashMap<String, ByRole>,
    allocated_on: HashMap<String, ByRole>,
    offered_on: HashMap<String, ByRole>,
}

impl Holdings {
    fn of(shell: &Shell) -> Self {
        let mut h = Holdings::default();
        for task in shell.tasks.live_tasks() {
            if is_terminal(task.state) {
                continue;
            }
            let Some((role, resources)) = role_resources(&task.resources) else {
                continue;
            };
            h.allocated_to
                .entry(task.framework_id.value.clone())
                .or_default()
                .add(&role, &resources);
            h.allocated_on
                .entry(task.agent_id.value.clone())
                .or_default()
                .add(&role, &resources);
        }
        for offer in shell.offers.iter() {
            h.offered_to
                .entry(offer.framework_id.clone())
                .or_default()
                .add(&offer.role, &offer.resources);
            h.offered_on
                .entry(offer.agent_id.clone())
                .or_default()
                .add(&offer.role, &offer.resources);
        }
        h
    }

    fn list(map: &HashMap<String, ByRole>, id: &str) -> Vec<Resource> {
        map.get(id).map(ByRole::to_proto).unwrap_or_default()
    }

    /// (allocated, offered) on an agent.
    pub(super) fn on_agent(&self, agent_id: &str) -> (Vec<Resource>, Vec<Resource>) {
        (
            Self::list(&self.allocated_on, agent_id),
            Self::list(&self.offered_on, agent_id),
        )
    }
}

/// What `tasks` hold while not terminal, merged per role.
fn held_by<'a>(tasks: impl Iterator<Item = &'a Task>) -> Vec<Resource> {
    let mut sum = ByRole::default();
    for task in tasks.filter(|t| !is_terminal(t.state)) {
        if let Some((role, resources)) = role_resources(&task.resources) {
            sum.add(&role, &resources);
        }
    }
    sum.to_proto()
}

impl Shell {
    /// One framework's row (for the operator stream's events).
    pub(super) fn framework_row(&self, framework_id: &str) -> Option<FrameworkRow> {
        let entry = self.frameworks.frameworks().get(framework_id)?;
        let mut offered = ByRole::default();
        let mut offers = Vec::new();
        for offer in self
            .offers
            .iter()
            .filter(|o| o.framework_id == framework_id)
        {
            offered.add(&offer.role, &offer.resources);
            offers.push(self.offer_proto(offer));
        }
        offers.sort_by(|a, b| a.id.value.cmp(&b.id.value));
        Some(FrameworkRow {
            info: entry.info.clone(),
            state: entry.state(),
            registered_ns: entry.registered_ns,
            reregistered_ns: entry.reregistered_ns,
            unregistered_ns: unregistered_ns(&entry.presence),
            offers,
            allocated: held_by(self.tasks.tasks_of_framework(framework_id)),
            offered: offered.to_proto(),
        })
    }

    /// One agent's row (for the operator stream's events).
    pub(super) fn agent_row_of(&self, agent_id: &str) -> Option<super::AgentRow> {
        let entry = self.table.agents().get(agent_id)?;
        let allocated = held_by(self.tasks.tasks_on_agent(agent_id));
        let mut offered = ByRole::default();
        for offer in self.offers.iter().filter(|o| o.agent_id == agent_id) {
            offered.add(&offer.role, &offer.resources);
        }
        Some(self.agent_row(agent_id, entry, (allocated, offered.to_proto())))
    }

    pub(super) fn frameworks_view(&self) -> FrameworksView {
        self.frameworks_view_with(&Holdings::of(self))
    }

    fn frameworks_view_with(&self, holdings: &Holdings) -> FrameworksView {
        let mut offers: HashMap<&str, Vec<_>> = HashMap::new();
        for offer in self.offers.iter() {
            offers
                .entry(offer.framework_id.as_str())
                .or_default()
                .push(self.offer_proto(offer));
        }
        let frameworks = self
            .frameworks
            .frameworks()
            .iter()
            .map(|(id, entry)| {
                let unregistered_ns = unregistered_ns(&entry.presence);
                let mut offers = offers.remove(id.as_str()).unwrap_or_default();
                offers.sort_by(|a, b| a.id.value.cmp(&b.id.value));
                FrameworkRow {
                    info: entry.info.clone(),
                    state: entry.state(),
                    registered_ns: entry.registered_ns,
                    reregistered_ns: entry.reregistered_ns,
                    unregistered_ns,
                    offers,
                    allocated: Holdings::list(&holdings.allocated_to, id),
                    offered: Holdings::list(&holdings.offered_to, id),
                }
            })
            .collect();
        FrameworksView {
            frameworks,
            completed: self.frameworks.completed().cloned().collect(),
        }
    }

    pub(super) fn cluster_view(&self) -> ClusterView {
        let holdings = Holdings::of(self);
        ClusterView {
            agents: self.view_with(&holdings),
            frameworks: self.frameworks_view_with(&holdings),
            tasks: self.tasks.view(),
        }
    }

    /// The agents, with what is held and offered on each.
    pub(super) fn agents_view(&self) -> super::AgentsView {
        self.view_with(&Holdings::of(self))
    }
}
