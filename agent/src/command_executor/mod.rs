//! `mesoraft executor`: the built-in command executor. It runs one task's
//! `CommandInfo` for the agent that started it, speaking only Mesos's v1
//! executor HTTP API and configured only by Mesos's executor environment,
//! so it works under any agent that speaks that API (and a Mesos
//! framework sees the updates it knows).
//!
//! - [`env`]: the environment variables, checked (pure);
//! - [`core`]: every decision, input by input (pure, unit-tested);
//! - [`client`]: the API over HTTP (JSON, RecordIO events);
//! - [`task_process`]: starting and signalling the command;
//! - [`run`]: the loop joining them.

pub mod client;
pub mod core;
pub mod env;
pub mod run;
pub mod task_process;

pub use env::{EnvError, ExecutorEnv};

/// Why the executor could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("{0}")]
    Env(#[from] EnvError),
    #[error("{0}")]
    Client(String),
}

/// Runs the command executor configured by the process environment; the
/// exit code to end the process with.
pub async fn run_from_env() -> Result<i32, ExecutorError> {
    let env = ExecutorEnv::from_vars(|name| std::env::var(name).ok())?;
    let reason = run::run(env).await.map_err(ExecutorError::Client)?;
    Ok(reason.exit_code())
}
