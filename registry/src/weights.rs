//! Operator UPDATE_WEIGHTS, and role name validation.

use mesoraft_proto::mesos::v1::WeightInfo;

use crate::{CommandResult, Registry, RegistryError, Response};

impl Registry {
    /// UpdateWeights: sets each listed role's weight, all or nothing. Every
    /// role must be valid and every weight finite and > 0 (Mesos only checks
    /// `> 0`, which lets NaN through). A role listed twice takes its last
    /// weight, as in Mesos. `Unchanged` if no weight changes.
    pub(crate) fn update_weights(&mut self, weights: &[WeightInfo]) -> CommandResult {
        let mut validated = Vec::with_capacity(weights.len());
        for weight in weights {
            validated.push(validate_weight(weight)?);
        }
        let mut changed = false;
        for (role, weight) in validated {
            let previous = self.weights.insert(role.to_string(), weight);
            changed |= previous != Some(weight);
        }
        Ok(if changed {
            Response::Applied
        } else {
            Response::Unchanged
        })
    }
}

fn validate_weight(info: &WeightInfo) -> Result<(&str, f64), RegistryError> {
    let role = info.role.as_deref().ok_or(RegistryError::MissingRole)?;
    validate_role(role)?;
    if !info.weight.is_finite() || info.weight <= 0.0 {
        return Err(RegistryError::InvalidWeight {
            role: role.to_string(),
            weight: info.weight.to_string(),
        });
    }
    Ok((role, info.weight))
}

/// Checks a role name with Mesos's rules (`src/common/roles.cpp`):
/// `*` (the default role) is valid; otherwise a role is a '/'-separated
/// path of components (hierarchical roles): no leading, trailing or double
/// '/', and no component that is ".", "..", "*", starts with '-', or
/// contains whitespace. Beyond Mesos (which only refuses ASCII whitespace
/// and DEL), any control or Unicode whitespace character is refused: the
/// registry does not trim, the master must send trimmed names.
pub fn validate_role(role: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidRole {
        role: role.to_string(),
        reason: reason.to_string(),
    };
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err(invalid("a role name must not be empty"));
    }
    if role.starts_with('/') || role.ends_with('/') {
        return Err(invalid("a role must not start or end with '/'"));
    }
    if role.contains("//") {
        return Err(invalid("a role must not contain two adjacent slashes"));
    }
    for component in role.split('/') {
        match component {
            "." | ".." => return Err(invalid("'.' and '..' are not valid role components")),
            "*" => return Err(invalid("'*' is only valid as the whole role")),
            _ if component.starts_with('-') => {
                return Err(invalid("a role component must not start with '-'"))
            }
            _ if component
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()) =>
            {
                return Err(invalid(
                    "a role must not contain whitespace or control characters",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn invalid_weight(role: &str, weight: &str) -> RegistryError {
        RegistryError::InvalidWeight {
            role: role.into(),
            weight: weight.into(),
        }
    }

    #[test]
    fn update_sets_weights_and_reports_changes() {
        let mut registry = Registry::default();
        let weights = vec![weight("a", 2.0), weight("b/c", 0.5), weight("*", 1.5)];
        assert_eq!(
            registry.apply(&update_weights(weights.clone())),
            Ok(Response::Applied)
        );
        assert_eq!(registry.weights().get("a"), Some(&2.0));
        assert_eq!(registry.weights().get("b/c"), Some(&0.5));
        assert_eq!(registry.weights().get("*"), Some(&1.5));
        assert_eq!(
            registry.apply(&update_weights(weights)),
            Ok(Response::Unchanged)
        );
        assert_eq!(
            registry.apply(&update_weights(vec![])),
            Ok(Response::Unchanged)
        );
        let change = vec![weight("a", 2.0), weight("b/c", 3.0)];
        assert_eq!(
            registry.apply(&update_weights(change)),
            Ok(Response::Applied)
        );
        assert_eq!(registry.weights().get("b/c"), Some(&3.0));
        assert_eq!(
            registry.weights().len(),
            3,
            "unlisted roles keep their weight"
        );
    }

    #[test]
    fn a_role_listed_twice_takes_its_last_weight() {
        let mut registry = Registry::default();
        let weights = vec![weight("a", 2.0), weight("a", 4.0)];
        assert_eq!(
            registry.apply(&update_weights(weights)),
            Ok(Response::Applied)
        );
        assert_eq!(registry.weights().get("a"), Some(&4.0));
    }

    #[test]
    fn bad_weights_are_refused_and_nothing_is_applied() {
        let mut registry = Registry::default();
        apply_ok(&mut registry, update_weights(vec![weight("a", 1.0)]));
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (-1.5, "-1.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (bad, text) in cases {
            // The good first entry must not be applied either.
            let weights = vec![weight("a", 9.0), weight("b", bad)];
            assert_refused(
                &mut registry,
                update_weights(weights),
                invalid_weight("b", text),
            );
        }
    }

    #[test]
    fn a_weight_without_role_is_refused() {
        let mut registry = Registry::default();
        let no_role = WeightInfo {
            weight: 1.0,
            role: None,
        };
        assert_refused(
            &mut registry,
            update_weights(vec![no_role]),
            RegistryError::MissingRole,
        );
    }

    #[test]
    fn mesos_role_rules_are_enforced() {
        let good = [
            "*", "a", "web", "a/b", "a/b/c", "a.b", "a-b", "a*b", "...", "dev_1",
        ];
        for role in good {
            assert_eq!(validate_role(role), Ok(()), "{role:?}");
        }
        let bad = [
            "", ".", "..", "/", "/a", "a/", "a//b", "a/./b", "a/../b", "a/*", "*/a", "-a", "a/-b",
            "a b", " a", "a\t", "a\n", "a\u{7f}", "a\u{1}", "a\u{a0}b",
        ];
        for role in bad {
            let mut registry = Registry::default();
            let result = registry.apply(&update_weights(vec![weight(role, 1.0)]));
            assert!(
                matches!(&result, Err(RegistryError::InvalidRole { role: r, .. }) if r == role),
                "{role:?}: {result:?}"
            );
            assert_eq!(registry, Registry::default());
        }
    }
}
