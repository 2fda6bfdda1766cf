//! Size limits on what the registry stores and on every command.
//!
//! The registry is replicated through the Raft log and copied whole into
//! every snapshot, so one unbounded string or list would grow every
//! master's memory, log and snapshots, and a log entry larger than what
//! replication can carry stalls the group for good. Each limit is one
//! function, used in three places: [`crate::check_command`] before a command is
//! proposed (the proposer calls it, so an oversized command never reaches
//! the log), `apply` (the authority: the same rule on the state it would
//! store), and the snapshot loader (a stored state that breaks a limit is
//! inconsistent).
//!
//! Every command that passes these limits encodes to at most
//! [`MAX_COMMAND_BYTES`] of JSON (tested below), which the Raft layer's
//! entry and message sizes are derived from.

use std::fmt;

use mesoraft_proto::mesos::v1::{AgentInfo, FrameworkInfo};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::{PruneEntry, RegistryError};

/// Longest role name, in bytes. Agents turn a whole role into one
/// directory name (hierarchical roles included), so NAME_MAX.
pub const MAX_ROLE_LEN: usize = 255;
/// Most weight_infos in one UPDATE_WEIGHTS call.
pub const MAX_WEIGHT_INFOS_PER_CALL: usize = 1024;
/// Most roles with a weight in the registry: bounds the registry's memory
/// and snapshot size (at most ~300 MB with the longest names), far above
/// any real cluster's role count. Test workloads that write a new role per
/// operation (Jepsen's durability and election workloads) reach ~100,000
/// in a long run.
pub const MAX_WEIGHTED_ROLES: usize = 1_000_000;
/// Largest `AgentInfo` the registry stores, protobuf-encoded.
pub const MAX_AGENT_INFO_BYTES: usize = 64 * 1024;
/// Largest `FrameworkInfo` the registry stores, protobuf-encoded.
pub const MAX_FRAMEWORK_INFO_BYTES: usize = 64 * 1024;
/// Most entries in each list of one Prune command; GC drops the rest in
/// later rounds.
pub const MAX_PRUNE_ENTRIES: usize = 1000;
/// Largest encoded (JSON) command any command within the limits above
/// can produce; larger ones are refused before they reach Raft.
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;

/// Which limit a command or state exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    RoleName,
    WeightInfosPerCall,
    WeightedRoles,
    AgentInfo,
    FrameworkInfo,
    PruneEntries,
    Command,
}

impl Limit {
    /// The largest allowed value.
    pub fn max(self) -> usize {
        match self {
            Limit::RoleName => MAX_ROLE_LEN,
            Limit::WeightInfosPerCall => MAX_WEIGHT_INFOS_PER_CALL,
            Limit::WeightedRoles => MAX_WEIGHTED_ROLES,
            Limit::AgentInfo => MAX_AGENT_INFO_BYTES,
            Limit::FrameworkInfo => MAX_FRAMEWORK_INFO_BYTES,
            Limit::PruneEntries => MAX_PRUNE_ENTRIES,
            Limit::Command => MAX_COMMAND_BYTES,
        }
    }

    /// Refuses `actual` if it is over this limit.
    pub fn check(self, actual: usize) -> Result<(), RegistryError> {
        if actual > self.max() {
            Err(RegistryError::LimitExceeded {
                limit: self,
                actual,
            })
        } else {
            Ok(())
        }
    }

    /// What went over, how far, and what to do instead.
    pub fn explain(self, actual: usize) -> String {
        let max = self.max();
        match self {
            Limit::RoleName => {
                format!("a role name of {actual} bytes is longer than the limit of {max} bytes")
            }
            Limit::WeightInfosPerCall => format!(
                "UPDATE_WEIGHTS lists {actual} weight_infos, more than the limit of {max} per \
                 call: split it into several calls"
            ),
            Limit::WeightedRoles => format!(
                "this update would give {actual} roles a weight, more than the limit of {max} \
                 roles"
            ),
            Limit::AgentInfo => format!(
                "an AgentInfo of {actual} bytes (encoded) is larger than the limit of {max} bytes"
            ),
            Limit::FrameworkInfo => format!(
                "a FrameworkInfo of {actual} bytes (encoded) is larger than the limit of {max} \
                 bytes"
            ),
            Limit::PruneEntries => format!(
                "a Prune list of {actual} entries is longer than the limit of {max}: prune in \
                 several rounds"
            ),
            Limit::Command => {
                format!("the command encodes to {actual} bytes, more than the limit of {max} bytes")
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::RoleName => "role name length",
            Limit::WeightInfosPerCall => "weight_infos per UPDATE_WEIGHTS call",
            Limit::WeightedRoles => "roles with a weight",
            Limit::AgentInfo => "AgentInfo size",
            Limit::FrameworkInfo => "FrameworkInfo size",
            Limit::PruneEntries => "entries per Prune list",
            Limit::Command => "command size",
        })
    }
}

