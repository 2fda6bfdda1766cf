//! The agent's executors: the table of frameworks, executors and tasks, and the containerizer
//! that starts and stops executor processes.
//!
//! - [`model`]: the table's events and actions (no behaviour);
//! - [`table`]: every decision, `step(event) -> actions` (pure);
//! - [`call`]: reading and checking an executor's call (pure);
//! - [`containerizer`]: executor processes, their sandboxes and limits.
//!
//! The HTTP edge, `POST /api/v1/executor`, is the top-level `executor_api`
//! module.

pub mod call;
pub mod containerizer;
pub mod model;
pub mod table;
