//! What can go wrong: setting up ([`ConfigError`]), one call
//! ([`CallError`]), and why a scheduler stopped for good ([`StopReason`]).

use std::time::Duration;

/// The configuration cannot make a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no masters given: use --masters HOST:PORT[,HOST:PORT...]")]
    NoMasters,
    #[error("bad master address: {0}")]
    BadMaster(String),
    #[error("framework_info: {0}")]
    BadFramework(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Why a call did not get a 2xx answer. The variants keep apart what the
/// master certainly did not act on from what it may have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No stream to a leader right now (starting, or moving to another
    /// leader). Not sent.
    #[error(
        "not subscribed to a leading master right now, so the call was not sent; \
         send it again after the next Subscribed event"
    )]
    NotSubscribed,
    /// The connection could not be made. Not sent.
    #[error("cannot reach {master}, so the call was not sent: {reason}")]
    NotSent { master: String, reason: String },
    /// The master answered 307 or 503: it does not lead (any more). Not
    /// acted on; the scheduler moves to the leader by itself.
    #[error(
        "{master} no longer leads ({detail}); the call was not acted on; the scheduler is \
         moving to the leader: send it again after the next Subscribed event"
    )]
    NotLeader { master: String, detail: String },
    /// A 4xx answer (malformed call, unknown stream, not subscribed...).
    /// Not acted on; sending it again unchanged fails again.
    #[error("{master} refused the call with HTTP {status}: {body}")]
    Refused {
        master: String,
        status: u16,
        body: String,
    },
    /// Sent, and then no clear answer (timeout, reset, a 5xx). The master
    /// may have acted on it: reconciliation tells.
    #[error(
        "the call to {master} failed after it was sent ({reason}); it may or may not have \
         been acted on (task states will tell: reconciliation runs after every subscription)"
    )]
    MaybeSent { master: String, reason: String },
    /// The scheduler has stopped (see the final event for why).
    #[error("the scheduler has stopped; no more calls can be sent")]
    Stopped,
}

impl CallError {
    /// True when the master certainly did not act on the call, so sending
    /// it again cannot do it twice.
    pub fn certainly_not_acted_on(&self) -> bool {
        !matches!(self, CallError::MaybeSent { .. })
    }
}

/// Why the scheduler stopped. It is the last event of the stream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StopReason {
    /// ERROR "Framework has been removed": the FrameworkID is dead for
    /// good; a new framework must subscribe without it.
    #[error(
        "the masters removed this framework ({0}); subscribe anew, without the old FrameworkID"
    )]
    Removed(String),
    /// Another ERROR event (e.g. "Framework failed over": another process
    /// subscribed with this FrameworkID). Re-subscribing would only fight it.
    #[error("the master ended the subscription: {0}")]
    MasterError(String),
    /// SUBSCRIBE was refused (4xx): the framework info or the credentials
    /// are wrong; trying again would fail the same way.
    #[error("{master} refused SUBSCRIBE with HTTP {status}: {body}")]
    SubscribeRefused {
        master: String,
        status: u16,
        body: String,
    },
    /// No leader could be subscribed to within the configured time.
    #[error(
        "no leading master answered within {}s; last attempts: {}; check that the masters \
         run and elect a leader (raftctl status)",
        .waited.as_secs(), .attempts.join("; ")
    )]
    NoLeader {
        waited: Duration,
        attempts: Vec<String>,
    },
    /// TEARDOWN was accepted: the framework and its tasks are gone.
    #[error("the framework was torn down")]
    TornDown,
    /// [`SchedulerHandle::stop`](crate::SchedulerHandle::stop), or the event
    /// stream was dropped. The framework stays registered until its
    /// failover timeout.
    #[error("stopped by the program")]
    Stopped,
}
