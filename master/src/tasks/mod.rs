//! Tasks on the leading master: what it knows of every task, learnt from
//! the `RunTask` it sends, the status updates agents forward and the task
//! lists agents bring when they re-register (SPEC 2, 3, 4). Nothing of it
//! is replicated: after a failover the new leader rebuilds it from the
//! re-registrations.
//!
//! - [`table`]: the pure state machine, `step(event) -> actions`.
//! - [`status`]: the updates the master itself writes (agent unreachable,
//!   gone, back), in Mesos's shape.
//! - [`launch`]: validating a task before it is sent to an agent.
//! - [`render`]: the operator API's `GET_TASKS`.
//! - [`reconcile`]: the answers to a framework's RECONCILE.
//!
//! The agents driver owns the table (tasks follow their agents' sessions
//! and departures, so one task serializes both); frameworks connect to it
//! through [`table::Action::ToFramework`] and [`table::Event::Acknowledged`].

pub mod launch;
pub mod reconcile;
pub mod render;
pub mod status;
pub mod table;

pub use table::{Action, Event, TaskTable, TasksView};
