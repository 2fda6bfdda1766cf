//! What the operator endpoints show of the agents, as plain values built
//! from the leader's [`AgentsView`]: Mesos's v1 `GET_AGENTS` answer
//! ([`v1`]), the v0 `/master/slaves` and `/master/state` documents ([`v0`],
//! with Mesos's resource [`model`]). Pure, but for [`read`], which
//! fetches the view on a confirmed leader: the HTTP handlers read, call
//! these and send the result.

pub mod model;
pub mod read;
pub mod v0;
pub mod v1;

use mesoraft_proto::mesos::v1::AgentInfo;

use crate::driver::{AgentRow, AgentRowState};

/// Where an agent of the view is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Registered with this leader; `active` while its session is open.
    Registered { active: bool },
    /// Admitted before this term and not back yet.
    Recovered,
}

/// An agent whose registry change is being written is listed where it
/// was: registered if it registered in this term, else recovered.
pub fn listing(row: &AgentRow) -> Listing {
    match row.state {
        AgentRowState::Active => Listing::Registered { active: true },
        AgentRowState::Disconnected => Listing::Registered { active: false },
        AgentRowState::Recovered => Listing::Recovered,
        AgentRowState::Changing if row.registration.is_some() => {
            Listing::Registered { active: false }
        }
        AgentRowState::Changing => Listing::Recovered,
    }
}

/// The libprocess pid Mesos shows for an agent (`slave(1)@host:port`).
pub fn agent_pid(info: &AgentInfo) -> String {
    format!("slave(1)@{}:{}", info.hostname, info.port())
}

#[cfg(test)]
pub(crate) mod fixtures {
    use mesoraft_proto::mesos::v1::value::{Range, Ranges, Scalar, Text};
    use mesoraft_proto::mesos::v1::{value, AgentId, Attribute, Resource};

    use super::*;
    use crate::agents::registrations::Registration;
    use crate::driver::AgentsView;

    pub fn info(id: &str, hostname: &str) -> AgentInfo {
        AgentInfo {
            hostname: hostname.into(),
            port: Some(5051),
            id: Some(AgentId { value: id.into() }),
            resources: vec![
                Resource {
                    name: "cpus".into(),
                    r#type: value::Type::Scalar as i32,
                    scalar: Some(Scalar { value: 4.0 }),
                    ..Resource::default()
                },
                Resource {
                    name: "ports".into(),
                    r#type: value::Type::Ranges as i32,
                    ranges: Some(Ranges {
                        range: vec![Range {
                            begin: 31000,
                            end: 32000,
                        }],
                    }),
                    ..Resource::default()
                },
            ],
            attributes: vec![Attribute {
                name: "rack".into(),
                r#type: value::Type::Text as i32,
                text: Some(Text { value: "r1".into() }),
                ..Attribute::default()
            }],
            ..AgentInfo::default()
        }
    }

    fn row(id: &str, state: AgentRowState, registration: Option<Registration>) -> AgentRow {
        AgentRow {
            info: info(id, &format!("host-{id}")),
            state,
            registration,
            allocated: Vec::new(),
            offered: Vec::new(),
        }
    }

    /// One agent in each state: S1 active (re-registered after the
    /// failover), S2 disconnected, S3 recovered, S4 being written before
    /// it came back; S5 unreachable.
    pub fn view() -> AgentsView {
        let registered = |version: &str| Registration {
            registered_ns: 1_700_000_000_500_000_000,
            reregistered_ns: Some(1_700_000_000_500_000_000),
            version: Some(version.into()),
        };
        AgentsView {
            agents: vec![
                row("S1", AgentRowState::Active, Some(registered("0.1.0"))),
                row(
                    "S2",
                    AgentRowState::Disconnected,
                    Some(Registration {
                        registered_ns: 1_700_000_001_000_000_000,
                        reregistered_ns: None,
                        version: None,
                    }),
                ),
                row("S3", AgentRowState::Recovered, None),
                row("S4", AgentRowState::Changing, None),
            ],
            unreachable: vec![("S5".into(), 1_700_000_002_000_000_000)],
            gone: vec![("S6".into(), 1)],
            counts: Default::default(),
        }
    }
}
