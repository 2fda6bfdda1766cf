//! Snapshots: the whole registry as JSON, inside a small versioned
//! envelope, so a binary never half-understands a newer format.
//!
//! Restoring checks the registry's invariants too: a snapshot that parses
//! but could not have been produced by `apply` is refused, never loaded.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::error::{IdKind, SnapshotError};
use crate::ids::validate_id;
use crate::limits::{check_agent_info, check_framework_info, Limit};
use crate::weights::validate_role_weight;
use crate::Registry;

/// The snapshot format this binary writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    format: u32,
    registry: &'a Registry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnedEnvelope {
    // Already checked through `Header`.
    #[serde(rename = "format")]
    _format: u32,
    registry: Registry,
}

/// Just the version, read first so that a newer format is reported as such
/// rather than as a parse error somewhere in its body.
#[derive(Deserialize)]
struct Header {
    format: u32,
    #[serde(rename = "registry")]
    _registry: IgnoredAny,
}

impl Registry {
    /// The whole registry, serialized (JSON). Restoring these bytes with
    /// [`Registry::from_snapshot_bytes`] gives back an equal registry.
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let envelope = Envelope {
            format: SNAPSHOT_FORMAT,
            registry: self,
        };
        // Cannot fail: every map is keyed by `String`, and no field has a
        // serializer that can refuse (protobuf messages always encode, and
        // f64s serialize even when non-finite).
        serde_json::to_vec(&envelope).expect("a registry always serializes to JSON")
    }

    /// Restores a registry from [`Registry::to_snapshot_bytes`]. A corrupt,
    /// truncated, newer-format or inconsistent snapshot is an error.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<Registry, SnapshotError> {
        let header: Header =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        if header.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::UnsupportedFormat {
                found: header.format,
                supported: SNAPSHOT_FORMAT,
            });
        }
        let envelope: OwnedEnvelope =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        envelope.registry.check_invariants()?;
        Ok(envelope.registry)
    }

    /// Checks what `apply` guarantees (ids valid and in one list only,
    /// records stored under their own id, counters covering every
    /// generated id, weights valid, sizes within the limits), each with
    /// the function `apply` enforces it with. [`Registry::from_snapshot_bytes`] calls it; call
    /// it after deserializing a `Registry` any other way.
    pub fn check_invariants(&self) -> Result<(), SnapshotError> {
        self.find_inconsistency()
            .map_err(SnapshotError::Inconsistent)
    }

    fn find_inconsistency(&self) -> Result<(), String> {
        let cluster_id = match &self.cluster_id {
            Some(id) => {
                validate_id(IdKind::Cluster, id).map_err(|e| e.to_string())?;
                Some(id.as_str())
            }
            None => None,
        };
        let has_content = !self.admitted.is_empty()
            || !self.unreachable.is_empty()
            || !self.gone.is_empty()
            || !self.frameworks.is_empty()
            || !self.completed_frameworks.is_empty();
        if cluster_id.is_none() && has_content {
            return Err("agents or frameworks without a cluster id".to_string());
        }

        for (id, agent) in &self.admitted {
            if agent.info.id.as_ref().map(|i| i.value.as_str()) != Some(id.as_str()) {
                return Err(format!("admitted agent '{id}' is stored with another id"));
            }
            check_agent_info(&agent.info).map_err(|e| format!("agent '{id}': {e}"))?;
        }
        let agent_ids = self
            .admitted
            .keys()
            .chain(self.unreachable.keys())
            .chain(self.gone.keys());
        let mut seen = std::collections::BTreeSet::new();
        for id in agent_ids {
            validate_id(IdKind::Agent, id).map_err(|e| e.to_string())?;
            if !seen.insert(id) {
                return Err(format!("agent '{id}' is in more than one list"));
            }
            if cluster_id.is_some_and(|c| !self.counters.covers_agent_id(c, id)) {
                return Err(format!("agent '{id}' is ahead of the agent id counter"));
            }
        }

        for (id, framework) in &self.frameworks {
            if framework.info.id.as_ref().map(|i| i.value.as_str()) != Some(id.as_str()) {
                return Err(format!("framework '{id}' is stored with another id"));
            }
            if self.completed_frameworks.contains_key(id) {
                return Err(format!("framework '{id}' is both known and completed"));
            }
            check_framework_info(&framework.info).map_err(|e| format!("framework '{id}': {e}"))?;
        }
        for id in self
            .frameworks
            .keys()
            .chain(self.completed_frameworks.keys())
        {
            validate_id(IdKind::Framework, id).map_err(|e| e.to_string())?;
            if cluster_id.is_some_and(|c| !self.counters.covers_framework_id(c, id)) {
                return Err(format!(
                    "framework '{id}' is ahead of the framework id counter"
                ));
            }
        }

        Limit::WeightedRoles
            .check(self.weights.len())
            .map_err(|e| e.to_string())?;
        for (role, &weight) in &self.weights {
            validate_role_weight(role, weight).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::Command;

    /// Something in every part of the registry.
    fn populated() -> Registry {
        let mut registry = cluster("c");
        for id in ["c-S0", "c-S1", "c-S2"] {
            apply_ok(&mut registry, admit(Some(id)));
        }
        apply_ok(&mut registry, mark_unreachable("c-S1", -5));
        apply_ok(&mut registry, mark_gone("c-S2", i64::MAX));
        apply_ok(&mut registry, add_framework(None, 1));
        apply_ok(&mut registry, add_framework(None, 2));
        apply_ok(&mut registry, complete_framework("c-0001", 3));
        let update = Command::UpdateFramework {
            info: framework_info(Some("c-0000")),
            disconnected_time_ns: Some(4),
        };
        apply_ok(&mut registry, update);
        registry.admitted.get_mut("c-S0").unwrap().flags.draining = true;
        registry
    }

    fn with_raw_json(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut json: serde_json::Value =
            serde_json::from_slice(&populated().to_snapshot_bytes()).unwrap();
        edit(&mut json);
        serde_json::to_vec(&json).unwrap()
    }

    fn inconsistent(edit: impl FnOnce(&mut Registry)) -> Result<Registry, SnapshotError> {
        let mut registry = populated();
        edit(&mut registry);
        Registry::from_snapshot_bytes(&registry.to_snapshot_bytes())
    }

    #[test]
    fn round_trip_is_exact() {
        for registry in [Registry::default(), cluster("c"), populated()] {
            let bytes = registry.to_snapshot_bytes();
            assert_eq!(Registry::from_snapshot_bytes(&bytes), Ok(registry));
        }
    }

    #[test]
    fn weights_round_trip_bit_for_bit() {
        let awkward = [
            0.1 + 0.2,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            123_456_789.123_456_79,
            2.225_073_858_507_201e-308,
            9007199254740993.0,
            std::f64::consts::LN_2,
            1.7976931348623157e308,
        ];
        let mut registry = Registry::default();
        let weights = awkward
            .iter()
            .enumerate()
            .map(|(n, &w)| weight(&format!("r{n}"), w))
            .collect();
        apply_ok(&mut registry, update_weights(weights));
        let back = Registry::from_snapshot_bytes(&registry.to_snapshot_bytes()).unwrap();
        for (role, weight) in registry.weights() {
            assert_eq!(back.weights()[role].to_bits(), weight.to_bits(), "{role}");
        }
    }

    #[test]
    fn equal_registries_give_equal_bytes() {
        let mut one = cluster("c");
        let mut two = cluster("c");
        for id in ["a", "b"] {
            apply_ok(&mut one, admit(Some(id)));
        }
        for id in ["b", "a"] {
            apply_ok(&mut two, admit(Some(id)));
        }
        assert_eq!(one, two);
        assert_eq!(one.to_snapshot_bytes(), two.to_snapshot_bytes());
    }

    #[test]
    fn corrupt_or_truncated_bytes_are_errors() {
        let bytes = populated().to_snapshot_bytes();
        let half = &bytes[..bytes.len() / 2];
        let cases: [&[u8]; 6] = [b"", b"\xff\xfe", b"null", b"{}", b"[1,2]", half];
        for case in cases {
            let result = Registry::from_snapshot_bytes(case);
            assert!(
                matches!(result, Err(SnapshotError::Corrupt(_))),
                "{result:?}"
            );
        }
        for cut in (0..bytes.len()).step_by(7) {
            assert!(Registry::from_snapshot_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn a_bad_embedded_message_or_unknown_field_is_corrupt() {
        let bad_base64 = with_raw_json(|json| {
            json["registry"]["admitted"]["c-S0"]["info"] = "!!not base64".into();
        });
        let bad_protobuf = with_raw_json(|json| {
            json["registry"]["admitted"]["c-S0"]["info"] = "/////w==".into();
        });
        let unknown_field = with_raw_json(|json| {
            json["registry"]["quotas"] = serde_json::json!({});
        });
        let negative_counter = with_raw_json(|json| {
            json["registry"]["counters"]["next_agent"] = (-1).into();
        });
        for bytes in [bad_base64, bad_protobuf, unknown_field, negative_counter] {
            let result = Registry::from_snapshot_bytes(&bytes);
            assert!(
                matches!(result, Err(SnapshotError::Corrupt(_))),
                "{result:?}"
            );
        }
    }

    #[test]
    fn another_format_version_is_reported_as_such() {
        let bytes = with_raw_json(|json| {
            json["format"] = 2.into();
            json["registry"] = serde_json::json!({"a": "future layout"});
        });
        assert_eq!(
            Registry::from_snapshot_bytes(&bytes),
            Err(SnapshotError::UnsupportedFormat {
                found: 2,
                supported: SNAPSHOT_FORMAT
            })
        );
    }

    #[test]
    fn an_inconsistent_registry_is_refused() {
        let cases: [fn(&mut Registry); 8] = [
            |r| {
                r.gone.insert("c-S0".into(), 1);
            },
            |r| r.admitted.get_mut("c-S0").unwrap().info.id = None,
            |r| {
                r.completed_frameworks.insert("c-0000".into(), 1);
            },
            |r| r.counters.next_agent = 2,
            |r| r.counters.next_framework = 0,
            |r| {
                r.weights.insert("a".into(), -1.0);
            },
            |r| {
                r.weights.insert("/bad".into(), 1.0);
            },
            |r| r.cluster_id = None,
        ];
        for (n, edit) in cases.into_iter().enumerate() {
            let result = inconsistent(edit);
            assert!(
                matches!(result, Err(SnapshotError::Inconsistent(_))),
                "case {n}: {result:?}"
            );
        }
    }

    #[test]
    fn errors_say_what_to_do() {
        let message = Registry::from_snapshot_bytes(b"{").unwrap_err().to_string();
        assert!(message.contains("corrupt"), "{message}");
        assert!(message.contains("restore"), "{message}");
    }
}
