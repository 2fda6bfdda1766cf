//! The Mesos v1 scheduler API on the leading master (SPEC 8), the pure
//! parts: reading calls ([`call`]), writing events ([`events`]), the
//! outstanding offers ([`offers`]) and what an ACCEPT launches
//! ([`accept`]). The leader-term driver runs them against the framework
//! table, the allocator and the task table; `http::scheduler` serves
//! `POST /api/v1/scheduler`.

pub mod accept;
pub mod call;
pub mod events;
pub mod offers;

pub use call::{CallError, Format, SchedulerCall, ValidCall};
