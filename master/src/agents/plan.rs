//! What a re-registration needs, decided from what the leader knows of the
//! agent (SPEC 2 and 3): nothing written when an admitted agent comes back
//! unchanged (MESOS-7711: a failover must not cost one registry write per
//! agent), UpdateAgent when its info changed (the agent's info wins),
//! MarkReachable when it was unreachable or pruned, a refusal when it was
//! marked gone or belongs to another cluster.

use mesoraft_proto::mesos::v1::AgentInfo;
use mesoraft_registry::Command;

/// The leader's knowledge of an agent id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Known<'a> {
    /// Admitted, with the info the leader holds.
    Admitted(&'a AgentInfo),
    /// A registry command about it is in flight.
    Busy,
    Unreachable,
    Gone,
    /// Never seen, or pruned from the unreachable and gone lists.
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per re-registration, moved once
pub enum Reregistration {
    /// Registered again as it is: no registry write.
    Accept,
    /// Registered once this command is applied.
    Write(Command),
    /// Try again later (the agent's backoff does).
    Busy,
    /// Shut the agent down with this message.
    Refuse(String),
}

/// The message a gone agent gets (SPEC 3); the agent prints it on exit.
pub const MARKED_GONE: &str = "Agent has been marked gone";

pub fn reregistration(
    cluster_id: &str,
    agent_id: &str,
    known: Known<'_>,
    info: &AgentInfo,
) -> Reregistration {
    match known {
        Known::Admitted(held) if held == info => Reregistration::Accept,
        Known::Admitted(_) => Reregistration::Write(Command::UpdateAgent { info: info.clone() }),
        Known::Busy => Reregistration::Busy,
        Known::Gone => Reregistration::Refuse(format!(
            "{MARKED_GONE}; it may register again only as a new agent \
             (remove meta/agents/latest from its work dir)"
        )),
        Known::Unreachable => Reregistration::Write(Command::MarkReachable { info: info.clone() }),
        Known::Unknown if !belongs_to(cluster_id, agent_id) => Reregistration::Refuse(format!(
            "Agent {agent_id} was not admitted by this cluster ({cluster_id}); \
             remove meta/agents/latest from its work dir to register as a new agent"
        )),
        Known::Unknown => Reregistration::Write(Command::MarkReachable { info: info.clone() }),
    }
}

/// Agent ids this cluster hands out are `<cluster_id>-S<n>`.
fn belongs_to(cluster_id: &str, agent_id: &str) -> bool {
    agent_id
        .strip_prefix(cluster_id)
        .and_then(|rest| rest.strip_prefix("-S"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::AgentId;

    fn info(id: &str, hostname: &str) -> AgentInfo {
        AgentInfo {
            hostname: hostname.into(),
            id: Some(AgentId { value: id.into() }),
            ..Default::default()
        }
    }

    #[test]
    fn each_kind_of_knowledge_gets_its_answer() {
        let same = info("c-S1", "h");
        let moved = info("c-S1", "h2");
        let cases: Vec<(Known<'_>, &str, Reregistration)> = vec![
            (Known::Admitted(&same), "c-S1", Reregistration::Accept),
            (
                Known::Admitted(&moved),
                "c-S1",
                Reregistration::Write(Command::UpdateAgent { info: same.clone() }),
            ),
            (Known::Busy, "c-S1", Reregistration::Busy),
            (
                Known::Unreachable,
                "c-S1",
                Reregistration::Write(Command::MarkReachable { info: same.clone() }),
            ),
            (
                Known::Unknown,
                "c-S1",
                Reregistration::Write(Command::MarkReachable { info: same.clone() }),
            ),
        ];
        for (known, id, want) in cases {
            assert_eq!(reregistration("c", id, known, &same), want, "{known:?}");
        }
        let Reregistration::Refuse(why) = reregistration("c", "c-S1", Known::Gone, &same) else {
            panic!("a gone agent must be refused");
        };
        assert!(why.starts_with(MARKED_GONE), "{why}");
    }

    #[test]
    fn an_unknown_id_of_another_cluster_is_refused() {
        for foreign in ["d-S1", "c-S", "c-Sx", "cc-S1", "c-F1"] {
            let got = reregistration("c", foreign, Known::Unknown, &info(foreign, "h"));
            assert!(
                matches!(got, Reregistration::Refuse(_)),
                "{foreign}: {got:?}"
            );
        }
    }
}
