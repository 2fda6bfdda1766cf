//! What the operator endpoints show of the frameworks (`/master/state`,
//! `/master/frameworks`, GET_FRAMEWORKS, metrics), as plain values.

use mesoraft_proto::mesos::v1::FrameworkInfo;
use mesoraft_registry::TimeNs;

use super::table::{FrameworkEntry, Presence};
use super::FrameworkTable;

/// A completed framework as the views list it. Those completed before
/// this term have no info: the registry keeps only their ids and times.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedFramework {
    pub framework_id: String,
    pub info: Option<FrameworkInfo>,
    pub completed_ns: TimeNs,
}

/// A framework's state in Mesos's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameworkState {
    /// Subscribed: `active` and `connected`.
    Active,
    /// A subscription is being written (not active yet).
    Subscribing,
    /// Its stream ended; failover timer running: inactive, disconnected.
    Inactive,
    /// Not subscribed since the last failover (or known from agents only).
    Recovered,
    /// Being completed.
    Removing,
}

impl FrameworkEntry {
    pub fn state(&self) -> FrameworkState {
        match self.presence {
            Presence::Connected { .. } => FrameworkState::Active,
            Presence::Subscribing { .. } => FrameworkState::Subscribing,
            Presence::Disconnected { .. } => FrameworkState::Inactive,
            Presence::Recovered { .. } => FrameworkState::Recovered,
            Presence::Removing { .. } => FrameworkState::Removing,
        }
    }
}

/// Counts for metrics and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrameworkCounts {
    pub active: usize,
    pub subscribing: usize,
    pub inactive: usize,
    pub recovered: usize,
    pub removing: usize,
    /// Every completed framework id the registry keeps.
    pub completed: usize,
}

impl FrameworkTable {
    pub fn counts(&self) -> FrameworkCounts {
        let mut counts = FrameworkCounts {
            completed: self.completed_ids.len(),
            ..Default::default()
        };
        for entry in self.frameworks.values() {
            match entry.state() {
                FrameworkState::Active => counts.active += 1,
                FrameworkState::Subscribing => counts.subscribing += 1,
                FrameworkState::Inactive => counts.inactive += 1,
                FrameworkState::Recovered => counts.recovered += 1,
                FrameworkState::Removing => counts.removing += 1,
            }
        }
        counts
    }

    /// The frameworks in one state, by id.
    pub fn in_state(&self, state: FrameworkState) -> impl Iterator<Item = (&str, &FrameworkEntry)> {
        self.frameworks
            .iter()
            .filter(move |(_, entry)| entry.state() == state)
            .map(|(id, entry)| (id.as_str(), entry))
    }

    /// The latest completed frameworks (at most
    /// [`super::FrameworkPolicy::completed_capacity`]), newest first.
    pub fn completed(&self) -> impl Iterator<Item = &CompletedFramework> {
        self.completed.iter().rev()
    }
}
