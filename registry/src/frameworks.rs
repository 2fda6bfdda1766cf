//! The framework lifecycle (beyond Mesos, whose registry keeps none):
//! added -> updated (connected / disconnected) -> completed for ever.
//!
//! Decision beyond the SPEC table: CompleteFramework of an id that is
//! already completed is a no-op (`Unchanged`), so a proposal retried after a
//! leader change is harmless; only a never-known id is refused.

use mesoraft_proto::mesos::v1::{FrameworkId, FrameworkInfo};

use crate::error::IdKind;
use crate::ids::validate_id;
use crate::limits::check_framework_info;
use crate::model::FrameworkRecord;
use crate::{CommandResult, Registry, RegistryError, Response, TimeNs};

impl Registry {
    /// AddFramework: a newly subscribing framework, registered at `time_ns`.
    /// Assigns `<cluster_id>-<nnnn>` if `info.id` is unset; a given id must
    /// be neither known nor completed.
    pub(crate) fn add_framework(&mut self, info: &FrameworkInfo, time_ns: TimeNs) -> CommandResult {
        let cluster_id = self.initialized_cluster_id()?;
        let framework_id = match &info.id {
            Some(id) => id.value.clone(),
            None => self.counters.peek_framework_id(cluster_id)?,
        };
        validate_id(IdKind::Framework, &framework_id)?;
        if self.is_framework_completed(&framework_id) {
            return Err(RegistryError::FrameworkCompleted { framework_id });
        }
        if self.frameworks.contains_key(&framework_id) {
            return Err(RegistryError::FrameworkAlreadyExists { framework_id });
        }

        let mut info = info.clone();
        info.id = Some(FrameworkId {
            value: framework_id.clone(),
        });
        check_framework_info(&info)?;
        let record = FrameworkRecord {
            info,
            registered_ns: time_ns,
            disconnected_ns: None,
        };
        if let Some(cluster_id) = &self.cluster_id {
            self.counters.note_framework_id(cluster_id, &framework_id);
        }
        self.frameworks.insert(framework_id.clone(), record);
        Ok(Response::FrameworkAdded { framework_id })
    }

    /// UpdateFramework: replaces a known framework's info and disconnection
    /// time; no-op if both are equal.
    pub(crate) fn update_framework(
        &mut self,
        info: &FrameworkInfo,
        disconnected_ns: Option<TimeNs>,
    ) -> CommandResult {
        let framework_id = info
            .id
            .as_ref()
            .map(|id| id.value.as_str())
            .ok_or_else(|| RegistryError::MissingId {
                kind: IdKind::Framework,
                command: "UpdateFramework".to_string(),
            })?;
        validate_id(IdKind::Framework, framework_id)?;
        check_framework_info(info)?;
        let record = match self.frameworks.get_mut(framework_id) {
            Some(record) => record,
            None => return Err(self.absent_framework_error(framework_id)),
        };
        if record.info == *info && record.disconnected_ns == disconnected_ns {
            return Ok(Response::Unchanged);
        }
        record.info = info.clone();
        record.disconnected_ns = disconnected_ns;
        Ok(Response::Applied)
    }

    /// CompleteFramework: removes a known framework for good at `time_ns`;
    /// its id can never be added again.
    pub(crate) fn complete_framework(
        &mut self,
        framework_id: &str,
        time_ns: TimeNs,
    ) -> CommandResult {
        validate_id(IdKind::Framework, framework_id)?;
        if self.is_framework_completed(framework_id) {
            return Ok(Response::Unchanged);
        }
        if self.frameworks.remove(framework_id).is_none() {
            return Err(RegistryError::FrameworkUnknown {
                framework_id: framework_id.to_string(),
            });
        }
        self.completed_frameworks
            .insert(framework_id.to_string(), time_ns);
        Ok(Response::Applied)
    }

