//! Agents on the leading master: their sessions, health checks and the
//! recovered-agent path after a failover (SPEC 2 and 3).
//!
//! - [`table`]: the pure state machine, `step(event, now) -> actions`.
//! - [`plan`]: the re-registration decision.
//! - [`policy`]: the flags' values, the removal budget and the recovery
//!   removal limit.
//! - [`registrations`]: when each agent (re-)registered with this leader
//!   and its version, read off the table's answers, for the operator
//!   views.
//! - `pace`: how the driver spreads a ping round over time (pure).

pub(crate) mod pace;
pub mod plan;
pub mod policy;
pub mod registrations;
pub mod table;
