//! Who starts elections, and when: a policy that campaigns as soon as the
//! voters' leader lease has run out ([`policy`]), and the timer that
//! applies it ([`driver`]).

pub mod driver;
pub mod policy;

pub use driver::{run, ElectionSwitch, NewerLogSeen};
pub use policy::{ElectionPolicy, ElectionTiming};
