//! What the agent does with each message of the leading master, decided
//! without I/O: answer pings (re-registering when the master says it does
//! not consider the agent registered), take its id, or shut down.

use std::time::Duration;

use mesoraft_proto::agent::{
    agent_to_master, master_to_agent, PongSlaveMessage, RegisterSlaveMessage,
    ReregisterSlaveMessage,
};
use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

/// The version the agent reports in (re-)registrations.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// Send these, in order.
    Reply(Vec<agent_to_master::Message>),
    /// The master (re-)registered the agent under `agent_id`; expect a
    /// ping at least every `total_ping_timeout`.
    Registered {
        agent_id: AgentId,
        total_ping_timeout: Option<Duration>,
    },
    /// The master ordered the agent to stop, saying why.
    Shutdown(String),
    /// Nothing to do (with why, for the log).
    Ignore(&'static str),
}

/// The registration message that fits what the agent knows: a first
/// registration without an id, a re-registration with one.
pub fn hello(info: &AgentInfo) -> agent_to_master::Message {
    match info.id {
        None => agent_to_master::Message::RegisterSlave(RegisterSlaveMessage {
            slave: info.clone(),
            version: Some(VERSION.into()),
        }),
        Some(_) => agent_to_master::Message::ReregisterSlave(ReregisterSlaveMessage {
            slave: info.clone(),
            version: Some(VERSION.into()),
            ..Default::default()
        }),
    }
}

/// `info` is the agent's info, with its id once it has one.
pub fn react(info: &AgentInfo, message: master_to_agent::Message) -> Reaction {
    use master_to_agent::Message as M;
    match message {
        M::Ping(ping) if ping.connected => Reaction::Reply(vec![pong()]),
        // One-way partition healed, or marked unreachable meanwhile: the
        // master no longer counts this agent; register again.
        M::Ping(_) => Reaction::Reply(vec![pong(), hello(info)]),
        M::SlaveRegistered(m) => registered(m.slave_id, m.connection),
        M::SlaveReregistered(m) => registered(m.slave_id, m.connection),
        M::Shutdown(m) => Reaction::Shutdown(
            m.message
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "the master asked the agent to shut down".into()),
        ),
        M::RunTask(_) | M::RunTaskGroup(_) | M::KillTask(_) | M::ShutdownFramework(_) => {
            Reaction::Ignore("this agent does not run tasks yet")
        }
        M::StatusUpdateAcknowledgement(_) | M::FrameworkToExecutor(_) => {
            Reaction::Ignore("this agent has no executors yet")
        }
    }
}

fn pong() -> agent_to_master::Message {
    agent_to_master::Message::Pong(PongSlaveMessage {})
}

fn registered(
    agent_id: AgentId,
    connection: Option<mesoraft_proto::agent::MasterSlaveConnection>,
) -> Reaction {
    let total_ping_timeout = connection
        .and_then(|c| c.total_ping_timeout_seconds)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
    Reaction::Registered {
        agent_id,
        total_ping_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::agent::{
        MasterSlaveConnection, PingSlaveMessage, ShutdownMessage, SlaveRegisteredMessage,
    };

    fn info(id: Option<&str>) -> AgentInfo {
        AgentInfo {
            hostname: "h".into(),
            id: id.map(|v| AgentId { value: v.into() }),
            ..Default::default()
        }
    }

    #[test]
    fn a_ping_is_answered_and_a_not_connected_ping_makes_the_agent_register_again() {
        let ping = |connected| master_to_agent::Message::Ping(PingSlaveMessage { connected });
        assert_eq!(
            react(&info(Some("c-S1")), ping(true)),
            Reaction::Reply(vec![pong()])
        );
        let Reaction::Reply(replies) = react(&info(Some("c-S1")), ping(false)) else {
            panic!("expected replies");
        };
        assert!(matches!(
            replies[..],
            [
                agent_to_master::Message::Pong(_),
                agent_to_master::Message::ReregisterSlave(_)
            ]
        ));
        let Reaction::Reply(replies) = react(&info(None), ping(false)) else {
            panic!("expected replies");
        };
        assert!(matches!(
            replies[1],
            agent_to_master::Message::RegisterSlave(_)
        ));
    }

    #[test]
    fn registration_carries_the_ping_budget_and_nonsense_budgets_are_dropped() {
        let msg = |secs| {
            master_to_agent::Message::SlaveRegistered(SlaveRegisteredMessage {
                slave_id: AgentId {
                    value: "c-S1".into(),
                },
                connection: Some(MasterSlaveConnection {
                    total_ping_timeout_seconds: Some(secs),
                }),
            })
        };
        assert_eq!(
            react(&info(None), msg(75.0)),
            Reaction::Registered {
                agent_id: AgentId {
                    value: "c-S1".into()
                },
                total_ping_timeout: Some(Duration::from_secs(75)),
            }
        );
        for bad in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let Reaction::Registered {
                total_ping_timeout, ..
            } = react(&info(None), msg(bad))
            else {
                panic!("expected Registered");
            };
            assert_eq!(total_ping_timeout, None, "{bad}");
        }
    }

    #[test]
    fn a_shutdown_says_why() {
        let msg = |text: Option<&str>| {
            master_to_agent::Message::Shutdown(ShutdownMessage {
                message: text.map(str::to_string),
            })
        };
        assert_eq!(
            react(&info(None), msg(Some("Agent has been marked gone"))),
            Reaction::Shutdown("Agent has been marked gone".into())
        );
        assert!(matches!(react(&info(None), msg(None)), Reaction::Shutdown(t) if !t.is_empty()));
    }

    #[test]
    fn hello_fits_what_the_agent_knows() {
        assert!(matches!(
            hello(&info(None)),
            agent_to_master::Message::RegisterSlave(_)
        ));
        assert!(matches!(
            hello(&info(Some("c-S1"))),
            agent_to_master::Message::ReregisterSlave(_)
        ));
    }
}
