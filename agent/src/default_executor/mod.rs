//! `mesoraft default-executor`: the built-in default executor, Mesos's
//! `src/launcher/default_executor.cpp` over the v1 executor HTTP API. The
//! agent starts it for an `ExecutorInfo` of type DEFAULT; it runs task
//! groups (LAUNCH_GROUP), every task in its own process group and its own
//! sandbox `tasks/<task_id>/` under the executor's. Its decisions are
//! [`core`] (pure, unit-tested); the environment, the API client, the
//! process edge and the loop are shared with the command executor
//! (`http_executor`).

pub mod core;

use crate::http_executor::run::{self, RandomEntropy};
use crate::http_executor::{ExecutorEnv, ExecutorError};

/// Runs the default executor configured by the process environment; the
/// exit code to end the process with.
pub async fn run_from_env() -> Result<i32, ExecutorError> {
    let env = ExecutorEnv::from_vars(|name| std::env::var(name).ok())?;
    tracing::info!(
        framework_id = %env.framework_id.value,
        executor_id = %env.executor_id.value,
        agent = %env.agent_endpoint,
        checkpoint = env.checkpoint,
        "default executor starting"
    );
    let core = core::DefaultExecutor::new(run::settings(&env), Box::new(RandomEntropy));
    let reason = run::run(env, core).await.map_err(ExecutorError::Client)?;
    Ok(reason.exit_code())
}
