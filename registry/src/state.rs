//! The registry state, `apply`, and the read accessors the master uses.
//!
//! Each command has one small apply function in its own module (agents,
//! frameworks, weights, prune), in the style of Nomad's FSM. Every apply
//! function validates everything before it mutates anything, so a refused
//! command leaves the registry untouched.

use std::collections::BTreeMap;

use mesoraft_proto::mesos::v1::AgentInfo;
use serde::{Deserialize, Serialize};

use crate::error::IdKind;
use crate::ids::{validate_id, IdCounters};
use crate::limits::check_prune_lists;
use crate::model::{AdmittedAgent, AgentState, FrameworkRecord, UnreachableAgent};
use crate::{Command, CommandResult, RegistryError, Response, TimeNs};

/// Everything the master group must not forget across a leader change
/// (SPEC section 1). All maps are `BTreeMap`s so iteration and serialization
/// are deterministic; an agent id is in at most one of `admitted`,
/// `unreachable` and `gone`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub(crate) cluster_id: Option<String>,
    pub(crate) admitted: BTreeMap<String, AdmittedAgent>,
    pub(crate) unreachable: BTreeMap<String, UnreachableAgent>,
    /// Agent id -> when it was marked gone.
    pub(crate) gone: BTreeMap<String, TimeNs>,
    pub(crate) frameworks: BTreeMap<String, FrameworkRecord>,
    /// Framework id -> when it was completed. Kept forever (never pruned),
    /// so a removed framework can never subscribe again.
    pub(crate) completed_frameworks: BTreeMap<String, TimeNs>,
    /// Role -> weight; every weight is finite and > 0.
    pub(crate) weights: BTreeMap<String, f64>,
    pub(crate) counters: IdCounters,
}

