//! The offers side of the driver: the allocator follows agents (joining,
//! leaving, disconnecting), frameworks (activated, deactivated, removed)
//! and tasks (resources freed); allocation rounds become OFFERS events;
//! ACCEPT, DECLINE, REVIVE and SUPPRESS act on them.

use std::collections::BTreeMap;
use std::time::Instant;

use mesoraft_proto::agent::master_to_agent;
use mesoraft_proto::mesos::v1::resource::AllocationInfo;
use mesoraft_proto::mesos::v1::{
    offer::Operation, Address, AgentId as ProtoAgentId, Filters, FrameworkId as ProtoFrameworkId,
    FrameworkInfo, Offer, OfferId, Resource, Url,
};

use super::frameworks::roles_of;
use super::hub::CallRefusal;
use super::Shell;
use crate::agents::table::{Action as AgentAction, SessionId};
use crate::allocator::{
    AgentId, Allocation, FrameworkId, Held, RefuseFilter, Resources, UNRESERVED_ROLE,
};
use crate::scheduler::accept;
use crate::scheduler::events;
use crate::scheduler::offers::Outstanding;

impl Shell {
    /// Agents the agent table accepted join the allocator (after the task
    /// table took their tasks); agents that left it are removed.
    pub(super) fn offer_agents(&mut self, actions: &[AgentAction]) {
        for action in actions {
            match action {
                AgentAction::Send {
                    message: master_to_agent::Message::SlaveRegistered(m),
                    ..
                } => self.agent_joined(&m.slave_id.value),
                AgentAction::Send {
                    message: master_to_agent::Message::SlaveReregistered(m),
                    ..
                } => self.agent_joined(&m.slave_id.value),
                AgentAction::Departed { agent_id, .. } => self.agent_left(agent_id),
                _ => {}
            }
        }
    }

    /// A registered agent's session broke: no offers on it until it is
    /// back (its outstanding offers are rescinded).
    pub(super) fn agent_session_closed(&mut self, session: SessionId) {
        if let Some(agent_id) = self.table.agent_of_session(session).map(str::to_string) {
            self.agent_left(&agent_id);
        }
    }

