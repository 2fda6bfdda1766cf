//! `mesoraft executor`: the built-in command executor. It runs one task's
//! `CommandInfo` for the agent that started it (Mesos's
//! `src/launcher/executor.cpp`). Its decisions are [`core`] (pure,
//! unit-tested); the environment, the API client, the process edge and
//! the loop are shared with the default executor (`http_executor`).

pub mod core;

use crate::http_executor::run::{self, RandomEntropy};
use crate::http_executor::{ExecutorEnv, ExecutorError};

/// Runs the command executor configured by the process environment; the
/// exit code to end the process with.
pub async fn run_from_env() -> Result<i32, ExecutorError> {
    let env = ExecutorEnv::from_vars(|name| std::env::var(name).ok())?;
    tracing::info!(
        framework_id = %env.framework_id.value,
        executor_id = %env.executor_id.value,
        agent = %env.agent_endpoint,
        checkpoint = env.checkpoint,
        "command executor starting"
    );
    let core = core::CommandExecutor::new(run::settings(&env), Box::new(RandomEntropy));
    let reason = run::run(env, core).await.map_err(ExecutorError::Client)?;
    Ok(reason.exit_code())
}
