//! The agent lifecycle: admitted -> unreachable -> (admitted again | gone),
//! plus clean removal. An agent id is in at most one of the three lists.
//!
//! Decisions beyond the SPEC table:
//! - AdmitAgent refuses an unreachable id (the agent must come back with
//!   MarkReachable, which keeps its flags) and a gone id (a gone agent never
//!   comes back; it must register as a new agent with a new id).
//! - RemoveAgent of an unknown id is a no-op (`Unchanged`), so a proposal
//!   retried after a leader change is harmless; removing an unreachable or
//!   gone agent is refused, because that would silently drop the tombstone
//!   that reconciliation answers from.

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

use crate::error::IdKind;
use crate::ids::validate_id;
use crate::limits::check_agent_info;
use crate::model::{AdmittedAgent, AgentFlags, UnreachableAgent};
use crate::{CommandResult, Registry, RegistryError, Response, TimeNs};

impl Registry {
    /// AdmitAgent: a new agent. Assigns `<cluster_id>-S<n>` if `info.id` is
    /// unset; a given id must not be in the registry in any state.
    pub(crate) fn admit_agent(&mut self, info: &AgentInfo) -> CommandResult {
        let cluster_id = self.initialized_cluster_id()?;
        let agent_id = match &info.id {
            Some(id) => id.value.clone(),
            None => self.counters.peek_agent_id(cluster_id)?,
        };
        validate_id(IdKind::Agent, &agent_id)?;
        self.ensure_agent_unknown(&agent_id)?;

        let mut info = info.clone();
        info.id = Some(agent_id_message(&agent_id));
        check_agent_info(&info)?;
        self.admit(&agent_id, info, AgentFlags::default());
        Ok(Response::AgentAdmitted { agent_id })
    }

    /// UpdateAgent: replaces an admitted agent's info; no-op if equal.
    pub(crate) fn update_agent(&mut self, info: &AgentInfo) -> CommandResult {
        let agent_id = required_agent_id(info, "UpdateAgent")?;
        validate_id(IdKind::Agent, agent_id)?;
        check_agent_info(info)?;
        let agent = match self.admitted.get_mut(agent_id) {
            Some(agent) => agent,
            None => return Err(self.not_admitted_error(agent_id)),
        };
        if agent.info == *info {
            return Ok(Response::Unchanged);
        }
        agent.info = info.clone();
        Ok(Response::Applied)
    }

    /// MarkUnreachable: admitted -> unreachable at `time_ns`.
    pub(crate) fn mark_unreachable(&mut self, agent_id: &str, time_ns: TimeNs) -> CommandResult {
        validate_id(IdKind::Agent, agent_id)?;
        let agent = self
            .admitted
            .remove(agent_id)
            .ok_or_else(|| self.not_admitted_error(agent_id))?;
        let entry = UnreachableAgent {
            time_ns,
            flags: agent.flags,
        };
        self.unreachable.insert(agent_id.to_string(), entry);
        Ok(Response::Applied)
    }

    /// MarkReachable: an unreachable or unknown (pruned) agent re-registered
    /// and is admitted again with the info it brought. No-op if admitted
    /// (the master replicates UpdateAgent if its info changed); refused if
    /// gone.
    pub(crate) fn mark_reachable(&mut self, info: &AgentInfo) -> CommandResult {
        let agent_id = required_agent_id(info, "MarkReachable")?;
        validate_id(IdKind::Agent, agent_id)?;
        check_agent_info(info)?;
        if self.admitted.contains_key(agent_id) {
            return Ok(Response::Unchanged);
        }
        if self.gone.contains_key(agent_id) {
            return Err(RegistryError::AgentGone {
                agent_id: agent_id.to_string(),
            });
        }
        // An unknown id is new to this registry: it needs the cluster id
        // to move the counters past it, like AdmitAgent.
        self.initialized_cluster_id()?;

        let flags = self
            .unreachable
            .remove(agent_id)
            .map(|entry| entry.flags)
            .unwrap_or_default();
        self.admit(agent_id, info.clone(), flags);
        Ok(Response::Applied)
    }

    /// MarkGone: admitted or unreachable -> gone at `time_ns`, for ever.
    pub(crate) fn mark_gone(&mut self, agent_id: &str, time_ns: TimeNs) -> CommandResult {
        validate_id(IdKind::Agent, agent_id)?;
        if self.gone.contains_key(agent_id) {
            return Err(RegistryError::AgentGone {
                agent_id: agent_id.to_string(),
            });
        }
        let was_known =
            self.admitted.remove(agent_id).is_some() || self.unreachable.remove(agent_id).is_some();
        if !was_known {
            return Err(RegistryError::AgentUnknown {
                agent_id: agent_id.to_string(),
            });
        }
        self.gone.insert(agent_id.to_string(), time_ns);
        Ok(Response::Applied)
    }