    fn absent_framework_error(&self, framework_id: &str) -> RegistryError {
        let framework_id = framework_id.to_string();
        if self.is_framework_completed(&framework_id) {
            RegistryError::FrameworkCompleted { framework_id }
        } else {
            RegistryError::FrameworkUnknown { framework_id }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::{Command, Registry};

    fn added(id: &str) -> Response {
        Response::FrameworkAdded {
            framework_id: id.into(),
        }
    }
    fn unknown(id: &str) -> RegistryError {
        RegistryError::FrameworkUnknown {
            framework_id: id.into(),
        }
    }
    fn completed(id: &str) -> RegistryError {
        RegistryError::FrameworkCompleted {
            framework_id: id.into(),
        }
    }

    fn update(info: FrameworkInfo, disconnected_time_ns: Option<TimeNs>) -> Command {
        Command::UpdateFramework {
            info,
            disconnected_time_ns,
        }
    }

    /// c-0000 known (added at 10), c-0001 completed (at 20).
    fn two_frameworks() -> Registry {
        let mut registry = cluster("c");
        apply_ok(&mut registry, add_framework(None, 10));
        apply_ok(&mut registry, add_framework(None, 11));
        apply_ok(&mut registry, complete_framework("c-0001", 20));
        registry
    }

    // ----- AddFramework -----

    #[test]
    fn add_assigns_zero_padded_sequential_ids() {
        let mut registry = cluster("c");
        assert_eq!(
            registry.apply(&add_framework(None, 10)),
            Ok(added("c-0000"))
        );
        assert_eq!(
            registry.apply(&add_framework(None, 11)),
            Ok(added("c-0001"))
        );
        let record = registry.framework("c-0001").unwrap();
        assert_eq!(record.info, framework_info(Some("c-0001")));
        assert_eq!(record.registered_ns, 11);
        assert_eq!(record.disconnected_ns, None);
    }

    #[test]
    fn add_keeps_a_given_id_and_moves_the_counter_past_it() {
        let mut registry = cluster("c");
        assert_eq!(
            registry.apply(&add_framework(Some("c-0041"), 1)),
            Ok(added("c-0041"))
        );
        assert_eq!(
            registry.apply(&add_framework(Some("mine"), 1)),
            Ok(added("mine"))
        );
        assert_eq!(registry.apply(&add_framework(None, 2)), Ok(added("c-0042")));
    }

    #[test]
    fn add_needs_an_initialized_cluster() {
        let mut registry = Registry::default();
        let error = RegistryError::ClusterNotInitialized;
        assert_refused(&mut registry, add_framework(None, 1), error.clone());
        assert_refused(&mut registry, add_framework(Some("f"), 1), error);
    }

    #[test]
    fn add_refuses_known_completed_and_invalid_ids() {
        let mut registry = two_frameworks();
        let exists = RegistryError::FrameworkAlreadyExists {
            framework_id: "c-0000".into(),
        };
        assert_refused(&mut registry, add_framework(Some("c-0000"), 30), exists);
        assert_refused(
            &mut registry,
            add_framework(Some("c-0001"), 30),
            completed("c-0001"),
        );
        for bad in ["", "a/b", "."] {
            let before = registry.clone();
            assert!(matches!(
                registry.apply(&add_framework(Some(bad), 30)),
                Err(RegistryError::InvalidId {
                    kind: IdKind::Framework,
                    ..
                })
            ));
            assert_eq!(registry, before);
        }
    }

    #[test]
    fn add_never_reassigns_a_completed_id() {
        let mut registry = two_frameworks();
        assert_eq!(
            registry.apply(&add_framework(None, 30)),
            Ok(added("c-0002"))
        );
    }

    #[test]
    fn add_fails_cleanly_when_the_counter_is_exhausted() {
        let mut registry = cluster("c");
        apply_ok(
            &mut registry,
            add_framework(Some(&format!("c-{}", u64::MAX)), 1),
        );
        let error = RegistryError::IdSpaceExhausted {
            kind: IdKind::Framework,
        };
        assert_refused(&mut registry, add_framework(None, 2), error);
    }

    // ----- UpdateFramework -----

    #[test]
    fn update_replaces_info_and_disconnection_time() {
        let mut registry = two_frameworks();
        let mut info = framework_info(Some("c-0000"));
        info.name = "renamed".to_string();
        assert_eq!(
            registry.apply(&update(info.clone(), Some(50))),
            Ok(Response::Applied)
        );
        let record = registry.framework("c-0000").unwrap();
        assert_eq!(record.info, info);
        assert_eq!(record.disconnected_ns, Some(50));
        assert_eq!(record.registered_ns, 10, "registration time is kept");
        // Reconnected: only the time changes.
        assert_eq!(registry.apply(&update(info, None)), Ok(Response::Applied));
        assert_eq!(registry.framework("c-0000").unwrap().disconnected_ns, None);
    }

    #[test]
    fn update_with_equal_values_is_a_no_op() {
        let mut registry = two_frameworks();
        let before = registry.clone();
        let info = framework_info(Some("c-0000"));
        assert_eq!(registry.apply(&update(info, None)), Ok(Response::Unchanged));
        assert_eq!(registry, before);
    }

    #[test]
    fn update_needs_a_known_framework_with_an_id() {
        let mut registry = two_frameworks();
        let missing = RegistryError::MissingId {
            kind: IdKind::Framework,
            command: "UpdateFramework".into(),
        };
        assert_refused(&mut registry, update(framework_info(None), None), missing);
        let info = framework_info(Some("c-0001"));
        assert_refused(&mut registry, update(info, None), completed("c-0001"));
        let info = framework_info(Some("c-0009"));
        assert_refused(&mut registry, update(info, None), unknown("c-0009"));
        assert!(registry
            .apply(&update(framework_info(Some("")), None))
            .is_err());
    }

    // ----- CompleteFramework -----

    #[test]
    fn complete_moves_a_framework_to_the_completed_set_for_ever() {
        let mut registry = two_frameworks();
        assert_eq!(
            registry.apply(&complete_framework("c-0000", 40)),
            Ok(Response::Applied)
        );
        assert!(registry.framework("c-0000").is_none());
        assert!(registry.is_framework_completed("c-0000"));
        assert_eq!(registry.completed_frameworks().get("c-0000"), Some(&40));
        assert!(registry.frameworks().is_empty());
    }

    #[test]
    fn complete_of_a_completed_framework_is_a_no_op() {
        let mut registry = two_frameworks();
        let before = registry.clone();
        let command = complete_framework("c-0001", 99);
        assert_eq!(registry.apply(&command), Ok(Response::Unchanged));
        assert_eq!(registry, before, "the first completion time is kept");
    }

    #[test]
    fn complete_refuses_unknown_and_invalid_ids() {
        let mut registry = two_frameworks();
        assert_refused(
            &mut registry,
            complete_framework("c-0009", 1),
            unknown("c-0009"),
        );
        assert!(registry.apply(&complete_framework("", 1)).is_err());
    }
}
