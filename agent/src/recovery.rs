//! The start-up decision (SPEC section 7): from what the work dir
//! remembers, the info the flags give now, the current boot id, `--recover`
//! and `--reconfiguration-policy`, decide whether the agent registers as a
//! new agent, re-registers under its old id, or cleans up and exits.
//!
//! | checkpoint | boot    | info vs policy | `--recover` | decision                     |
//! |------------|---------|----------------|-------------|------------------------------|
//! | any        | any     | any            | cleanup     | `Cleanup`                    |
//! | none       | any     | -              | reconnect   | `RegisterNew`                |
//! | agent      | same    | allowed        | reconnect   | `Reregister`                 |
//! | agent      | same    | refused        | reconnect   | error (incompatible info)    |
//! | agent      | rebooted| allowed        | reconnect   | `Reregister { rebooted }`    |
//! | agent      | rebooted| refused        | reconnect   | `RegisterNew` (fresh id)     |
//!
//! After a reboot the old executors are gone, so nothing is lost by
//! starting afresh when the info no longer fits; without a reboot they may
//! still run, and only the operator may decide to abandon them. An unknown
//! previous boot id (never recorded) counts as the same boot. Pure: the
//! I/O (loading the checkpoint, reading the boot id) is the caller's.

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

use crate::checkpoint::Checkpoint;
use crate::reconfig::{check, Difference, IncompatibleAgentInfo, ReconfigurationPolicy};

/// `--recover`: what a restarted agent does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RecoverMode {
    /// Reattach to live executors and re-register under the old id.
    #[default]
    Reconnect,
    /// Kill every executor of the old agent, then exit.
    Cleanup,
}

impl std::fmt::Display for RecoverMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecoverMode::Reconnect => "reconnect",
            RecoverMode::Cleanup => "cleanup",
        })
    }
}

/// Why the agent starts under a new id.
#[derive(Debug, Clone, PartialEq)]
pub enum NewAgentReason {
    /// No agent ran in this work dir (or `latest` was removed).
    NoCheckpoint,
    /// The host rebooted and the info no longer fits the old agent's.
    RebootedWithOtherInfo { refused: IncompatibleAgentInfo },
}

/// What the agent does at start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Startup {
    /// Register as a new agent; the master hands out a fresh id.
    RegisterNew { reason: NewAgentReason },
    /// Re-register under the old id with `info` (the flags' info, id set),
    /// which replaces the checkpointed one.
    Reregister {
        agent_id: AgentId,
        info: AgentInfo,
        /// The host rebooted since the last run: the old executors are
        /// dead and their tasks are reported gone or lost.
        rebooted: bool,
        /// What changed from the checkpointed info (empty when nothing did:
        /// then the master needs no registry write, MESOS-7711).
        changes: Vec<Difference>,
    },
    /// `--recover=cleanup`: kill the old agent's executors, then exit.
    Cleanup,
}