/// The stored-size rule for agent infos.
pub fn check_agent_info(info: &AgentInfo) -> Result<(), RegistryError> {
    Limit::AgentInfo.check(info.encoded_len())
}

/// The stored-size rule for framework infos.
pub fn check_framework_info(info: &FrameworkInfo) -> Result<(), RegistryError> {
    Limit::FrameworkInfo.check(info.encoded_len())
}

/// The length rule for each list of a Prune command.
pub fn check_prune_lists(
    unreachable: &[PruneEntry],
    gone: &[PruneEntry],
) -> Result<(), RegistryError> {
    Limit::PruneEntries.check(unreachable.len())?;
    Limit::PruneEntries.check(gone.len())
}

/// Shortens a user-supplied value for an error message, so that refusing
/// a huge value does not echo it back whole.
pub(crate) fn clip(value: &str) -> String {
    const SHOWN: usize = 64;
    if value.len() <= SHOWN {
        return value.to_string();
    }
    let mut end = SHOWN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::{check_command, Command};
    use crate::{IdKind, MAX_ID_LEN};
    use mesoraft_proto::mesos::v1::{AgentId, FrameworkId, Resource, WeightInfo};

    fn encoded_len(command: &Command) -> usize {
        serde_json::to_vec(command).expect("commands encode").len()
    }

    fn longest_id(prefix: &str) -> String {
        format!("{prefix}{}", "9".repeat(MAX_ID_LEN - prefix.len()))
    }

    fn exceeded(limit: Limit, actual: usize) -> RegistryError {
        RegistryError::LimitExceeded { limit, actual }
    }

    /// `info` with its hostname resized so that it encodes to `target`
    /// bytes (exactly, at these sizes: the length prefix stays 3 bytes).
    fn sized(mut info: AgentInfo, target: usize) -> AgentInfo {
        let mut n = target;
        loop {
            info.hostname = "h".repeat(n);
            if info.encoded_len() <= target {
                return info;
            }
            n -= 1;
        }
    }

    fn agent_info_of(target: usize) -> AgentInfo {
        sized(agent_info(Some(&longest_id("c-S"))), target)
    }

    #[test]
    fn every_command_within_the_limits_encodes_under_the_command_limit() {
        let role = |i: usize| {
            let prefix = format!("{i}-");
            format!("{prefix}{}", "€".repeat((MAX_ROLE_LEN - prefix.len()) / 3))
        };
        let weights: Vec<WeightInfo> = (0..MAX_WEIGHT_INFOS_PER_CALL)
            .map(|i| WeightInfo {
                weight: f64::MIN_POSITIVE,
                role: Some(role(i)),
            })
            .collect();
        let entries: Vec<PruneEntry> = (0..MAX_PRUNE_ENTRIES)
            .map(|_| PruneEntry {
                agent_id: AgentId {
                    value: longest_id("c-S"),
                },
                time_ns: i64::MIN,
            })
            .collect();
        let mut framework = framework_info(Some(&longest_id("c-")));
        framework.name = "n".repeat(MAX_FRAMEWORK_INFO_BYTES - framework.encoded_len() - 4);
        assert!(framework.encoded_len() <= MAX_FRAMEWORK_INFO_BYTES);
        let agent = agent_info_of(MAX_AGENT_INFO_BYTES);
        assert_eq!(check_agent_info(&agent), Ok(()));
        let largest = [
            Command::UpdateWeights { weights },
            Command::Prune {
                unreachable: entries.clone(),
                gone: entries,
            },
            Command::AdmitAgent {
                info: agent.clone(),
            },
            Command::MarkReachable { info: agent },
            Command::AddFramework {
                info: framework.clone(),
                time_ns: i64::MIN,
            },
            Command::UpdateFramework {
                info: framework,
                disconnected_time_ns: Some(i64::MIN),
            },
            Command::CompleteFramework {
                framework_id: FrameworkId {
                    value: longest_id("c-"),
                },
                time_ns: i64::MIN,
            },
        ];
        for command in largest {
            assert_eq!(check_command(&command), Ok(()), "{}", command.name());
            let len = encoded_len(&command);
            assert!(
                len <= MAX_COMMAND_BYTES,
                "{} encodes to {len} bytes",
                command.name()
            );
        }
    }

    #[test]
    fn each_limit_refuses_one_past_it() {
        let agent = agent_info_of(MAX_AGENT_INFO_BYTES + 100);
        let size = agent.encoded_len();
        assert!(size > MAX_AGENT_INFO_BYTES);
        for command in [
            Command::AdmitAgent {
                info: agent.clone(),
            },
            Command::UpdateAgent {
                info: agent.clone(),
            },
            Command::MarkReachable { info: agent },
        ] {
            assert_eq!(
                check_command(&command),
                Err(exceeded(Limit::AgentInfo, size)),
                "{}",
                command.name()
            );
        }

        let mut framework = framework_info(Some("c-0001"));
        framework.name = "n".repeat(MAX_FRAMEWORK_INFO_BYTES);
        let size = framework.encoded_len();
        for command in [
            Command::AddFramework {
                info: framework.clone(),
                time_ns: 0,
            },
            Command::UpdateFramework {
                info: framework,
                disconnected_time_ns: None,
            },
        ] {
            assert_eq!(
                check_command(&command),
                Err(exceeded(Limit::FrameworkInfo, size)),
                "{}",
                command.name()
            );
        }

        let entries = vec![entry("c-S1", 0); MAX_PRUNE_ENTRIES + 1];
        for (unreachable, gone) in [(entries.clone(), vec![]), (vec![], entries)] {
            assert_eq!(
                check_command(&Command::Prune { unreachable, gone }),
                Err(exceeded(Limit::PruneEntries, MAX_PRUNE_ENTRIES + 1))
            );
        }

        let weights = vec![weight("a", 1.0); MAX_WEIGHT_INFOS_PER_CALL + 1];
        assert_eq!(
            check_command(&update_weights(weights)),
            Err(exceeded(
                Limit::WeightInfosPerCall,
                MAX_WEIGHT_INFOS_PER_CALL + 1
            ))
        );
        let long = "r".repeat(MAX_ROLE_LEN + 1);
        assert_eq!(
            check_command(&update_weights(vec![weight(&long, 1.0)])),
            Err(exceeded(Limit::RoleName, MAX_ROLE_LEN + 1))
        );
    }

    #[test]
    fn apply_enforces_the_same_limits() {
        let mut registry = cluster("c");
        let big_agent = agent_info_of(MAX_AGENT_INFO_BYTES + 100);
        let size = big_agent.encoded_len();
        assert_refused(
            &mut registry,
            Command::AdmitAgent { info: big_agent },
            exceeded(Limit::AgentInfo, size),
        );

        // The id AdmitAgent assigns counts towards the stored size.
        let no_id = sized(agent_info(None), MAX_AGENT_INFO_BYTES - 2);
        assert_eq!(no_id.encoded_len(), MAX_AGENT_INFO_BYTES - 2);
        assert_eq!(
            check_command(&Command::AdmitAgent {
                info: no_id.clone()
            }),
            Ok(())
        );
        let mut stored = no_id.clone();
        stored.id = Some(AgentId {
            value: "c-S0".into(),
        });
        assert_refused(
            &mut registry,
            Command::AdmitAgent { info: no_id },
            exceeded(Limit::AgentInfo, stored.encoded_len()),
        );

        let mut framework = framework_info(None);
        framework.name = "n".repeat(MAX_FRAMEWORK_INFO_BYTES - 12);
        assert_eq!(check_framework_info(&framework), Ok(()));
        let mut stored = framework.clone();
        stored.id = Some(FrameworkId {
            value: "c-0000".into(),
        });
        assert_refused(
            &mut registry,
            Command::AddFramework {
                info: framework,
                time_ns: 1,
            },
            exceeded(Limit::FrameworkInfo, stored.encoded_len()),
        );

        let entries = vec![entry("c-S1", 0); MAX_PRUNE_ENTRIES + 1];
        assert_refused(
            &mut registry,
            Command::Prune {
                unreachable: entries,
                gone: vec![],
            },
            exceeded(Limit::PruneEntries, MAX_PRUNE_ENTRIES + 1),
        );
    }

    #[test]
    fn refusals_name_the_limit_and_do_not_echo_huge_values() {
        let long = "r".repeat(1024 * 1024);
        let error = crate::validate_role(&long).unwrap_err().to_string();
        assert!(error.contains(&MAX_ROLE_LEN.to_string()), "{error}");
        assert!(error.len() < 200, "{error}");
        let error = crate::validate_id(IdKind::Agent, &long)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&MAX_ID_LEN.to_string()), "{error:.300}");
        assert!(error.len() < 300, "{error:.300}");
        for limit in [
            Limit::RoleName,
            Limit::WeightInfosPerCall,
            Limit::WeightedRoles,
            Limit::AgentInfo,
            Limit::FrameworkInfo,
            Limit::PruneEntries,
            Limit::Command,
        ] {
            let message = exceeded(limit, limit.max() + 1).to_string();
            assert!(message.contains(&limit.max().to_string()), "{message}");
            assert!(
                message.contains(&(limit.max() + 1).to_string()),
                "{message}"
            );
        }
    }

    #[test]
    fn clip_keeps_short_values_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(clip("web"), "web");
        let long = "é".repeat(100);
        let clipped = clip(&long);
        assert!(clipped.ends_with("(200 bytes)"), "{clipped}");
        assert!(clipped.len() < 90, "{clipped}");
    }

    #[test]
    fn resources_count_towards_the_agent_info_size() {
        let mut info = agent_info(Some("c-S1"));
        info.resources = (0..10_000)
            .map(|i| Resource {
                name: format!("r{i}"),
                ..Default::default()
            })
            .collect();
        assert!(matches!(
            check_agent_info(&info),
            Err(RegistryError::LimitExceeded {
                limit: Limit::AgentInfo,
                ..
            })
        ));
    }
}
