//! Building the agent's runtime at start-up: the executor table, the
//! status update manager and the containerizer, with what the agent
//! needs to know to start executors (where executors reach it, the
//! `mesoraft` executable for the command executor), after taking over
//! what a checkpointing framework ran before a restart; and
//! `--recover=cleanup`'s killing of the executors left behind.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use mesoraft_proto::mesos::v1::AgentInfo;
use tokio::sync::mpsc;

use crate::checkpoint::runtime::{load_runtime, RecoveredFramework};
use crate::checkpoint::WorkDir;
use crate::driver::{AgentHandle, Driver, DriverFailure};
use crate::error::AgentError;
use crate::executors::containerizer::cgroups::DEFAULT_ROOT;
use crate::executors::containerizer::launch::DEFAULT_RECOVERY_TIMEOUT;
use crate::executors::containerizer::{kill_session, Containerizer, LaunchSettings};
use crate::executors::table::Table;
use crate::flags::AgentConfig;
use crate::procfs;
use crate::updates::manager::UpdateManager;

/// The runtime's handle and the task that ends only if it fails.
pub type Runtime = (
    AgentHandle,
    tokio::task::JoinHandle<Result<(), DriverFailure>>,
);

/// Where executors on this machine reach the agent: its listen address,
/// loopback when it listens on every interface.
pub fn executor_endpoint(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        let loopback = match listen.ip() {
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        SocketAddr::new(loopback, listen.port())
    } else {
        listen
    }
}

/// What a restarted agent takes over.
#[derive(Debug, Default)]
pub struct Recovery {
    pub frameworks: Vec<RecoveredFramework>,
    /// The host rebooted: no executor survived.
    pub rebooted: bool,
}

/// Reads what agent `agent_id` ran here.
pub fn recovery(
    work_dir: &WorkDir,
    agent_id: &str,
    rebooted: bool,
) -> Result<Recovery, AgentError> {
    Ok(Recovery {
        frameworks: load_runtime(work_dir, agent_id)?,
        rebooted,
    })
}

/// `--recover=cleanup`: kills every executor agent `agent_id` left running
/// (and everything in their sessions); how many there were.
pub fn kill_executors(work_dir: &WorkDir, agent_id: &str) -> Result<usize, AgentError> {
    let mut killed = 0;
    for framework in load_runtime(work_dir, agent_id)? {
        for executor in framework.executors {
            let Some(pid) = executor.pid else { continue };
            if procfs::is_running(pid, executor.start_time) {
                tracing::info!(executor = %executor.run.executor, pid, "killing the executor");
                kill_session(pid);
                killed += 1;
            }
        }
    }
    Ok(killed)
}

/// Starts the runtime for an agent with `info`, taking over `recovery`.
pub fn runtime(
    config: &AgentConfig,
    info: &AgentInfo,
    work_dir: &WorkDir,
    recovery: Recovery,
) -> Result<Runtime, AgentError> {
    let exe = std::env::current_exe().map_err(|e| {
        AgentError::Fatal(format!(
            "cannot find the mesoraft executable (the command executor is its `executor` subcommand): {e}"
        ))
    })?;
    let settings = LaunchSettings {
        work_dir: config.work_dir.clone(),
        agent_endpoint: executor_endpoint(config.listen).to_string(),
        exe,
        recovery_timeout: DEFAULT_RECOVERY_TIMEOUT,
        // Half the agent's wait, so an executor's next attempt always
        // falls within it.
        subscription_backoff_max: config.executor_reregistration_timeout / 2,
    };
    let (exits_tx, exits) = mpsc::unbounded_channel();
    let containerizer = Containerizer::new(settings, Path::new(DEFAULT_ROOT), exits_tx);
    let table = Table::new(info.clone(), config.executor_shutdown_grace_period);
    let updates = UpdateManager::new(config.status_update_retry_interval_min);
    let mut driver = Driver::new(table, updates, containerizer, exits, work_dir.clone());
    driver
        .recover(
            recovery.frameworks,
            recovery.rebooted,
            config.executor_reregistration_timeout,
        )
        .map_err(|failure| AgentError::Fatal(failure.0))?;
    Ok(driver.spawn())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_reach_an_agent_on_every_interface_through_loopback() {
        let any: SocketAddr = "0.0.0.0:5051".parse().unwrap();
        assert_eq!(executor_endpoint(any), "127.0.0.1:5051".parse().unwrap());
        let one: SocketAddr = "10.1.2.3:5051".parse().unwrap();
        assert_eq!(executor_endpoint(one), one);
        let v6: SocketAddr = "[::]:5051".parse().unwrap();
        assert_eq!(executor_endpoint(v6), "[::1]:5051".parse().unwrap());
    }
}
