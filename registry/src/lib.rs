//! The registry: everything the master group must not forget across a
//! leader change (SPEC section 1).
//!
//! This crate is the pure core of the replicated state machine. Applying a
//! [`Command`] to a [`Registry`] is deterministic: no clock, no randomness,
//! no I/O. The leader stamps times into commands before proposing them, so
//! every replica that applies the same log ends in the same state.

mod command;
mod error;
mod state;

pub use command::{Command, CommandResult, Response};
pub use error::RegistryError;
pub use state::Registry;

/// Nanoseconds since the Unix epoch, as Mesos's `TimeInfo`.
pub type TimeNs = i64;
