//! When each agent registered with this leader, and the version it
//! announced: what the operator views show (`registered_time`,
//! `reregistered_time`, `version`) and the session table does not need.
//!
//! Read off the table's actions rather than kept in the table: an agent is
//! registered exactly when the table answers it `SlaveRegistered` or
//! `SlaveReregistered`. Pure; the driver feeds it.

use std::collections::HashMap;

use mesoraft_proto::agent::master_to_agent;
use mesoraft_registry::TimeNs;

use super::table::{Action, SessionId};

/// One agent's registration with this leader (this term).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    /// When it first registered (or re-registered) with this leader.
    pub registered_ns: TimeNs,
    /// When it last re-registered with this leader, if it did.
    pub reregistered_ns: Option<TimeNs>,
    /// The version its latest (re-)registration announced.
    pub version: Option<String>,
}

#[derive(Debug, Default)]
pub struct Registrations {
    by_agent: HashMap<String, Registration>,
    /// The version each open session announced in its (re-)registration.
    announced: HashMap<SessionId, Option<String>>,
}

impl Registrations {
    /// A session sent RegisterSlave or ReregisterSlave with `version`.
    pub fn announced(&mut self, session: SessionId, version: Option<String>) {
        self.announced.insert(session, version);
    }

    pub fn closed(&mut self, session: SessionId) {
        self.announced.remove(&session);
    }

    /// Records the registrations `actions` answer, at `now_ns`.
    pub fn observe(&mut self, actions: &[Action], now_ns: TimeNs) {
        for action in actions {
            let Action::Send { session, message } = action else {
                continue;
            };
            let (agent_id, again) = match message {
                master_to_agent::Message::SlaveRegistered(m) => (&m.slave_id.value, false),
                master_to_agent::Message::SlaveReregistered(m) => (&m.slave_id.value, true),
                _ => continue,
            };
            let version = self.announced.get(session).cloned().flatten();
            let entry = self
                .by_agent
                .entry(agent_id.clone())
                .or_insert_with(|| Registration {
                    registered_ns: now_ns,
                    ..Registration::default()
                });
            if again {
                entry.reregistered_ns = Some(now_ns);
            }
            if version.is_some() {
                entry.version = version;
            }
        }
    }

    pub fn get(&self, agent_id: &str) -> Option<&Registration> {
        self.by_agent.get(agent_id)
    }

    pub fn len(&self) -> usize {
        self.by_agent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_agent.is_empty()
    }

    /// Forgets the agents `keep` rejects (gone, unreachable, removed).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.by_agent.retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::agent::{
        PingSlaveMessage, SlaveRegisteredMessage, SlaveReregisteredMessage,
    };
    use mesoraft_proto::mesos::v1::AgentId;

    use super::*;

    fn send(session: SessionId, message: master_to_agent::Message) -> Action {
        Action::Send { session, message }
    }

    fn registered(id: &str) -> master_to_agent::Message {
        master_to_agent::Message::SlaveRegistered(SlaveRegisteredMessage {
            slave_id: AgentId { value: id.into() },
            connection: None,
        })
    }

    fn reregistered(id: &str) -> master_to_agent::Message {
        master_to_agent::Message::SlaveReregistered(SlaveReregisteredMessage {
            slave_id: AgentId { value: id.into() },
            connection: None,
        })
    }

    #[test]
    fn a_first_registration_sets_the_registered_time_and_version() {
        let mut r = Registrations::default();
        r.announced(1, Some("1.2.0".into()));
        r.observe(&[send(1, registered("S1"))], 100);
        assert_eq!(
            r.get("S1"),
            Some(&Registration {
                registered_ns: 100,
                reregistered_ns: None,
                version: Some("1.2.0".into())
            })
        );
    }

    #[test]
    fn a_reregistration_keeps_the_first_time_and_sets_the_latest() {
        let mut r = Registrations::default();
        // After a failover the first answer is a re-registration: both
        // times are set, as Mesos does.
        r.observe(&[send(1, reregistered("S1"))], 100);
        assert_eq!(r.get("S1").unwrap().registered_ns, 100);
        assert_eq!(r.get("S1").unwrap().reregistered_ns, Some(100));
        r.closed(1);
        r.announced(2, Some("1.3.0".into()));
        r.observe(
            &[
                send(
                    2,
                    master_to_agent::Message::Ping(PingSlaveMessage { connected: true }),
                ),
                send(2, reregistered("S1")),
            ],
            250,
        );
        let s1 = r.get("S1").unwrap();
        assert_eq!((s1.registered_ns, s1.reregistered_ns), (100, Some(250)));
        assert_eq!(s1.version.as_deref(), Some("1.3.0"));
    }

    #[test]
    fn other_actions_record_nothing_and_retain_forgets() {
        let mut r = Registrations::default();
        r.observe(
            &[
                Action::Close { session: 1 },
                send(
                    1,
                    master_to_agent::Message::Ping(PingSlaveMessage { connected: false }),
                ),
            ],
            5,
        );
        assert!(r.is_empty());
        r.observe(&[send(1, registered("S1")), send(2, registered("S2"))], 5);
        r.retain(|id| id == "S2");
        assert_eq!(r.len(), 1);
        assert!(r.get("S1").is_none());
    }
}