    /// (Re-)adds an agent with its total and what its live tasks hold.
    fn agent_joined(&mut self, agent_id: &str) {
        self.agent_left(agent_id);
        let Some(info) = self.table.agents().get(agent_id).map(|e| e.info.clone()) else {
            return;
        };
        let total = match Resources::from_proto(&info.resources) {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!(agent_id, error = %e, "agent's resources cannot be offered");
                return;
            }
        };
        let held = self.held_on(agent_id);
        let id = AgentId(agent_id.to_string());
        let attributes = info.attributes.clone();
        if let Err(e) =
            self.allocator
                .add_agent(id.clone(), total.clone(), attributes.clone(), held)
        {
            // The tasks it reports use more than it offers (its resources
            // shrank): offer nothing more on it rather than overcommit.
            tracing::warn!(agent_id, error = %e, "agent's tasks exceed its resources; it gets no offers");
            return;
        }
        self.allocate_soon();
    }

    /// Removes an agent from the allocator, rescinding its offers.
    fn agent_left(&mut self, agent_id: &str) {
        for offer in self.offers.take_agent(agent_id) {
            self.send_to_framework(&offer.framework_id.clone(), events::rescind(&offer.id));
        }
        let _ = self.allocator.remove_agent(&AgentId(agent_id.to_string()));
    }

    /// What the live, unfinished tasks on an agent hold, by framework and
    /// role. Tasks without an allocation role (launched before roles were
    /// recorded, or by the internal path) count in `*`.
    fn held_on(&self, agent_id: &str) -> Vec<Held> {
        let mut held: BTreeMap<(String, String), Resources> = BTreeMap::new();
        for task in self.tasks.tasks_on_agent(agent_id) {
            if crate::tasks::status::is_terminal(task.state) {
                continue;
            }
            let Some((role, resources)) = role_resources(&task.resources) else {
                continue;
            };
            held.entry((task.framework_id.value.clone(), role))
                .or_default()
                .add(&resources);
        }
        held.into_iter()
            .map(|((framework_id, role), resources)| Held {
                framework_id: FrameworkId(framework_id),
                role,
                resources,
            })
            .collect()
    }

    /// A task ended: what it used is available again.
    pub(super) fn release(&mut self, agent_id: &str, framework_id: &str, resources: &[Resource]) {
        let Some((role, resources)) = role_resources(resources) else {
            return;
        };
        let recovered = self.allocator.recover(
            &FrameworkId(framework_id.to_string()),
            &AgentId(agent_id.to_string()),
            &role,
            &resources,
            None,
            Instant::now(),
        );
        match recovered {
            Ok(()) => self.allocate_soon(),
            // Launched outside offers (the internal path), or its agent
            // left the allocator meanwhile.
            Err(e) => {
                tracing::debug!(agent_id, framework_id, error = %e, "task resources not held")
            }
        }
    }

    pub(super) fn allocator_add_framework(
        &mut self,
        framework_id: &str,
        info: &FrameworkInfo,
        active: bool,
    ) {
        let id = FrameworkId(framework_id.to_string());
        if self
            .allocator
            .add_framework(id.clone(), roles_of(info), active)
            .is_err()
        {
            let _ = self.allocator.update_framework_roles(&id, roles_of(info));
            if active {
                let _ = self.allocator.activate_framework(&id);
            }
        }
    }

    pub(super) fn framework_activated(
        &mut self,
        framework_id: &str,
        info: &FrameworkInfo,
        suppressed: &[String],
    ) {
        self.allocator_add_framework(framework_id, info, true);
        let id = FrameworkId(framework_id.to_string());
        // A subscription replaces the suppression of any earlier stream.
        let _ = self.allocator.revive(&id, &[]);
        if !suppressed.is_empty() {
            let _ = self.allocator.suppress(&id, suppressed);
        }
        self.allocate_soon();
    }

    pub(super) fn framework_roles_changed(&mut self, framework_id: &str, info: &FrameworkInfo) {
        let id = FrameworkId(framework_id.to_string());
        let _ = self.allocator.update_framework_roles(&id, roles_of(info));
        // Its offers were made for the old roles: rescind them all and
        // let the next round offer in the new ones.
        for offer in self.offers.take_framework(framework_id) {
            self.recover_offer(&offer, None);
            self.send_to_framework(framework_id, events::rescind(&offer.id));
        }
        self.allocate_soon();
    }

    /// UPDATE_FRAMEWORK's `suppressed_roles` replace the suppressed set.
    pub(super) fn set_suppressed_roles(&mut self, framework_id: &str, roles: Vec<String>) {
        let id = FrameworkId(framework_id.to_string());
        let _ = self.allocator.revive(&id, &[]);
        if !roles.is_empty() {
            let _ = self.allocator.suppress(&id, &roles);
        }
    }

    /// No stream: its offers come back, it gets no more.
    pub(super) fn framework_deactivated(&mut self, framework_id: &str) {
        for offer in self.offers.take_framework(framework_id) {
            self.recover_offer(&offer, None);
        }
        let _ = self
            .allocator
            .deactivate_framework(&FrameworkId(framework_id.to_string()));
        self.allocate_soon();
    }

    /// Completed: its offers and what its tasks held go back.
    pub(super) fn framework_removed(&mut self, framework_id: &str) {
        for offer in self.offers.take_framework(framework_id) {
            self.recover_offer(&offer, None);
        }
        let _ = self
            .allocator
            .remove_framework(&FrameworkId(framework_id.to_string()));
        self.allocate_soon();
    }

    fn recover_offer(&mut self, offer: &Outstanding, filter: Option<RefuseFilter>) {
        let result = self.allocator.recover(
            &FrameworkId(offer.framework_id.clone()),
            &AgentId(offer.agent_id.clone()),
            &offer.role,
            &offer.resources,
            filter,
            Instant::now(),
        );
        if let Err(e) = result {
            tracing::debug!(offer_id = %offer.id, error = %e, "offer's resources not held");
        }
    }

    /// ACCEPT: launch what fits, tell the framework about what does not,
    /// return the rest with the call's filter.
    pub(super) fn accept(
        &mut self,
        framework_id: &str,
        offer_ids: &[String],
        operations: Vec<Operation>,
        filters: Option<Filters>,
    ) {
        let Some(info) = self.framework_info(framework_id) else {
            return;
        };
        let taken = self.offers.take(framework_id, offer_ids);
        let plan = accept::plan(&info, taken, operations, super::now().unix_ns);
        if !plan.skipped.is_empty() {
            tracing::warn!(framework_id, operations = ?plan.skipped,
                "ACCEPT operations this master does not carry out were skipped");
        }
        let filter = refuse_filter(filters);
        let mut unused = plan.unused;
        let agent_id = plan.agent_id.unwrap_or_default();
        for status in plan.refused {
            self.send_to_framework(framework_id, events::update(status));
        }
        for launch in plan.launches {
            let task_ids = launch_task_ids(&launch.launch);
            if let Err(e) = self.launch(launch.launch) {
                // Refused by the task table (a live duplicate id, the
                // agent gone meanwhile): what it would use goes back.
                unused
                    .entry(launch.role)
                    .or_default()
                    .add(&launch.resources);
                for task_id in task_ids {
                    let status = launch_failure(&task_id, &agent_id, &e, &info);
                    self.send_to_framework(framework_id, events::update(status));
                }
            }
        }
        for (role, resources) in unused {
            let offer = Outstanding {
                id: String::new(),
                framework_id: framework_id.to_string(),
                agent_id: agent_id.clone(),
                role,
                resources,
                made_at: Instant::now(),
            };
            self.recover_offer(&offer, Some(filter));
        }
        self.allocate_soon();
    }

    pub(super) fn decline(
        &mut self,
        framework_id: &str,
        offer_ids: &[String],
        filters: Option<Filters>,
    ) {
        let filter = refuse_filter(filters);
        let taken = self.offers.take(framework_id, offer_ids);
        for offer in &taken.offers {
            self.recover_offer(offer, Some(filter));
        }
        if let Some(why) = taken.invalid {
            tracing::debug!(
                framework_id,
                why,
                "DECLINE named offers that are not current"
            );
        }
        self.allocate_soon();
    }

    pub(super) fn revive(
        &mut self,
        framework_id: &str,
        roles: &[String],
    ) -> Result<(), CallRefusal> {
        self.check_roles(framework_id, roles)?;
        let _ = self
            .allocator
            .revive(&FrameworkId(framework_id.to_string()), roles);
        self.allocate_soon();
        Ok(())
    }

    pub(super) fn suppress(
        &mut self,
        framework_id: &str,
        roles: &[String],
    ) -> Result<(), CallRefusal> {
        self.check_roles(framework_id, roles)?;
        let _ = self
            .allocator
            .suppress(&FrameworkId(framework_id.to_string()), roles);
        Ok(())
    }

    /// REVIVE and SUPPRESS may name only roles the framework is in.
    fn check_roles(&self, framework_id: &str, roles: &[String]) -> Result<(), CallRefusal> {
        let subscribed = self
            .frameworks
            .frameworks()
            .get(framework_id)
            .map(|e| roles_of(&e.info))
            .unwrap_or_default();
        let unknown: Vec<&String> = roles.iter().filter(|r| !subscribed.contains(*r)).collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(CallRefusal::Invalid(format!(
                "Framework is not subscribed to role(s) {unknown:?}; it is subscribed to {subscribed:?}\n"
            )))
        }
    }

    /// One allocation round: each allocation becomes an offer; each
    /// framework gets one OFFERS event with all of its new offers.
    pub(super) fn allocate(&mut self) {
        self.allocation_due = None;
        let now = Instant::now();
        let allocations = self.allocator.allocate(now);
        if allocations.is_empty() {
            return;
        }
        let mut by_framework: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for allocation in allocations {
            let offer = self.offer_of(allocation, now);
            by_framework
                .entry(offer.framework_id.value.clone())
                .or_default()
                .push(offer);
        }
        for (framework_id, offers) in by_framework {
            let ids: Vec<String> = offers.iter().map(|o| o.id.value.clone()).collect();
            if !self.send_to_framework(&framework_id, events::offers(offers)) {
                // It lost its stream since the round began: take them back.
                for id in ids {
                    if let Some(offer) = self.offers.take(&framework_id, &[id]).offers.pop() {
                        self.recover_offer(&offer, None);
                    }
                }
            }
        }
    }

    fn offer_of(&mut self, allocation: Allocation, now: Instant) -> Offer {
        let outstanding = self.offers.make(allocation, now).clone();
        self.offer_proto(&outstanding)
    }

    /// The `Offer` message of an outstanding offer.
    pub(super) fn offer_proto(&self, outstanding: &Outstanding) -> Offer {
        let (hostname, port, attributes) = self
            .table
            .agents()
            .get(&outstanding.agent_id)
            .map(|e| {
                (
                    e.info.hostname.clone(),
                    e.info.port,
                    e.info.attributes.clone(),
                )
            })
            .unwrap_or_default();
        // Where the agent's HTTP endpoints are (sandbox files), as Mesos
        // gives it in `Offer.url`.
        let url = Url {
            scheme: "http".to_string(),
            address: Address {
                hostname: Some(hostname.clone()),
                ip: self
                    .table
                    .session_of_agent(&outstanding.agent_id)
                    .and_then(|session| self.session_ips.get(&session))
                    .map(|ip| ip.to_string())
                    .or_else(|| {
                        hostname
                            .parse::<std::net::IpAddr>()
                            .ok()
                            .map(|ip| ip.to_string())
                    }),
                port: port.unwrap_or(5051),
            },
            path: Some("/slave(1)".to_string()),
            ..Url::default()
        };
        Offer {
            id: OfferId {
                value: outstanding.id.clone(),
            },
            framework_id: ProtoFrameworkId {
                value: outstanding.framework_id.clone(),
            },
            agent_id: ProtoAgentId {
                value: outstanding.agent_id.clone(),
            },
            hostname,
            url: Some(url),
            resources: outstanding.resources.to_proto(Some(&outstanding.role)),
            attributes,
            allocation_info: Some(AllocationInfo {
                role: Some(outstanding.role.clone()),
            }),
            ..Offer::default()
        }
    }

    /// Every allocation interval: weights from the registry, offers past
    /// `--offer-timeout` rescinded, then a round.
    pub(super) fn allocation_tick(&mut self) {
        let weights: Vec<(String, f64)> = self
            .context
            .registry
            .read(|r| r.weights().iter().map(|(k, v)| (k.clone(), *v)).collect());
        if let Err(e) = self
            .allocator
            .replace_weights(weights.iter().map(|(k, v)| (k.as_str(), *v)))
        {
            tracing::warn!(error = %e, "registry weights not taken by the allocator");
        }
        if let Some(timeout) = self.offer_timeout {
            for offer in self.offers.take_expired(Instant::now(), timeout) {
                self.recover_offer(&offer, None);
                self.send_to_framework(&offer.framework_id.clone(), events::rescind(&offer.id));
            }
        }
        self.allocate();
    }
}

