//! The leader's framework lifecycle as a pure state machine (SPEC 8):
//! `FrameworkTable::step(event, now)` returns the actions to take. It reads
//! no clock and touches no socket; the runtime around it owns the
//! scheduler streams, the registry writer and the ticks.
//!
//! # The model
//!
//! One table lives for one leader term. It starts from the registry's
//! frameworks (built after every entry of earlier terms is applied, i.e.
//! after the leader's blank entry): each is *recovered* with its failover
//! timer re-armed from the registry (Mesos cannot): `failover_timeout`
//! counted from its recorded disconnection time, or, if it was connected
//! when the old leader died, from the term start plus at least
//! [`FrameworkPolicy::recovery_grace`] (a master failover is not the
//! framework's fault: with the default timeout of 0 it would otherwise be
//! removed before it could find the new leader). A recovered framework
//! whose timer has run out is removed on the first tick.
//!
//! A framework is in one [`Presence`] at a time: `Recovered` (from the
//! registry, or learned only from re-registering agents: those have no
//! registry record and no timer), `Subscribing` (a stream waits for its
//! registry write before SUBSCRIBED), `Connected`, `Disconnected` (its
//! failover timer runs), `Removing` (CompleteFramework is being written).
//!
//! Registry writes follow one rule: the table knows what the registry
//! holds for each framework (`Stored`) and what it should hold (derived
//! from the presence and the current info); `sync` proposes the one
//! command that brings the first to the second, at most one write per
//! framework in flight, and again after each outcome. So overlapping
//! changes (a stream closing while its subscription is written, a
//! teardown during an update) need no special cases, and a failed write
//! is simply retried after [`FrameworkPolicy::write_retry_interval`].
//! Answers wait for the registry: SUBSCRIBED (and an UPDATE_FRAMEWORK
//! answer) go out once the registry holds what they acknowledge, and a
//! framework is reported removed only once CompleteFramework applied.
//!
//! # What the runtime does with each action
//!
//! - [`Action::Send`]: encode the [`SchedulerEvent`] (adding
//!   `master_info` to SUBSCRIBED) and write it to the stream.
//! - [`Action::Close`]: end the stream after anything sent before.
//! - [`Action::Propose`]: run the command through the term's writer and
//!   step [`Event::Written`] with its outcome, keeping "certainly not
//!   applied" and "maybe applied" apart.
//! - [`Action::Answer`]: answer the waiting call (TEARDOWN,
//!   UPDATE_FRAMEWORK) as HTTP.
//! - [`Action::FrameworkActivated`] / [`Action::FrameworkUpdated`]: the
//!   allocator adds or updates the framework (roles, capabilities) and
//!   may offer to it; status updates may be forwarded to it.
//! - [`Action::FrameworkDeactivated`]: stop offering to it and rescind its
//!   outstanding offers; its tasks keep running.
//! - [`Action::FrameworkRemoved`]: kill its tasks on the agents, rescind
//!   its offers, drop it from the allocator (the registry has it
//!   completed).
//!
//! The runtime steps [`Event::Tick`] about every
//! [`FrameworkPolicy::tick_interval`] (heartbeats, failover timers and
//! write retries are checked then).

use std::time::Duration;

use mesoraft_proto::mesos::v1::{FrameworkId, FrameworkInfo};
use mesoraft_registry::Command;

pub use crate::agents::table::{Now, WriteOutcome};

mod info;
mod lifecycle;
mod table;
mod timers;
mod views;
mod writes;

pub use info::{failover_timeout, validate_update, InfoError};
pub use table::{Failover, FrameworkEntry, FrameworkTable, Presence, RegistryFrameworks};
pub use views::{CompletedFramework, FrameworkCounts, FrameworkState};

/// One scheduler event stream (a SUBSCRIBE call's response), numbered by
/// the runtime.
pub type StreamId = u64;
/// One registry command in flight, numbered by the table.
pub type WriteId = u64;
/// One call waiting for its answer, numbered by the runtime.
pub type RequestId = u64;

