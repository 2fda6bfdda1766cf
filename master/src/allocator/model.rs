//! The allocator's identifiers, configuration, outputs and errors.

use std::fmt;
use std::time::Duration;

use super::resources::Resources;
use super::scalar::Scalar;

/// A framework's id (`FrameworkID.value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameworkId(pub String);

/// An agent's id (`AgentID.value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub String);

// Frameworks are looked up by the names the DRF sorter keeps; the
// derived order of the newtype is the order of its string, as `Borrow`
// requires.
impl std::borrow::Borrow<str> for FrameworkId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for FrameworkId {
    fn from(s: &str) -> FrameworkId {
        FrameworkId(s.to_string())
    }
}

impl From<&str> for AgentId {
    fn from(s: &str) -> AgentId {
        AgentId(s.to_string())
    }
}

impl fmt::Display for FrameworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mesos's `MIN_CPUS`: the fewest cpus worth offering.
pub const MIN_CPUS: Scalar = Scalar::from_thousandths(10);

/// Mesos's `MIN_MEM` in MB: the least memory worth offering.
pub const MIN_MEM: Scalar = Scalar::from_thousandths(32_000);

/// How the allocator behaves.
#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// `--allocation-interval`: filters last at least this long, so they
    /// survive the next batch allocation.
    pub allocation_interval: Duration,
    /// An agent's available resources are offered only if they contain
    /// at least one of these (Mesos's default: `cpus:0.01` or `mem:32`).
    /// Empty: anything non-empty is offered.
    pub min_allocatable: Vec<Resources>,
    /// Seeds the order in which agents are visited in each allocation
    /// (random in Mesos; reproducible here).
    pub agent_order_seed: u64,
}

impl Default for AllocatorConfig {
    fn default() -> AllocatorConfig {
        AllocatorConfig {
            allocation_interval: Duration::from_secs(1),
            min_allocatable: vec![
                Resources::new().with_scalar("cpus", MIN_CPUS),
                Resources::new().with_scalar("mem", MIN_MEM),
            ],
            agent_order_seed: 0,
        }
    }
}

/// Resources offered by one allocation: one agent's available resources
/// for one framework in one role.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub framework_id: FrameworkId,
    pub role: String,
    pub agent_id: AgentId,
    pub resources: Resources,
}

/// Resources of one agent held by one framework in one role (offered or
/// used by its tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub framework_id: FrameworkId,
    pub role: String,
    pub resources: Resources,
}

/// Resources freed on one agent when a framework was removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    pub agent_id: AgentId,
    pub role: String,
    pub resources: Resources,
}

/// An agent as the allocator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub total: Resources,
    pub available: Resources,
    pub held: Vec<Held>,
}

/// Why an allocator operation was refused; the state is then unchanged.
/// (Resources are boxed to keep the `Err` side of results small.)
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocatorError {
    #[error("agent {0} is not known to the allocator; add it first")]
    UnknownAgent(AgentId),
    #[error("agent {0} is already known to the allocator; update or remove it instead")]
    AgentExists(AgentId),
    #[error("framework {0} is not known to the allocator; add it first")]
    UnknownFramework(FrameworkId),
    #[error("framework {0} is already known to the allocator; update or remove it instead")]
    FrameworkExists(FrameworkId),
    #[error(
        "role '{role}' cannot have weight {weight}; weights must be finite and greater than 0"
    )]
    InvalidWeight { role: String, weight: f64 },
    #[error("framework {framework_id} does not hold {resources} in role '{role}' on agent {agent_id}; only held resources can be recovered")]
    NotHeld {
        framework_id: FrameworkId,
        role: String,
        agent_id: AgentId,
        resources: Box<Resources>,
    },
    #[error("agent {agent_id} has only {available} available, not {requested}")]
    NotAvailable {
        agent_id: AgentId,
        requested: Box<Resources>,
        available: Box<Resources>,
    },
    #[error("agent {agent_id}'s new total {total} does not contain the {held} already held on it; recover those first")]
    TotalBelowHeld {
        agent_id: AgentId,
        total: Box<Resources>,
        held: Box<Resources>,
    },
}