    /// RemoveAgent: an admitted agent unregistered cleanly; no tombstone.
    pub(crate) fn remove_agent(&mut self, agent_id: &str) -> CommandResult {
        validate_id(IdKind::Agent, agent_id)?;
        if self.admitted.remove(agent_id).is_some() {
            return Ok(Response::Applied);
        }
        match self.not_admitted_error(agent_id) {
            RegistryError::AgentUnknown { .. } => Ok(Response::Unchanged),
            error => Err(error),
        }
    }

    /// Inserts into the admitted list and moves the id counter past the id.
    fn admit(&mut self, agent_id: &str, info: AgentInfo, flags: AgentFlags) {
        if let Some(cluster_id) = &self.cluster_id {
            self.counters.note_agent_id(cluster_id, agent_id);
        }
        self.admitted
            .insert(agent_id.to_string(), AdmittedAgent { info, flags });
    }

    fn ensure_agent_unknown(&self, agent_id: &str) -> Result<(), RegistryError> {
        let agent_id = agent_id.to_string();
        if self.admitted.contains_key(&agent_id) {
            Err(RegistryError::AgentAlreadyAdmitted { agent_id })
        } else if self.unreachable.contains_key(&agent_id) {
            Err(RegistryError::AgentUnreachable { agent_id })
        } else if self.gone.contains_key(&agent_id) {
            Err(RegistryError::AgentGone { agent_id })
        } else {
            Ok(())
        }
    }

    /// The error for a command that needs `agent_id` admitted, when it is
    /// not: says where the agent is instead.
    fn not_admitted_error(&self, agent_id: &str) -> RegistryError {
        let agent_id = agent_id.to_string();
        if self.unreachable.contains_key(&agent_id) {
            RegistryError::AgentUnreachable { agent_id }
        } else if self.gone.contains_key(&agent_id) {
            RegistryError::AgentGone { agent_id }
        } else {
            RegistryError::AgentUnknown { agent_id }
        }
    }
}

fn required_agent_id<'a>(info: &'a AgentInfo, command: &str) -> Result<&'a str, RegistryError> {
    info.id
        .as_ref()
        .map(|id| id.value.as_str())
        .ok_or_else(|| RegistryError::MissingId {
            kind: IdKind::Agent,
            command: command.to_string(),
        })
}

