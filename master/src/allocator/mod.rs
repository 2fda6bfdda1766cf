//! The master's allocator: which framework is offered which agent's
//! resources, as Mesos's hierarchical DRF allocator decides it.
//!
//! This module is pure: no sockets, no timers, no clock reads. The
//! leader's offers runtime feeds it events (agents and frameworks coming
//! and going, weights from the registry, resources recovered from
//! declined offers and finished tasks, SUPPRESS and REVIVE) and calls
//! [`Allocator::allocate`] with the current time, turning each
//! [`Allocation`] into an offer.
//!
//! # Model
//!
//! * [`Resources`] are named scalars ([`Scalar`]: exact to a thousandth,
//!   as Mesos rounds them), ranges ([`Ranges`]: ports) and sets, converted
//!   from and to Mesos `Resource` messages in [`convert`].
//! * Each agent has a total; every part of it is either available or
//!   held by one framework in one role (offered, or used by its tasks —
//!   like Mesos's allocator, this module does not tell the two apart).
//!   Available plus held is always the total.
//! * [`drf`]: roles are ordered by weighted dominant share (weights from
//!   the registry, default 1.0), the frameworks of a role by their
//!   dominant share in it; a framework may have several roles (MULTI_ROLE)
//!   and is then offered in each of them separately.
//! * An allocation round ([`Allocator::allocate`], in `round.rs`) offers
//!   each agent's whole available resources to the first framework in
//!   DRF order that wants offers in that role, has no [`filters`] entry
//!   hiding the agent, and only if they reach Mesos's minimum (cpus 0.01
//!   or mem 32 MB, [`AllocatorConfig::min_allocatable`]).
//! * [`Allocator::recover`] returns held resources, optionally with a
//!   refusal filter (`Filters.refuse_seconds`, default 5 s); REVIVE
//!   clears filters and suppression, SUPPRESS stops offers in roles,
//!   deactivation stops all offers and drops filters.
//!
//! # Not supported yet
//!
//! * Reservations (static or dynamic), persistent volumes and disk
//!   sources: the proto conversion refuses reserved resources.
//! * Quota (guarantees and limits) and the two-stage allocation it needs.
//! * Revocable (oversubscribed) and shared resources.
//! * Hierarchical roles (`a/b`) are treated as flat names: a parent role
//!   does not aggregate its children.
//! * Framework capabilities (GPU_RESOURCES, offer constraints,
//!   per-framework minimum allocatable resources), inverse offers and
//!   maintenance.
//! * `--offer-timeout` and rescinding are the runtime's: it recovers the
//!   resources of an offer it rescinds.

pub mod convert;
pub mod drf;
pub mod filters;
pub mod model;
pub mod ranges;
pub mod resources;
pub mod scalar;

mod events;
mod round;
mod state;

#[cfg(test)]
mod tests;

pub use convert::{ConversionError, RoleResources, UNRESERVED_ROLE};
pub use events::Allocator;
pub use filters::{RefuseFilter, DEFAULT_REFUSE_SECONDS};
pub use model::{
    AgentId, AgentView, Allocation, AllocatorConfig, AllocatorError, FrameworkId, Held, Released,
    MIN_CPUS, MIN_MEM,
};
pub use ranges::Ranges;
pub use resources::{Quantities, Resources};
pub use scalar::Scalar;
