//! `--reconfiguration-policy`: may an agent restarted with other flags
//! keep the identity it checkpointed? (SPEC section 7; Mesos's
//! `slave/compatibility.cpp`.)
//!
//! * `equal`: any change of hostname, port, resources, attributes or
//!   domain refuses.
//! * `additive`: hostname, port and domain must stay; resources may only
//!   grow (a scalar larger or equal, ranges and sets supersets, new names
//!   allowed); attributes may only be added.
//!
//! [`check`] is pure and lists every difference ([`difference`]), not
//! just the first as Mesos does, so one restart shows the operator
//! everything to fix.

use std::fmt;
use std::path::{Path, PathBuf};

use mesoraft_proto::mesos::v1::AgentInfo;

pub mod difference;

pub use difference::{differences, Difference};

/// Which changes of its info an agent may make across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReconfigurationPolicy {
    /// Any change refuses to start (Mesos's default).
    #[default]
    Equal,
    /// Hostname, port and domain stay; resources grow; attributes are added.
    Additive,
}

impl fmt::Display for ReconfigurationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReconfigurationPolicy::Equal => "equal",
            ReconfigurationPolicy::Additive => "additive",
        })
    }
}

/// The agent may keep its identity. `changes` are the differences the
/// policy let through (empty when nothing changed): the new info then
/// replaces the old one, and the master records it (`UpdateAgent`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compatible {
    pub changes: Vec<Difference>,
}

impl Compatible {
    pub fn is_unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The agent must not start under its checkpointed identity. Renders as
/// Mesos's "Incompatible agent info detected." with every difference and
/// the remedy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct IncompatibleAgentInfo {
    pub policy: ReconfigurationPolicy,
    /// Every difference, allowed or not, in the order: hostname, port,
    /// domain, resources, attributes.
    pub differences: Vec<Difference>,
    /// The `meta/agents/latest` file to name in the remedy; set by whoever
    /// knows the work dir ([`IncompatibleAgentInfo::in_work_dir`]).
    pub latest_path: Option<PathBuf>,
}

impl IncompatibleAgentInfo {
    /// The differences the policy refuses (at least one).
    pub fn refused(&self) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(|d| !d.allowed_under(self.policy))
    }

    /// Whether restarting with `--reconfiguration-policy=additive` would
    /// let every difference through.
    pub fn additive_would_allow(&self) -> bool {
        self.policy == ReconfigurationPolicy::Equal
            && self
                .differences
                .iter()
                .all(Difference::allowed_under_additive)
    }

    /// Names `<work_dir>/meta/agents/latest` in the remedy.
    pub fn in_work_dir(mut self, work_dir: &Path) -> Self {
        self.latest_path = Some(crate::checkpoint::WorkDir::new(work_dir).latest_path());
        self
    }
}

const RULE: &str = "------------------------------------------------------------";

impl fmt::Display for IncompatibleAgentInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Incompatible agent info detected.")?;
        writeln!(f, "{RULE}")?;
        writeln!(
            f,
            "The agent info given by the flags differs from the checkpointed one \
             (--reconfiguration-policy={}):",
            self.policy
        )?;
        for difference in &self.differences {
            let note = if difference.allowed_under(self.policy) {
                " (allowed)"
            } else if self.policy == ReconfigurationPolicy::Additive {
                " (not allowed under additive)"
            } else {
                ""
            };
            writeln!(f, "  - {difference}{note}")?;
        }
        writeln!(f, "{RULE}")?;
        writeln!(f, "To remedy this do one of the following:")?;
        if self.additive_would_allow() {
            writeln!(
                f,
                "  - restart with --reconfiguration-policy=additive, which allows these \
                 changes and keeps the agent id and its tasks;"
            )?;
        }
        writeln!(f, "  - restart with the previous flags;")?;
        let latest = self
            .latest_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<work_dir>/meta/agents/latest".to_string());
        write!(
            f,
            "  - remove {latest} to start as a new agent with a new id (its running \
             executors are not recovered), then restart."
        )
    }
}