impl Registry {
    /// Applies one committed command. Deterministic: the same registry and
    /// command give the same result and the same new registry on every
    /// replica. A refused command returns an error and changes nothing.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::InitCluster { cluster_id } => self.init_cluster(cluster_id),
            Command::AdmitAgent { info } => self.admit_agent(info),
            Command::UpdateAgent { info } => self.update_agent(info),
            Command::MarkUnreachable { agent_id, time_ns } => {
                self.mark_unreachable(&agent_id.value, *time_ns)
            }
            Command::MarkReachable { info } => self.mark_reachable(info),
            Command::MarkGone { agent_id, time_ns } => self.mark_gone(&agent_id.value, *time_ns),
            Command::RemoveAgent { agent_id } => self.remove_agent(&agent_id.value),
            Command::Prune { unreachable, gone } => {
                check_prune_lists(unreachable, gone)?;
                Ok(self.prune(unreachable, gone))
            }
            Command::AddFramework { info, time_ns } => self.add_framework(info, *time_ns),
            Command::UpdateFramework {
                info,
                disconnected_time_ns,
            } => self.update_framework(info, *disconnected_time_ns),
            Command::CompleteFramework {
                framework_id,
                time_ns,
            } => self.complete_framework(&framework_id.value, *time_ns),
            Command::UpdateWeights { weights } => self.update_weights(weights),
        }
    }

    /// InitCluster: sets the cluster id once; the same id again is a no-op,
    /// another id is refused.
    fn init_cluster(&mut self, cluster_id: &str) -> CommandResult {
        match &self.cluster_id {
            Some(current) if current == cluster_id => Ok(Response::Unchanged),
            Some(current) => Err(RegistryError::ClusterIdMismatch {
                current: current.clone(),
                requested: cluster_id.to_string(),
            }),
            None => {
                validate_id(IdKind::Cluster, cluster_id)?;
                self.cluster_id = Some(cluster_id.to_string());
                Ok(Response::Applied)
            }
        }
    }

    /// The cluster id, required by every command that brings a new agent or
    /// framework id into the registry (it is the prefix of generated ids).
    pub(crate) fn initialized_cluster_id(&self) -> Result<&str, RegistryError> {
        self.cluster_id
            .as_deref()
            .ok_or(RegistryError::ClusterNotInitialized)
    }

    // ----- read accessors -----

    /// The cluster id, once InitCluster was applied.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// Role -> weight, as set by UPDATE_WEIGHTS. Roles without an entry have
    /// the default weight (1.0 in Mesos).
    pub fn weights(&self) -> &BTreeMap<String, f64> {
        &self.weights
    }

    /// Admitted agents by id.
    pub fn admitted_agents(&self) -> &BTreeMap<String, AdmittedAgent> {
        &self.admitted
    }

    /// The info of an admitted agent; `None` for any other state.
    pub fn agent(&self, agent_id: &str) -> Option<&AgentInfo> {
        self.admitted.get(agent_id).map(|agent| &agent.info)
    }

    /// Where `agent_id` stands: admitted, unreachable, gone or unknown.
    pub fn agent_state(&self, agent_id: &str) -> AgentState<'_> {
        if let Some(agent) = self.admitted.get(agent_id) {
            AgentState::Admitted(&agent.info)
        } else if let Some(agent) = self.unreachable.get(agent_id) {
            AgentState::Unreachable {
                time_ns: agent.time_ns,
            }
        } else if let Some(&time_ns) = self.gone.get(agent_id) {
            AgentState::Gone { time_ns }
        } else {
            AgentState::Unknown
        }
    }

    /// Unreachable agents by id, with the time they were marked.
    pub fn unreachable_agents(&self) -> &BTreeMap<String, UnreachableAgent> {
        &self.unreachable
    }

    /// Gone agents: id -> time they were marked gone.
    pub fn gone_agents(&self) -> &BTreeMap<String, TimeNs> {
        &self.gone
    }

    /// Known (not completed) frameworks by id.
    pub fn frameworks(&self) -> &BTreeMap<String, FrameworkRecord> {
        &self.frameworks
    }

    /// A known (not completed) framework.
    pub fn framework(&self, framework_id: &str) -> Option<&FrameworkRecord> {
        self.frameworks.get(framework_id)
    }

    /// Whether `framework_id` was completed: it may never subscribe again.
    pub fn is_framework_completed(&self, framework_id: &str) -> bool {
        self.completed_frameworks.contains_key(framework_id)
    }

    /// Completed framework ids -> when they were completed.
    pub fn completed_frameworks(&self) -> &BTreeMap<String, TimeNs> {
        &self.completed_frameworks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn init_cluster_sets_the_id_once() {
        let mut registry = Registry::default();
        assert_eq!(registry.cluster_id(), None);
        assert_eq!(registry.apply(&init("c")), Ok(Response::Applied));
        assert_eq!(registry.cluster_id(), Some("c"));
        assert_eq!(registry.apply(&init("c")), Ok(Response::Unchanged));
    }

    #[test]
    fn init_cluster_refuses_another_id() {
        let mut registry = cluster("c");
        let before = registry.clone();
        assert_eq!(
            registry.apply(&init("d")),
            Err(RegistryError::ClusterIdMismatch {
                current: "c".into(),
                requested: "d".into()
            })
        );
        assert_eq!(registry, before);
    }

    #[test]
    fn init_cluster_refuses_an_invalid_id() {
        for bad in ["", "a/b", "..", "x\n"] {
            let mut registry = Registry::default();
            assert!(
                matches!(
                    registry.apply(&init(bad)),
                    Err(RegistryError::InvalidId {
                        kind: IdKind::Cluster,
                        ..
                    })
                ),
                "{bad:?}"
            );
            assert_eq!(registry, Registry::default());
        }
    }

    #[test]
    fn agent_state_reports_each_list() {
        let mut registry = cluster("c");
        apply_ok(&mut registry, admit(Some("c-S1")));
        apply_ok(&mut registry, admit(Some("c-S2")));
        apply_ok(&mut registry, admit(Some("c-S3")));
        apply_ok(&mut registry, mark_unreachable("c-S2", 20));
        apply_ok(&mut registry, mark_gone("c-S3", 30));
        assert_eq!(
            registry.agent_state("c-S1"),
            AgentState::Admitted(&agent_info(Some("c-S1")))
        );
        assert_eq!(
            registry.agent_state("c-S2"),
            AgentState::Unreachable { time_ns: 20 }
        );
        assert_eq!(
            registry.agent_state("c-S3"),
            AgentState::Gone { time_ns: 30 }
        );
        assert_eq!(registry.agent_state("c-S4"), AgentState::Unknown);
        assert_eq!(registry.agent("c-S1"), Some(&agent_info(Some("c-S1"))));
        assert_eq!(registry.agent("c-S2"), None);
        assert_eq!(registry.admitted_agents().len(), 1);
        assert_eq!(registry.unreachable_agents().len(), 1);
        assert_eq!(registry.gone_agents().get("c-S3"), Some(&30));
    }
}
