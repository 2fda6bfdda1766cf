//! `mesoraft agent-sim` command lines (the agent simulator the Jepsen
//! bench drives): the one place that spells its flags. The agent crate's
//! contract test parses what this builder produces with the simulator's
//! own parser.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent_cmd::duration_text;

/// The (hidden) subcommand of the `mesoraft` binary that simulates agents.
pub const AGENT_SIM_SUBCOMMAND: &str = "agent-sim";

/// A `mesoraft agent-sim` command line, built up flag by flag; flags left
/// unset take the simulator's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSimCmd {
    masters: Vec<String>,
    agents: usize,
    id_prefix: Option<String>,
    hostname_prefix: Option<String>,
    tasks_per_agent: Option<usize>,
    cluster_secret_file: Option<PathBuf>,
    report: Option<PathBuf>,
    connect_rate: Option<usize>,
    registration_backoff_factor: Option<Duration>,
    agents_per_connection: Option<usize>,
    reconnect: Option<String>,
    resources: Option<String>,
    tasks: Option<String>,
}

impl AgentSimCmd {
    /// `agents` simulated agents following `masters`.
    pub fn new<A: Into<String>>(masters: impl IntoIterator<Item = A>, agents: usize) -> Self {
        Self {
            masters: masters.into_iter().map(Into::into).collect(),
            agents,
            id_prefix: None,
            hostname_prefix: None,
            tasks_per_agent: None,
            cluster_secret_file: None,
            report: None,
            connect_rate: None,
            registration_backoff_factor: None,
            agents_per_connection: None,
            reconnect: None,
            resources: None,
            tasks: None,
        }
    }

    pub fn id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.id_prefix = Some(prefix.into());
        self
    }

    pub fn hostname_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.hostname_prefix = Some(prefix.into());
        self
    }

    pub fn tasks_per_agent(mut self, tasks: usize) -> Self {
        self.tasks_per_agent = Some(tasks);
        self
    }

    pub fn cluster_secret_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cluster_secret_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// The JSON-lines report file.
    pub fn report(mut self, path: impl AsRef<Path>) -> Self {
        self.report = Some(path.as_ref().to_path_buf());
        self
    }

    /// Connection attempts in flight at most.
    pub fn connect_rate(mut self, attempts: usize) -> Self {
        self.connect_rate = Some(attempts);
        self
    }

    pub fn registration_backoff_factor(mut self, factor: Duration) -> Self {
        self.registration_backoff_factor = Some(factor);
        self
    }

    pub fn agents_per_connection(mut self, agents: usize) -> Self {
        self.agents_per_connection = Some(agents);
        self
    }

    /// `--reconnect`: `agent` (as `mesoraft agent`) or `backoff`.
    pub fn reconnect(mut self, policy: impl Into<String>) -> Self {
        self.reconnect = Some(policy.into());
        self
    }

    /// Every agent's resources, in Mesos's syntax
    /// (`cpus:8;mem:16384;ports:[31000-32000]`).
    pub fn resources(mut self, resources: impl Into<String>) -> Self {
        self.resources = Some(resources.into());
        self
    }

    /// `--tasks`: what launched tasks do: `ignore`, `run` (TASK_RUNNING)
    /// or `finish` (TASK_RUNNING then TASK_FINISHED at once).
    pub fn tasks(mut self, mode: impl Into<String>) -> Self {
        self.tasks = Some(mode.into());
        self
    }

    /// The whole argument vector after the program name, beginning with
    /// the `agent-sim` subcommand.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            AGENT_SIM_SUBCOMMAND.to_string(),
            "--masters".into(),
            self.masters.join(","),
            "--agents".into(),
            self.agents.to_string(),
        ];
        let text = [
            ("--id-prefix", self.id_prefix.clone()),
            ("--hostname-prefix", self.hostname_prefix.clone()),
            (
                "--tasks-per-agent",
                self.tasks_per_agent.map(|n| n.to_string()),
            ),
            (
                "--cluster-secret-file",
                self.cluster_secret_file
                    .as_ref()
                    .map(|p| p.display().to_string()),
            ),
            (
                "--report",
                self.report.as_ref().map(|p| p.display().to_string()),
            ),
            ("--connect-rate", self.connect_rate.map(|n| n.to_string())),
            (
                "--registration-backoff-factor",
                self.registration_backoff_factor.map(duration_text),
            ),
            (
                "--agents-per-connection",
                self.agents_per_connection.map(|n| n.to_string()),
            ),
            ("--reconnect", self.reconnect.clone()),
            ("--resources", self.resources.clone()),
            ("--tasks", self.tasks.clone()),
        ];
        for (flag, value) in text {
            if let Some(value) = value {
                args.extend([flag.to_string(), value]);
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_command_names_the_masters_and_the_count_only() {
        assert_eq!(
            AgentSimCmd::new(["a:1", "b:2"], 10).args(),
            ["agent-sim", "--masters", "a:1,b:2", "--agents", "10"]
        );
    }
}