/// The lifecycle's policy values.
#[derive(Clone, Debug)]
pub struct FrameworkPolicy {
    /// HEARTBEAT period on every subscribed stream (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// The least time a framework connected when the previous leader died
    /// gets to re-subscribe (see the module doc).
    pub recovery_grace: Duration,
    /// How long a failed registry write waits before it is tried again.
    pub write_retry_interval: Duration,
    /// How many completed frameworks the operator views keep.
    pub completed_capacity: usize,
    /// How often the runtime should step [`Event::Tick`].
    pub tick_interval: Duration,
}

impl Default for FrameworkPolicy {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            recovery_grace: Duration::from_secs(600),
            write_retry_interval: Duration::from_secs(1),
            completed_capacity: 1_000,
            tick_interval: Duration::from_millis(500),
        }
    }
}

/// What happened.
#[derive(Debug)]
pub enum Event {
    /// SUBSCRIBE on a new stream; `info.id` set means a re-subscription
    /// (failover of the scheduler).
    Subscribe {
        stream: StreamId,
        info: FrameworkInfo,
    },
    /// A subscription stream ended (either side, any reason).
    StreamClosed { stream: StreamId },
    /// TEARDOWN (scheduler or operator).
    Teardown {
        framework_id: String,
        request: RequestId,
    },
    /// UPDATE_FRAMEWORK from the subscribed framework.
    UpdateFramework {
        framework_id: String,
        info: FrameworkInfo,
        request: RequestId,
    },
    /// A re-registering agent runs tasks of this framework.
    Learned { info: FrameworkInfo },
    /// The outcome of a proposed command.
    Written {
        write: WriteId,
        outcome: WriteOutcome,
    },
    /// Time passed.
    Tick,
}

/// The scheduler events the lifecycle sends; the runtime maps them to
/// `mesos.v1.scheduler.Event`.
#[derive(Clone, Debug, PartialEq)]
pub enum SchedulerEvent {
    Subscribed {
        framework_id: FrameworkId,
        heartbeat_interval_seconds: f64,
    },
    Heartbeat,
    Error {
        message: String,
    },
}

/// The answer to a TEARDOWN or UPDATE_FRAMEWORK call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAnswer {
    Done,
    /// No framework has this id (never subscribed).
    UnknownFramework,
    /// Known but without a subscribed stream (UPDATE_FRAMEWORK).
    NotSubscribed,
    /// The framework has been removed.
    Removed,
    /// The call is invalid; the message says why.
    Invalid(String),
    /// The registry refused the change; the message says why.
    Refused(String),
}

/// What to do.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once, moved to the runtime
pub enum Action {
    Send {
        stream: StreamId,
        event: SchedulerEvent,
    },
    /// End the stream (after anything sent before).
    Close {
        stream: StreamId,
    },
    Propose {
        write: WriteId,
        command: Command,
    },
    Answer {
        request: RequestId,
        answer: CallAnswer,
    },
    /// SUBSCRIBED was sent: offer to it, forward its updates.
    FrameworkActivated {
        framework_id: String,
        info: FrameworkInfo,
    },
    /// Its info changed by UPDATE_FRAMEWORK (roles, capabilities...).
    FrameworkUpdated {
        framework_id: String,
        info: FrameworkInfo,
    },
    /// No stream any more: rescind its offers, offer no more.
    FrameworkDeactivated {
        framework_id: String,
    },
    /// Completed in the registry: kill its tasks, rescind its offers.
    FrameworkRemoved {
        framework_id: String,
    },
}

/// Mesos's message for a completed framework id.
pub const REMOVED_MESSAGE: &str = "Framework has been removed";
/// Mesos's message to the stream a re-subscription replaced.
pub const FAILED_OVER_MESSAGE: &str = "Framework failed over";

#[cfg(test)]
mod tests;
