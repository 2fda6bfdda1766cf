//! Building the agent's runtime at start-up: the executor table, the
//! status update manager and the containerizer, with what the agent
//! needs to know to start executors (where executors reach it, the
//! `mesoraft` executable for the command executor).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use mesoraft_proto::mesos::v1::AgentInfo;
use tokio::sync::mpsc;

use crate::checkpoint::WorkDir;
use crate::driver::{AgentHandle, Driver, DriverFailure};
use crate::executors::containerizer::cgroups::DEFAULT_ROOT;
use crate::executors::containerizer::launch::{
    DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT, DEFAULT_RECOVERY_TIMEOUT,
};
use crate::executors::containerizer::{Containerizer, LaunchSettings};
use crate::executors::table::Table;
use crate::flags::AgentConfig;
use crate::run::AgentError;
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

/// Starts the runtime for an agent with `info`.
pub fn runtime(
    config: &AgentConfig,
    info: &AgentInfo,
    work_dir: &WorkDir,
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
        subscription_backoff_max: DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT,
    };
    let (exits_tx, exits) = mpsc::unbounded_channel();
    let containerizer = Containerizer::new(settings, Path::new(DEFAULT_ROOT), exits_tx);
    let table = Table::new(info.clone(), config.executor_shutdown_grace_period);
    let updates = UpdateManager::new(config.status_update_retry_interval_min);
    let driver = Driver::new(table, updates, containerizer, exits, work_dir.clone());
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
