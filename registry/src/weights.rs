//! Operator UPDATE_WEIGHTS, and role name validation.

use mesoraft_proto::mesos::v1::WeightInfo;

use crate::limits::{clip, Limit};
use crate::{CommandResult, Registry, RegistryError, Response};

impl Registry {
    /// UpdateWeights: sets each listed role's weight, all or nothing. Every
    /// role must be valid and every weight finite and > 0 (Mesos only checks
    /// `> 0`, which lets NaN through). A role listed twice takes its last
    /// weight, as in Mesos. `Unchanged` if no weight changes. Bounded: at
    /// most `MAX_WEIGHT_INFOS_PER_CALL` per call and `MAX_WEIGHTED_ROLES`
    /// roles with a weight overall.
    pub(crate) fn update_weights(&mut self, weights: &[WeightInfo]) -> CommandResult {
        let validated = validate_weights(weights)?;
        let new_roles: std::collections::BTreeSet<&str> = validated
            .iter()
            .map(|(role, _)| *role)
            .filter(|role| !self.weights.contains_key(*role))
            .collect();
        Limit::WeightedRoles.check(self.weights.len() + new_roles.len())?;
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

/// The state-independent rules of one UPDATE_WEIGHTS call: how many
/// weight_infos, and each role and weight. Returns the (role, weight)
/// pairs in order.
pub(crate) fn validate_weights(weights: &[WeightInfo]) -> Result<Vec<(&str, f64)>, RegistryError> {
    Limit::WeightInfosPerCall.check(weights.len())?;
    weights.iter().map(validate_weight).collect()
}

/// One stored weight: a valid role with a finite weight > 0. The snapshot
/// loader checks stored weights with this too.
pub(crate) fn validate_role_weight(role: &str, weight: f64) -> Result<(), RegistryError> {
    validate_role(role)?;
    if !weight.is_finite() || weight <= 0.0 {
        return Err(RegistryError::InvalidWeight {
            role: clip(role),
            weight: weight.to_string(),
        });
    }
    Ok(())
}

fn validate_weight(info: &WeightInfo) -> Result<(&str, f64), RegistryError> {
    let role = info.role.as_deref().ok_or(RegistryError::MissingRole)?;
    validate_role_weight(role, info.weight)?;
    Ok((role, info.weight))
}

/// Checks a role name with Mesos's rules (`src/common/roles.cpp`):
/// `*` (the default role) is valid; otherwise a role is a '/'-separated
/// path of components (hierarchical roles): not empty, no leading,
/// trailing or double '/', and no component that is ".", "..", "*",
/// starts with '-', or contains whitespace. Beyond Mesos: at most
/// `MAX_ROLE_LEN` bytes, and any control or Unicode whitespace character
/// is refused (Mesos only refuses ASCII whitespace and DEL); the registry
/// does not trim, the master must send trimmed names.
pub fn validate_role(role: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidRole {
        role: clip(role),
        reason: reason.to_string(),
    };
    Limit::RoleName.check(role.len())?;
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

    fn exceeded(limit: Limit, actual: usize) -> RegistryError {
        RegistryError::LimitExceeded { limit, actual }
    }

    #[test]
    fn role_names_are_bounded_in_bytes() {
        use crate::limits::MAX_ROLE_LEN;
        assert_eq!(validate_role(&"r".repeat(MAX_ROLE_LEN)), Ok(()));
        let nested = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        assert_eq!(validate_role(&nested), Ok(()));
        assert_eq!(
            validate_role(&"r".repeat(MAX_ROLE_LEN + 1)),
            Err(exceeded(Limit::RoleName, MAX_ROLE_LEN + 1))
        );
        // Bytes, not characters: 86 three-byte characters are 258 bytes.
        assert_eq!(
            validate_role(&"€".repeat(86)),
            Err(exceeded(Limit::RoleName, 258))
        );
        let mut registry = Registry::default();
        let long = "r".repeat(1024 * 1024);
        assert_refused(
            &mut registry,
            update_weights(vec![weight(&long, 1.0)]),
            exceeded(Limit::RoleName, long.len()),
        );
    }

    #[test]
    fn one_call_sets_at_most_the_per_call_limit() {
        use crate::limits::MAX_WEIGHT_INFOS_PER_CALL;
        let mut registry = Registry::default();
        let at_limit: Vec<_> = (0..MAX_WEIGHT_INFOS_PER_CALL)
            .map(|i| weight(&format!("r{i}"), 1.5))
            .collect();
        assert_eq!(
            registry.apply(&update_weights(at_limit)),
            Ok(Response::Applied)
        );
        let over: Vec<_> = (0..20_000).map(|i| weight(&format!("s{i}"), 1.5)).collect();
        assert_refused(
            &mut registry,
            update_weights(over),
            exceeded(Limit::WeightInfosPerCall, 20_000),
        );
    }

    #[test]
    fn the_registry_holds_at_most_the_weighted_roles_limit() {
        use crate::limits::{MAX_WEIGHTED_ROLES, MAX_WEIGHT_INFOS_PER_CALL};
        let mut registry = Registry::default();
        let mut n = 0;
        while n + MAX_WEIGHT_INFOS_PER_CALL <= MAX_WEIGHTED_ROLES {
            let call: Vec<_> = (n..n + MAX_WEIGHT_INFOS_PER_CALL)
                .map(|i| weight(&format!("r{i}"), 2.0))
                .collect();
            apply_ok(&mut registry, update_weights(call));
            n += MAX_WEIGHT_INFOS_PER_CALL;
        }
        let room = MAX_WEIGHTED_ROLES - n;
        let fill: Vec<_> = (n..n + room)
            .map(|i| weight(&format!("r{i}"), 2.0))
            .collect();
        apply_ok(&mut registry, update_weights(fill));
        assert_eq!(registry.weights().len(), MAX_WEIGHTED_ROLES);
        // Updating existing roles is fine at the limit; one more is not.
        apply_ok(&mut registry, update_weights(vec![weight("r0", 3.0)]));
        assert_refused(
            &mut registry,
            update_weights(vec![weight("r0", 4.0), weight("new", 1.0)]),
            exceeded(Limit::WeightedRoles, MAX_WEIGHTED_ROLES + 1),
        );
        // A role listed twice counts once.
        assert_refused(
            &mut registry,
            update_weights(vec![weight("new", 1.0), weight("new", 2.0)]),
            exceeded(Limit::WeightedRoles, MAX_WEIGHTED_ROLES + 1),
        );
    }

    #[test]
    fn each_mesos_role_rule_has_its_reason() {
        let cases = [
            ("", "empty"),
            ("a//b", "adjacent slashes"),
            ("/a", "start or end"),
            ("a/", "start or end"),
            (".", "'.' and '..'"),
            ("a/..", "'.' and '..'"),
            ("*/a", "'*'"),
            ("-a", "'-'"),
            ("a/-b", "'-'"),
            ("a\tb", "whitespace"),
            ("a\u{7f}", "control"),
            ("a\u{2003}b", "whitespace"),
        ];
        for (role, reason) in cases {
            match validate_role(role) {
                Err(RegistryError::InvalidRole {
                    role: r,
                    reason: why,
                }) => {
                    assert_eq!(r, role);
                    assert!(why.contains(reason), "{role:?}: {why}");
                }
                other => panic!("{role:?}: {other:?}"),
            }
        }
    }
}
