//! What the built-in executors (`mesoraft executor`, the command
//! executor, and `mesoraft default-executor`, the default executor for
//! task groups) share: they speak only Mesos's v1 executor HTTP API and
//! are configured only by Mesos's executor environment, so they work
//! under any agent that speaks that API.
//!
//! - [`env`]: the environment variables, checked (pure);
//! - [`vocab`]: the inputs and actions of a decision core (no behaviour);
//! - [`session`]: the link to the agent and the unacknowledged updates
//!   (pure);
//! - [`task_run`]: one task's phases and kill (pure);
//! - [`client`]: the API over HTTP (JSON, RecordIO events);
//! - [`task_process`]: starting and signalling a task's command;
//! - [`run`]: the loop joining a core with the rest.

pub mod client;
pub mod env;
pub mod run;
pub mod session;
pub mod task_process;
pub mod task_run;
#[cfg(test)]
pub mod testing;
pub mod vocab;

pub use env::{EnvError, ExecutorEnv};

/// Why an executor could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("{0}")]
    Env(#[from] EnvError),
    #[error("{0}")]
    Client(String),
}