/// Compares the checkpointed agent info with the one the flags give now
/// (ids are ignored). `Ok` when `policy` allows every difference.
pub fn check(
    previous: &AgentInfo,
    current: &AgentInfo,
    policy: ReconfigurationPolicy,
) -> Result<Compatible, IncompatibleAgentInfo> {
    let differences = differences(previous, current);
    if differences.iter().all(|d| d.allowed_under(policy)) {
        Ok(Compatible {
            changes: differences,
        })
    } else {
        Err(IncompatibleAgentInfo {
            policy,
            differences,
            latest_path: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::parse_attributes;
    use crate::resources::parse_resources;
    use mesoraft_proto::mesos::v1::domain_info::fault_domain::{RegionInfo, ZoneInfo};
    use mesoraft_proto::mesos::v1::domain_info::FaultDomain;
    use mesoraft_proto::mesos::v1::{AgentId, DomainInfo};

    use ReconfigurationPolicy::{Additive, Equal};

    fn info(hostname: &str, port: i32, resources: &str, attributes: &str) -> AgentInfo {
        AgentInfo {
            hostname: hostname.into(),
            port: Some(port),
            resources: parse_resources(resources).unwrap(),
            attributes: parse_attributes(attributes).unwrap(),
            id: None,
            domain: None,
        }
    }

    fn base() -> AgentInfo {
        info(
            "a1",
            5051,
            "cpus:4;mem:4096;ports:[31000-32000];gpus:{g0,g1}",
            "rack:r1;zone:a",
        )
    }

    fn domain(region: &str, zone: &str) -> DomainInfo {
        DomainInfo {
            fault_domain: Some(FaultDomain {
                region: RegionInfo {
                    name: region.into(),
                },
                zone: ZoneInfo { name: zone.into() },
            }),
        }
    }

    #[test]
    fn the_same_info_in_another_order_is_unchanged_under_both_policies() {
        let reordered = info(
            "a1",
            5051,
            "gpus:{g1,g0};ports:[31000-31500,31501-32000];mem:4096;cpus:4",
            "zone:a;rack:r1",
        );
        let mut with_id = base();
        with_id.id = Some(AgentId {
            value: "c-S1".into(),
        });
        for policy in [Equal, Additive] {
            assert_eq!(
                check(&with_id, &reordered, policy),
                Ok(Compatible::default())
            );
        }
    }

    #[test]
    fn growth_passes_additive_and_is_reported_as_the_changes() {
        let grown = info(
            "a1",
            5051,
            "cpus:8;mem:4096;ports:[30000-32000];gpus:{g0,g1,g2};disk:100",
            "rack:r1;zone:a;level:3",
        );
        let compatible = check(&base(), &grown, Additive).unwrap();
        let rendered: Vec<String> = compatible.changes.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            rendered,
            [
                "resource cpus:4 grew to cpus:8",
                "resource ports:[31000-32000] grew to ports:[30000-32000]",
                "resource gpus:{g0, g1} grew to gpus:{g0, g1, g2}",
                "resource disk:100 added",
                "attribute level:3 added",
            ]
        );
        let refused = check(&base(), &grown, Equal).unwrap_err();
        assert_eq!(refused.differences, compatible.changes);
        assert!(refused.additive_would_allow());
        let message = refused.to_string();
        assert!(
            message.starts_with("Incompatible agent info detected.\n"),
            "{message}"
        );
        assert!(
            message.contains("--reconfiguration-policy=additive"),
            "{message}"
        );
    }

    #[test]
    fn additive_refuses_identity_changes_shrinking_and_removal_listing_all() {
        let mut changed = info(
            "a2",
            5052,
            "cpus:2;ports:[32000-33000];gpus:{g0}",
            "rack:r2;level:1",
        );
        changed.domain = Some(domain("eu", "eu-1"));
        let err = check(&base(), &changed, Additive).unwrap_err();
        let rendered: Vec<String> = err.differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            rendered,
            [
                "hostname changed from \"a1\" to \"a2\"",
                "port changed from 5051 to 5052",
                "domain changed from none to region \"eu\" zone \"eu-1\"",
                "resource cpus:4 shrank to cpus:2",
                "resource mem:4096 removed",
                "resource ports:[31000-32000] changed to ports:[32000-33000]",
                "resource gpus:{g0, g1} shrank to gpus:{g0}",
                "attribute rack:r1 changed to rack:r2",
                "attribute zone:a removed",
                "attribute level:1 added",
            ]
        );
        assert_eq!(err.refused().count(), rendered.len() - 1);
        assert!(!err.additive_would_allow());
        let message = err.in_work_dir(Path::new("/var/lib/agent")).to_string();
        assert!(
            message.contains("remove /var/lib/agent/meta/agents/latest"),
            "{message}"
        );
        assert!(
            !message.contains("restart with --reconfiguration-policy=additive"),
            "{message}"
        );
        assert!(
            message.contains("attribute level:1 added (allowed)"),
            "{message}"
        );
        assert!(
            message.contains("(not allowed under additive)"),
            "{message}"
        );
    }

    #[test]
    fn each_single_change_under_each_policy() {
        const R: &str = "cpus:4;mem:4096;ports:[31000-32000];gpus:{g0,g1}";
        const A: &str = "rack:r1;zone:a";
        // (what changes, the new info, allowed under additive)
        let cases = [
            ("hostname", info("b", 5051, R, A), false),
            ("port", info("a1", 1, R, A), false),
            (
                "scalar up",
                info("a1", 5051, &R.replace("cpus:4", "cpus:4.5"), A),
                true,
            ),
            (
                "scalar down",
                info("a1", 5051, &R.replace("cpus:4", "cpus:3.999"), A),
                false,
            ),
            (
                "role moved",
                info("a1", 5051, &R.replace("cpus", "cpus(ops)"), A),
                false,
            ),
            (
                "type changed",
                info("a1", 5051, &R.replace("{g0,g1}", "2"), A),
                false,
            ),
            (
                "new reserved",
                info("a1", 5051, &format!("{R};cpus(ops):1"), A),
                true,
            ),
            (
                "attribute added",
                info("a1", 5051, R, &format!("{A};t:{{x,y}}")),
                true,
            ),
        ];
        for (what, current, additive_ok) in cases {
            assert!(
                check(&base(), &current, Equal).is_err(),
                "{what} under equal"
            );
            assert_eq!(
                check(&base(), &current, Additive).is_ok(),
                additive_ok,
                "{what} under additive"
            );
        }
        let mut with_domain = base();
        with_domain.domain = Some(domain("eu", "eu-1"));
        let mut moved = base();
        moved.domain = Some(domain("eu", "eu-2"));
        assert!(check(&with_domain, &moved, Additive).is_err());
        assert!(check(&with_domain, &base(), Additive).is_err());
    }
}
