//! What the agent does with each message of the leading master, decided
//! without I/O: answer pings (re-registering when the master says it does
//! not consider the agent registered), take its id, shut down, or hand
//! the message to the runtime (tasks, kills, acknowledgements, framework
//! messages).

use std::time::Duration;

use mesoraft_proto::agent::{
    agent_to_master, master_to_agent, PongSlaveMessage, RegisterSlaveMessage,
    ReregisterSlaveMessage,
};
use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

use crate::driver::Reregistration;

/// The version the agent reports in (re-)registrations.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// Send these, in order.
    Reply(Vec<agent_to_master::Message>),
    /// Answer the ping, then register again (with what the agent runs).
    RegisterAgain,
    /// The master (re-)registered the agent under `agent_id`; expect a
    /// ping at least every `total_ping_timeout`.
    Registered {
        agent_id: AgentId,
        total_ping_timeout: Option<Duration>,
    },
    /// The master ordered the agent to stop, saying why.
    Shutdown(String),
    /// For the runtime: about tasks, executors or status updates.
    Forward(Box<master_to_agent::Message>),
    /// Nothing to do (with why, for the log).
    Ignore(&'static str),
}

/// The registration message that fits what the agent knows: a first
/// registration without an id, a re-registration with one, carrying the
/// agent's tasks, executors and frameworks.
pub fn hello(info: &AgentInfo, running: Reregistration) -> agent_to_master::Message {
    match info.id {
        None => agent_to_master::Message::RegisterSlave(RegisterSlaveMessage {
            slave: info.clone(),
            version: Some(VERSION.into()),
        }),
        Some(_) => agent_to_master::Message::ReregisterSlave(ReregisterSlaveMessage {
            slave: info.clone(),
            tasks: running.tasks,
            executor_infos: running.executor_infos,
            version: Some(VERSION.into()),
            frameworks: running.frameworks,
        }),
    }
}

pub fn react(message: master_to_agent::Message) -> Reaction {
    use master_to_agent::Message as M;
    match message {
        M::Ping(ping) if ping.connected => Reaction::Reply(vec![pong()]),
        // One-way partition healed, or marked unreachable meanwhile: the
        // master no longer counts this agent; register again.
        M::Ping(_) => Reaction::RegisterAgain,
        M::SlaveRegistered(m) => registered(m.slave_id, m.connection),
        M::SlaveReregistered(m) => registered(m.slave_id, m.connection),
        M::Shutdown(m) => Reaction::Shutdown(
            m.message
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "the master asked the agent to shut down".into()),
        ),
        message @ (M::RunTask(_)
        | M::RunTaskGroup(_)
        | M::KillTask(_)
        | M::ShutdownFramework(_)
        | M::ShutdownExecutor(_)
        | M::StatusUpdateAcknowledgement(_)
        | M::FrameworkToExecutor(_)) => Reaction::Forward(Box::new(message)),
    }
}

/// The messages the agent sends after answering a ping with
/// `connected = false`.
pub fn register_again(info: &AgentInfo, running: Reregistration) -> Vec<agent_to_master::Message> {
    vec![pong(), hello(info, running)]
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
        assert_eq!(react(ping(true)), Reaction::Reply(vec![pong()]));
        assert_eq!(react(ping(false)), Reaction::RegisterAgain);
        let replies = register_again(&info(Some("c-S1")), Reregistration::default());
        assert!(matches!(
            replies[..],
            [
                agent_to_master::Message::Pong(_),
                agent_to_master::Message::ReregisterSlave(_)
            ]
        ));
        let replies = register_again(&info(None), Reregistration::default());
        assert!(matches!(
            replies[1],
            agent_to_master::Message::RegisterSlave(_)
        ));
    }

    #[test]
    fn task_messages_go_to_the_runtime() {
        use mesoraft_proto::agent::KillTaskMessage;
        let kill = master_to_agent::Message::KillTask(KillTaskMessage::default());
        assert_eq!(react(kill.clone()), Reaction::Forward(Box::new(kill)));
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
            react(msg(75.0)),
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
            } = react(msg(bad))
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
            react(msg(Some("Agent has been marked gone"))),
            Reaction::Shutdown("Agent has been marked gone".into())
        );
        assert!(matches!(react(msg(None)), Reaction::Shutdown(t) if !t.is_empty()));
    }

    #[test]
    fn hello_fits_what_the_agent_knows_and_carries_what_it_runs() {
        assert!(matches!(
            hello(&info(None), Reregistration::default()),
            agent_to_master::Message::RegisterSlave(_)
        ));
        let running = Reregistration {
            tasks: vec![mesoraft_proto::mesos::v1::Task::default()],
            executor_infos: vec![Default::default()],
            frameworks: vec![Default::default(), Default::default()],
        };
        let agent_to_master::Message::ReregisterSlave(m) = hello(&info(Some("c-S1")), running)
        else {
            panic!("a re-registration");
        };
        assert_eq!(
            (m.tasks.len(), m.executor_infos.len(), m.frameworks.len()),
            (1, 1, 2)
        );
    }
}