/// The decision of the module doc's table.
pub fn decide(
    checkpoint: &Checkpoint,
    flags_info: &AgentInfo,
    current_boot_id: &str,
    mode: RecoverMode,
    policy: ReconfigurationPolicy,
) -> Result<Startup, IncompatibleAgentInfo> {
    if mode == RecoverMode::Cleanup {
        return Ok(Startup::Cleanup);
    }
    let Some(previous) = &checkpoint.agent else {
        return Ok(Startup::RegisterNew {
            reason: NewAgentReason::NoCheckpoint,
        });
    };
    let rebooted = checkpoint
        .boot_id
        .as_deref()
        .is_some_and(|recorded| recorded != current_boot_id);
    match check(&previous.info, flags_info, policy) {
        Ok(compatible) => Ok(Startup::Reregister {
            agent_id: previous.agent_id.clone(),
            info: AgentInfo {
                id: Some(previous.agent_id.clone()),
                ..flags_info.clone()
            },
            rebooted,
            changes: compatible.changes,
        }),
        Err(refused) if rebooted => Ok(Startup::RegisterNew {
            reason: NewAgentReason::RebootedWithOtherInfo { refused },
        }),
        Err(refused) => Err(refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointedAgent;
    use crate::resources::parse_resources;

    use ReconfigurationPolicy::{Additive, Equal};
    use RecoverMode::{Cleanup, Reconnect};

    fn info(resources: &str) -> AgentInfo {
        AgentInfo {
            hostname: "a1".into(),
            port: Some(5051),
            resources: parse_resources(resources).unwrap(),
            ..AgentInfo::default()
        }
    }

    fn old_id() -> AgentId {
        AgentId {
            value: "c-S7".into(),
        }
    }

    fn checkpoint(agent: bool, boot_id: Option<&str>) -> Checkpoint {
        Checkpoint {
            agent: agent.then(|| CheckpointedAgent {
                agent_id: old_id(),
                info: AgentInfo {
                    id: Some(old_id()),
                    ..info("cpus:4")
                },
            }),
            boot_id: boot_id.map(String::from),
        }
    }

    /// The decision's shape, without the payloads.
    #[derive(Debug, PartialEq)]
    enum Shape {
        New,
        NewAfterReboot,
        Again { rebooted: bool, changed: bool },
        Clean,
        Refused,
    }

    fn shape(result: Result<Startup, IncompatibleAgentInfo>) -> Shape {
        match result {
            Ok(Startup::RegisterNew {
                reason: NewAgentReason::NoCheckpoint,
            }) => Shape::New,
            Ok(Startup::RegisterNew {
                reason: NewAgentReason::RebootedWithOtherInfo { .. },
            }) => Shape::NewAfterReboot,
            Ok(Startup::Reregister {
                rebooted, changes, ..
            }) => Shape::Again {
                rebooted,
                changed: !changes.is_empty(),
            },
            Ok(Startup::Cleanup) => Shape::Clean,
            Err(_) => Shape::Refused,
        }
    }

    #[test]
    fn every_row_of_the_table() {
        let again = |rebooted, changed| Shape::Again { rebooted, changed };
        // (row, has agent, recorded boot, flags' resources, mode, policy, decision);
        // the current boot is always "b1".
        #[rustfmt::skip]
        let rows = [
            ("fresh work dir", false, None, "cpus:4", Reconnect, Equal, Shape::New),
            ("fresh, booted before", false, Some("b0"), "cpus:4", Reconnect, Equal, Shape::New),
            ("fresh, cleanup", false, None, "cpus:4", Cleanup, Equal, Shape::Clean),
            ("same info", true, Some("b1"), "cpus:4", Reconnect, Equal, again(false, false)),
            ("same info, no boot id", true, None, "cpus:4", Reconnect, Equal, again(false, false)),
            ("same info, rebooted", true, Some("b0"), "cpus:4", Reconnect, Equal, again(true, false)),
            ("growth, equal", true, Some("b1"), "cpus:8", Reconnect, Equal, Shape::Refused),
            ("growth, additive", true, Some("b1"), "cpus:8", Reconnect, Additive, again(false, true)),
            ("growth, additive, rebooted", true, Some("b0"), "cpus:8", Reconnect, Additive, again(true, true)),
            ("growth, equal, rebooted", true, Some("b0"), "cpus:8", Reconnect, Equal, Shape::NewAfterReboot),
            ("shrink, additive", true, Some("b1"), "cpus:2", Reconnect, Additive, Shape::Refused),
            ("shrink, additive, rebooted", true, Some("b0"), "cpus:2", Reconnect, Additive, Shape::NewAfterReboot),
            ("shrink, cleanup", true, Some("b1"), "cpus:2", Cleanup, Equal, Shape::Clean),
            ("same info, cleanup", true, Some("b1"), "cpus:4", Cleanup, Additive, Shape::Clean),
        ];
        for (row, agent, boot, resources, mode, policy, want) in rows {
            let got = decide(
                &checkpoint(agent, boot),
                &info(resources),
                "b1",
                mode,
                policy,
            );
            assert_eq!(shape(got), want, "row {row:?}");
        }
    }

    #[test]
    fn a_reregistration_keeps_the_id_and_takes_the_new_info() {
        let now = info("cpus:8");
        let decision = decide(
            &checkpoint(true, Some("b1")),
            &now,
            "b1",
            Reconnect,
            Additive,
        );
        let Ok(Startup::Reregister {
            agent_id,
            info,
            changes,
            ..
        }) = decision
        else {
            panic!("{decision:?}");
        };
        assert_eq!(agent_id, old_id());
        assert_eq!(info.id, Some(old_id()));
        assert_eq!(info.resources, now.resources);
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn the_refusal_lists_the_differences() {
        let err = decide(
            &checkpoint(true, Some("b1")),
            &info("cpus:2"),
            "b1",
            Reconnect,
            Equal,
        )
        .unwrap_err();
        assert_eq!(err.differences.len(), 1);
        assert!(err.to_string().contains("cpus:4 shrank to cpus:2"));
    }
}
