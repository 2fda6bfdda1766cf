//! What a scheduler is started with. [`Config::new`] gives Mesos-like
//! defaults; every field is public so a program changes what it needs.

use std::time::Duration;

use mesoraft_ctl::security::ClientSecurity;
use mesoraft_proto::mesos::v1::{AgentId, FrameworkInfo, TaskId};

use crate::error::ConfigError;
use crate::reconcile::ReconcileTiming;

/// Timeouts of the exchanges with the masters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Making a TCP (and TLS) connection.
    pub connect: Duration,
    /// A call's answer; for SUBSCRIBE, the answer's headers.
    pub request: Duration,
    /// From the SUBSCRIBE answer to the SUBSCRIBED event.
    pub subscribed: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(10),
            subscribed: Duration::from_secs(10),
        }
    }
}

/// How a scheduler finds, follows and talks to the leading master.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of masters; any one of the group is enough, the leader
    /// is found from it (see [`crate::parse_masters`]).
    pub masters: Vec<String>,
    /// The framework to subscribe. Its `id` is set by the scheduler after
    /// the first SUBSCRIBED (set it to resume a framework that subscribed
    /// before, e.g. after a restart within its `failover_timeout`).
    pub framework: FrameworkInfo,
    /// The cluster secret and TLS the masters' port wants.
    pub security: ClientSecurity,
    /// Acknowledge every UPDATE with a `uuid` once it was handed over.
    pub auto_acknowledge: bool,
    pub timeouts: Timeouts,
    /// The stream is declared dead after this many heartbeat intervals
    /// without a byte.
    pub heartbeat_misses: u32,
    /// The jittered wait between rounds over the masters starts at
    /// `backoff_base` and doubles up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub reconciliation: ReconcileTiming,
    /// Tasks known from before this process (e.g. stored by the
    /// program), reconciled with the launched ones.
    pub known_tasks: Vec<(TaskId, Option<AgentId>)>,
    /// Stop with [`StopReason::NoLeader`](crate::StopReason::NoLeader) when
    /// no leader was subscribed to for this long. None: try for ever.
    pub give_up_after: Option<Duration>,
    /// Events queued for the program before the stream is read no further
    /// (back-pressure, not loss).
    pub event_buffer: usize,
    /// The longest event accepted; a larger one ends the stream (the
    /// scheduler subscribes again).
    pub max_event_bytes: usize,
}

impl Config {
    pub fn new(masters: Vec<String>, framework: FrameworkInfo) -> Self {
        Config {
            masters,
            framework,
            security: ClientSecurity::default(),
            auto_acknowledge: true,
            timeouts: Timeouts::default(),
            heartbeat_misses: 4,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(10),
            reconciliation: ReconcileTiming::default(),
            known_tasks: Vec::new(),
            give_up_after: None,
            event_buffer: 1024,
            max_event_bytes: 64 << 20,
        }
    }

    /// Refuses what cannot work, saying what to change.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.masters.is_empty() {
            return Err(ConfigError::NoMasters);
        }
        for m in &self.masters {
            mesoraft_ctl::parse::parse_addr(m).map_err(ConfigError::BadMaster)?;
        }
        if self.framework.name.is_empty() {
            return Err(ConfigError::BadFramework(
                "the framework needs a name (framework_info.name)".into(),
            ));
        }
        if self.framework.user.is_empty() {
            return Err(ConfigError::BadFramework(
                "the framework needs a user to run tasks as (framework_info.user)".into(),
            ));
        }
        Ok(())
    }
}

/// The user this process runs as, for `framework_info.user` (Mesos's
/// schedulers default to it).
pub fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

/// A FrameworkInfo with a name and a user, the rest unset.
pub fn framework_info(name: &str, user: &str) -> FrameworkInfo {
    FrameworkInfo {
        name: name.to_string(),
        user: user.to_string(),
        ..Default::default()
    }
}