fn agent_id_message(agent_id: &str) -> AgentId {
    AgentId {
        value: agent_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::{AgentState, Command};

    fn unknown(id: &str) -> RegistryError {
        RegistryError::AgentUnknown {
            agent_id: id.into(),
        }
    }
    fn unreachable(id: &str) -> RegistryError {
        RegistryError::AgentUnreachable {
            agent_id: id.into(),
        }
    }
    fn gone(id: &str) -> RegistryError {
        RegistryError::AgentGone {
            agent_id: id.into(),
        }
    }
    fn admitted(id: &str) -> Response {
        Response::AgentAdmitted {
            agent_id: id.into(),
        }
    }

    /// A registry with c-S1 admitted, c-S2 unreachable (at 20), c-S3 gone
    /// (at 30).
    fn three_agents() -> Registry {
        let mut registry = cluster("c");
        for id in ["c-S1", "c-S2", "c-S3"] {
            apply_ok(&mut registry, admit(Some(id)));
        }
        apply_ok(&mut registry, mark_unreachable("c-S2", 20));
        apply_ok(&mut registry, mark_gone("c-S3", 30));
        registry
    }

    fn missing_agent_id(command: &str) -> RegistryError {
        RegistryError::MissingId {
            kind: IdKind::Agent,
            command: command.to_string(),
        }
    }

    // ----- AdmitAgent -----

    #[test]
    fn admit_assigns_sequential_ids_and_stores_them() {
        let mut registry = cluster("c");
        for expected in ["c-S0", "c-S1", "c-S2"] {
            assert_eq!(registry.apply(&admit(None)), Ok(admitted(expected)));
            assert_eq!(registry.agent(expected), Some(&agent_info(Some(expected))));
        }
    }

    #[test]
    fn admit_keeps_a_given_id_and_moves_the_counter_past_it() {
        let mut registry = cluster("c");
        assert_eq!(registry.apply(&admit(Some("c-S5"))), Ok(admitted("c-S5")));
        assert_eq!(apply_ok(&mut registry, admit(None)), admitted("c-S6"));
        // Ids in another form leave the counter alone.
        apply_ok(&mut registry, admit(Some("other-agent")));
        assert_eq!(apply_ok(&mut registry, admit(None)), admitted("c-S7"));
    }

    #[test]
    fn admit_never_reuses_an_id_even_after_it_was_pruned() {
        let mut registry = cluster("c");
        apply_ok(&mut registry, admit(None));
        apply_ok(&mut registry, mark_unreachable("c-S0", 10));
        apply_ok(
            &mut registry,
            crate::Command::Prune {
                unreachable: vec![entry("c-S0", 10)],
                gone: vec![],
            },
        );
        assert_eq!(registry.agent_state("c-S0"), AgentState::Unknown);
        assert_eq!(apply_ok(&mut registry, admit(None)), admitted("c-S1"));
    }

    #[test]
    fn admit_needs_an_initialized_cluster() {
        let mut registry = Registry::default();
        assert_refused(
            &mut registry,
            admit(None),
            RegistryError::ClusterNotInitialized,
        );
        assert_refused(
            &mut registry,
            admit(Some("a")),
            RegistryError::ClusterNotInitialized,
        );
    }

    #[test]
    fn admit_refuses_an_id_in_any_list() {
        let mut registry = three_agents();
        assert_refused(
            &mut registry,
            admit(Some("c-S1")),
            RegistryError::AgentAlreadyAdmitted {
                agent_id: "c-S1".into(),
            },
        );
        // Unreachable agents come back through MarkReachable, gone ones never.
        assert_refused(&mut registry, admit(Some("c-S2")), unreachable("c-S2"));
        assert_refused(&mut registry, admit(Some("c-S3")), gone("c-S3"));
    }

    #[test]
    fn admit_refuses_an_invalid_id() {
        let mut registry = cluster("c");
        for bad in ["", "a/b", ".."] {
            let before = registry.clone();
            assert!(matches!(
                registry.apply(&admit(Some(bad))),
                Err(RegistryError::InvalidId {
                    kind: IdKind::Agent,
                    ..
                })
            ));
            assert_eq!(registry, before);
        }
    }

    #[test]
    fn admit_without_id_fails_cleanly_when_the_counter_is_exhausted() {
        let mut registry = cluster("c");
        apply_ok(&mut registry, admit(Some(&format!("c-S{}", u64::MAX - 1))));
        assert_refused(
            &mut registry,
            admit(None),
            RegistryError::IdSpaceExhausted {
                kind: IdKind::Agent,
            },
        );
        // Explicit ids still work.
        apply_ok(&mut registry, admit(Some("c-S7")));
    }

    // ----- UpdateAgent -----

    #[test]
    fn update_replaces_the_info_and_keeps_the_flags() {
        let mut registry = three_agents();
        registry.admitted.get_mut("c-S1").unwrap().flags.draining = true;
        let mut info = agent_info(Some("c-S1"));
        info.hostname = "new-host".to_string();
        assert_eq!(
            registry.apply(&update_agent(info.clone())),
            Ok(Response::Applied)
        );
        let agent = &registry.admitted_agents()["c-S1"];
        assert_eq!(agent.info, info);
        assert!(agent.flags.draining);
    }

    #[test]
    fn update_with_equal_info_is_a_no_op() {
        let mut registry = three_agents();
        let before = registry.clone();
        assert_eq!(
            registry.apply(&update_agent(agent_info(Some("c-S1")))),
            Ok(Response::Unchanged)
        );
        assert_eq!(registry, before);
    }

    #[test]
    fn update_needs_an_admitted_agent_with_an_id() {
        let mut registry = three_agents();
        let cmd = update_agent;
        assert_refused(
            &mut registry,
            cmd(agent_info(None)),
            missing_agent_id("UpdateAgent"),
        );
        assert_refused(
            &mut registry,
            cmd(agent_info(Some("c-S2"))),
            unreachable("c-S2"),
        );
        assert_refused(&mut registry, cmd(agent_info(Some("c-S3"))), gone("c-S3"));
        assert_refused(
            &mut registry,
            cmd(agent_info(Some("c-S9"))),
            unknown("c-S9"),
        );
        assert!(registry.apply(&cmd(agent_info(Some("")))).is_err());
    }

    // ----- MarkUnreachable -----

    #[test]
    fn mark_unreachable_moves_an_admitted_agent_with_its_flags() {
        let mut registry = three_agents();
        registry.admitted.get_mut("c-S1").unwrap().flags.deactivated = true;
        assert_eq!(
            registry.apply(&mark_unreachable("c-S1", 40)),
            Ok(Response::Applied)
        );
        assert_eq!(
            registry.agent_state("c-S1"),
            AgentState::Unreachable { time_ns: 40 }
        );
        assert!(registry.unreachable_agents()["c-S1"].flags.deactivated);
    }

    #[test]
    fn mark_unreachable_refuses_anything_not_admitted() {
        let mut registry = three_agents();
        let cmd = mark_unreachable;
        assert_refused(&mut registry, cmd("c-S2", 50), unreachable("c-S2"));
        assert_refused(&mut registry, cmd("c-S3", 50), gone("c-S3"));
        assert_refused(&mut registry, cmd("c-S9", 50), unknown("c-S9"));
        assert!(registry.apply(&cmd("", 50)).is_err());
    }

    // ----- MarkReachable -----

    #[test]
    fn mark_reachable_readmits_an_unreachable_agent_with_its_new_info_and_flags() {
        let mut registry = three_agents();
        registry.unreachable.get_mut("c-S2").unwrap().flags.draining = true;
        let mut info = agent_info(Some("c-S2"));
        info.hostname = "moved".to_string();
        assert_eq!(
            registry.apply(&Command::MarkReachable { info: info.clone() }),
            Ok(Response::Applied)
        );
        assert_eq!(registry.agent("c-S2"), Some(&info));
        assert!(registry.admitted_agents()["c-S2"].flags.draining);
        assert!(registry.unreachable_agents().is_empty());
    }

    #[test]
    fn mark_reachable_admits_an_unknown_agent_and_moves_the_counter() {
        let mut registry = three_agents();
        assert_eq!(
            registry.apply(&mark_reachable("c-S9")),
            Ok(Response::Applied)
        );
        assert_eq!(registry.agent("c-S9"), Some(&agent_info(Some("c-S9"))));
        assert_eq!(apply_ok(&mut registry, admit(None)), admitted("c-S10"));
    }

    #[test]
    fn mark_reachable_of_an_admitted_agent_is_a_no_op() {
        let mut registry = three_agents();
        let before = registry.clone();
        let mut info = agent_info(Some("c-S1"));
        info.hostname = "changed".to_string();
        // The master replicates UpdateAgent separately if the info changed.
        assert_eq!(
            registry.apply(&Command::MarkReachable { info }),
            Ok(Response::Unchanged)
        );
        assert_eq!(registry, before);
    }

    #[test]
    fn mark_reachable_refuses_gone_agents_and_missing_ids() {
        let mut registry = three_agents();
        assert_refused(&mut registry, mark_reachable("c-S3"), gone("c-S3"));
        assert_refused(
            &mut registry,
            Command::MarkReachable {
                info: agent_info(None),
            },
            missing_agent_id("MarkReachable"),
        );
        assert!(registry.apply(&mark_reachable("a/b")).is_err());
        let mut empty = Registry::default();
        assert_refused(
            &mut empty,
            mark_reachable("x"),
            RegistryError::ClusterNotInitialized,
        );
    }

    // ----- MarkGone -----

    #[test]
    fn mark_gone_takes_admitted_and_unreachable_agents() {
        let mut registry = three_agents();
        assert_eq!(
            registry.apply(&mark_gone("c-S1", 60)),
            Ok(Response::Applied)
        );
        assert_eq!(
            registry.apply(&mark_gone("c-S2", 61)),
            Ok(Response::Applied)
        );
        assert_eq!(
            registry.agent_state("c-S1"),
            AgentState::Gone { time_ns: 60 }
        );
        assert_eq!(
            registry.agent_state("c-S2"),
            AgentState::Gone { time_ns: 61 }
        );
        assert!(registry.admitted_agents().is_empty());
        assert!(registry.unreachable_agents().is_empty());
    }

    #[test]
    fn mark_gone_refuses_gone_and_unknown_agents() {
        let mut registry = three_agents();
        assert_refused(&mut registry, mark_gone("c-S3", 70), gone("c-S3"));
        assert_refused(&mut registry, mark_gone("c-S9", 70), unknown("c-S9"));
        assert!(registry.apply(&mark_gone("", 70)).is_err());
    }

    // ----- RemoveAgent -----

    #[test]
    fn remove_deletes_an_admitted_agent_without_a_tombstone() {
        let mut registry = three_agents();
        assert_eq!(registry.apply(&remove_agent("c-S1")), Ok(Response::Applied));
        assert_eq!(registry.agent_state("c-S1"), AgentState::Unknown);
        // It may register again with its old id.
        apply_ok(&mut registry, admit(Some("c-S1")));
    }

    #[test]
    fn remove_of_an_unknown_agent_is_a_no_op() {
        let mut registry = three_agents();
        let before = registry.clone();
        assert_eq!(
            registry.apply(&remove_agent("c-S9")),
            Ok(Response::Unchanged)
        );
        assert_eq!(registry, before);
    }

    #[test]
    fn remove_refuses_to_drop_unreachable_or_gone_tombstones() {
        let mut registry = three_agents();
        assert_refused(&mut registry, remove_agent("c-S2"), unreachable("c-S2"));
        assert_refused(&mut registry, remove_agent("c-S3"), gone("c-S3"));
        assert!(registry.apply(&remove_agent("")).is_err());
    }
}