/// Resources of a task or an ACCEPT in their allocation role (`*` when
/// they carry none).
pub(super) fn role_resources(list: &[Resource]) -> Option<(String, Resources)> {
    if list.iter().all(|r| r.allocation_info.is_none()) {
        return Resources::from_proto(list)
            .ok()
            .map(|r| (UNRESERVED_ROLE.to_string(), r));
    }
    Resources::from_allocated_proto(list)
        .ok()
        .map(|r| (r.role, r.resources))
}

fn refuse_filter(filters: Option<Filters>) -> RefuseFilter {
    RefuseFilter {
        refuse_seconds: filters.and_then(|f| f.refuse_seconds),
    }
}

fn launch_task_ids(launch: &crate::tasks::launch::Launch) -> Vec<String> {
    match launch {
        crate::tasks::launch::Launch::Task { task, .. } => vec![task.task_id.value.clone()],
        crate::tasks::launch::Launch::Group { task_group, .. } => task_group
            .tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect(),
    }
}

/// The update for a task the task table refused after the offers were
/// found valid.
fn launch_failure(
    task_id: &str,
    agent_id: &str,
    error: &crate::tasks::launch::LaunchError,
    framework: &FrameworkInfo,
) -> mesoraft_proto::mesos::v1::TaskStatus {
    use crate::tasks::launch::LaunchError;
    use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
    use mesoraft_proto::mesos::v1::TaskState;
    let (state, reason) = match error {
        LaunchError::AgentNotRegistered(_) => (
            if crate::tasks::status::partition_aware(framework) {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            },
            Reason::AgentDisconnected,
        ),
        _ => (TaskState::TaskError, Reason::TaskInvalid),
    };
    mesoraft_proto::mesos::v1::TaskStatus {
        task_id: mesoraft_proto::mesos::v1::TaskId {
            value: task_id.to_string(),
        },
        state: state as i32,
        message: Some(error.to_string()),
        source: Some(Source::Master as i32),
        reason: Some(reason as i32),
        agent_id: Some(ProtoAgentId {
            value: agent_id.to_string(),
        }),
        ..Default::default()
    }
}
