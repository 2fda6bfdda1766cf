//! The events a program receives: the master's events, unpacked, and the
//! scheduler's own (disconnected, stopped). Reading a master event into
//! what the driver does with it is pure ([`Incoming::of`]).

use std::time::Duration;

use mesoraft_proto::mesos::v1::scheduler::{event, Event};
use mesoraft_proto::mesos::v1::{
    AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, TaskStatus,
};

use crate::error::StopReason;

/// What the scheduler hands the program, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerEvent {
    /// Subscribed (again) to the leader at `master`. Offers held from
    /// before are void; reconciliation has started.
    Subscribed {
        framework_id: FrameworkId,
        master: String,
        heartbeat_interval: Duration,
        master_info: Option<MasterInfo>,
    },
    Offers(Vec<Offer>),
    /// The offer is void: accepting it would fail.
    Rescind(OfferId),
    /// A task's status. One with a `uuid` is acknowledged after it was
    /// handed over (with automatic acknowledgements; see the crate docs).
    Update(TaskStatus),
    /// Data from an executor (at most once).
    Message {
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    },
    /// An agent was removed, or an executor ended (with its exit status).
    Failure {
        agent_id: Option<AgentId>,
        executor_id: Option<ExecutorId>,
        status: Option<i32>,
    },
    /// Any other master event (inverse offers, operation updates, types
    /// this side does not know), as received.
    Other(Box<Event>),
    /// The stream to the leader is gone; the scheduler is subscribing
    /// again. Calls fail with `NotSubscribed` until the next `Subscribed`.
    Disconnected {
        reason: String,
    },
    /// The last event: the scheduler stopped for good.
    Stopped(StopReason),
}

/// What one master event means to the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Subscribed {
        framework_id: FrameworkId,
        heartbeat_interval: Duration,
        master_info: Option<MasterInfo>,
    },
    Update(TaskStatus),
    Heartbeat,
    /// The end: ERROR.
    Final(StopReason),
    /// For the program as is.
    Pass(SchedulerEvent),
}

/// The master's message for a framework id it has removed.
const REMOVED: &str = "Framework has been removed";

/// Mesos's default heartbeat interval, for a SUBSCRIBED without one.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

impl Incoming {
    pub fn of(event: Event) -> Incoming {
        use event::Type;
        match (event.r#type(), event) {
            (
                Type::Subscribed,
                Event {
                    subscribed: Some(s),
                    ..
                },
            ) => Incoming::Subscribed {
                framework_id: s.framework_id,
                heartbeat_interval: heartbeat(s.heartbeat_interval_seconds),
                master_info: s.master_info,
            },
            (
                Type::Update,
                Event {
                    update: Some(u), ..
                },
            ) => Incoming::Update(u.status),
            (Type::Heartbeat, _) => Incoming::Heartbeat,
            (Type::Error, Event { error, .. }) => {
                let message = error.map(|e| e.message).unwrap_or_default();
                Incoming::Final(if message.contains(REMOVED) {
                    StopReason::Removed(message)
                } else {
                    StopReason::MasterError(message)
                })
            }
            (
                Type::Offers,
                Event {
                    offers: Some(o), ..
                },
            ) => Incoming::Pass(SchedulerEvent::Offers(o.offers)),
            (
                Type::Rescind,
                Event {
                    rescind: Some(r), ..
                },
            ) => Incoming::Pass(SchedulerEvent::Rescind(r.offer_id)),
            (
                Type::Message,
                Event {
                    message: Some(m), ..
                },
            ) => Incoming::Pass(SchedulerEvent::Message {
                agent_id: m.agent_id,
                executor_id: m.executor_id,
                data: m.data,
            }),
            (
                Type::Failure,
                Event {
                    failure: Some(f), ..
                },
            ) => Incoming::Pass(SchedulerEvent::Failure {
                agent_id: f.agent_id,
                executor_id: f.executor_id,
                status: f.status,
            }),
            (_, other) => Incoming::Pass(SchedulerEvent::Other(Box::new(other))),
        }
    }
}

/// The interval a SUBSCRIBED announces, kept within sane bounds: a master
/// saying 0, NaN or a year must not make the scheduler reconnect in a
/// loop or never notice a dead stream.
fn heartbeat(seconds: Option<f64>) -> Duration {
    match seconds {
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s.clamp(0.1, 3600.0)),
        _ => DEFAULT_HEARTBEAT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::json::from_json_slice;

    fn incoming(json: &str) -> Incoming {
        Incoming::of(from_json_slice::<Event>(json.as_bytes()).unwrap())
    }

    #[test]
    fn subscribed_carries_the_id_and_a_sane_heartbeat() {
        let e = incoming(
            r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f1"},"heartbeat_interval_seconds":2}}"#,
        );
        assert_eq!(
            e,
            Incoming::Subscribed {
                framework_id: FrameworkId { value: "f1".into() },
                heartbeat_interval: Duration::from_secs(2),
                master_info: None,
            }
        );
        assert_eq!(heartbeat(None), DEFAULT_HEARTBEAT);
        assert_eq!(heartbeat(Some(f64::NAN)), DEFAULT_HEARTBEAT);
        assert_eq!(heartbeat(Some(0.0)), DEFAULT_HEARTBEAT);
        assert_eq!(heartbeat(Some(1e12)), Duration::from_secs(3600));
    }

    #[test]
    fn removal_is_told_apart_from_other_errors() {
        let removed =
            incoming(r#"{"type":"ERROR","error":{"message":"Framework has been removed"}}"#);
        assert!(matches!(removed, Incoming::Final(StopReason::Removed(_))));
        let failover = incoming(r#"{"type":"ERROR","error":{"message":"Framework failed over"}}"#);
        assert!(matches!(
            failover,
            Incoming::Final(StopReason::MasterError(_))
        ));
    }

    #[test]
    fn other_events_pass_through() {
        assert_eq!(incoming(r#"{"type":"HEARTBEAT"}"#), Incoming::Heartbeat);
        let rescind = incoming(r#"{"type":"RESCIND","rescind":{"offer_id":{"value":"o1"}}}"#);
        assert_eq!(
            rescind,
            Incoming::Pass(SchedulerEvent::Rescind(OfferId { value: "o1".into() }))
        );
        // A type this side does not know parses as UNKNOWN and is passed on.
        assert!(matches!(
            incoming(r#"{"type":"SOMETHING_NEW"}"#),
            Incoming::Pass(SchedulerEvent::Other(_))
        ));
        // A type whose body is missing is passed on as is, not dropped.
        assert!(matches!(
            incoming(r#"{"type":"OFFERS"}"#),
            Incoming::Pass(SchedulerEvent::Other(_))
        ));
    }
}
