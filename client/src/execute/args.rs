//! `mesoraft execute`'s flags. Values are checked as they are parsed, so
//! a bad one is reported by clap with the flag's name.

use std::time::Duration;

use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as CapabilityMsg;
use mesoraft_proto::mesos::v1::{FrameworkInfo, Resource};

use crate::config::{current_user, framework_info, Config};
use crate::error::ConfigError;
use crate::masters::parse_masters;
use crate::resources::parse_resources;

/// `--masters`: parsed.
#[derive(Debug, Clone)]
pub struct MasterAddrs(pub Vec<String>);

/// `--resources`: parsed.
#[derive(Debug, Clone)]
pub struct TaskResources(pub Vec<Resource>);

fn masters_arg(raw: &str) -> Result<MasterAddrs, String> {
    parse_masters(raw).map(MasterAddrs)
}

fn resources_arg(raw: &str) -> Result<TaskResources, String> {
    parse_resources(raw).map(TaskResources)
}

fn duration_arg(raw: &str) -> Result<Duration, String> {
    mesoraft_ctl::parse::parse_duration(raw)
}

fn name_arg(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 200
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "{raw:?}: use letters, digits, '-', '_' and '.' (it names the framework and the tasks)"
        ))
    }
}

/// Runs a command as tasks on the cluster, like `mesos-execute`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = EXIT_STATUS)]
pub struct ExecuteArgs {
    /// Masters, HOST:PORT, comma-separated; any one of the group is enough.
    #[arg(long, env = "MESORAFT_MASTERS", value_name = "LIST", value_parser = masters_arg)]
    pub masters: MasterAddrs,

    /// Name of the framework and of its tasks (`NAME`, or `NAME-<i>` with
    /// several instances).
    #[arg(long, value_parser = name_arg)]
    pub name: String,

    /// Shell command each task runs (`sh -c`).
    #[arg(long)]
    pub command: String,

    /// Resources of each task, in Mesos's syntax.
    #[arg(long, default_value = "cpus:0.1;mem:32", value_parser = resources_arg)]
    pub resources: TaskResources,

    /// Number of tasks to run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub instances: u32,

    /// Declare the PARTITION_AWARE capability (unreachable tasks are
    /// reported TASK_UNREACHABLE, and may come back, instead of TASK_LOST).
    #[arg(long)]
    pub partition_aware: bool,

    /// Role to take resources from.
    #[arg(long, default_value = "*")]
    pub role: String,

    /// User the tasks run as (default: this one).
    #[arg(long)]
    pub user: Option<String>,

    /// Do not follow the tasks' stdout and stderr from their sandboxes.
    #[arg(long)]
    pub no_output: bool,

    /// Give up when no leading master answers for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration_arg)]
    pub give_up_after: Duration,

    #[command(flatten)]
    pub security: mesoraft_ctl::security::SecurityArgs,
}

pub const EXIT_STATUS: &str = "\
Exit status: 0 when every task finished (TASK_FINISHED); else that of the
first task (in instance order) that did not: TASK_FAILED gives the
command's exit code (1 when unknown), killed, lost, dropped, gone or
refused tasks give 1. Scheduler errors (no leader, refused SUBSCRIBE,
framework removed) give 2, interruption (Ctrl-C, after tearing the
framework down) 130.
Task states go to stderr, one line per update; the tasks' stdout and
stderr are streamed to this command's stdout and stderr.";

impl ExecuteArgs {
    /// The framework `execute` subscribes.
    pub fn framework(&self) -> FrameworkInfo {
        let user = self.user.clone().unwrap_or_else(current_user);
        let mut info = framework_info(&self.name, &user);
        info.roles = vec![self.role.clone()];
        let mut caps = vec![Capability::MultiRole];
        if self.partition_aware {
            caps.push(Capability::PartitionAware);
        }
        info.capabilities = caps
            .into_iter()
            .map(|c| CapabilityMsg {
                r#type: Some(c as i32),
            })
            .collect();
        info
    }

    /// The scheduler configuration; `security` loaded by the caller.
    pub fn config(&self, security: crate::ClientSecurity) -> Result<Config, ConfigError> {
        let mut config = Config::new(self.masters.0.clone(), self.framework());
        config.security = security;
        config.give_up_after = Some(self.give_up_after);
        config.check()?;
        Ok(config)
    }

    /// The tasks' ids, in instance order.
    pub fn task_ids(&self) -> Vec<String> {
        if self.instances == 1 {
            return vec![self.name.clone()];
        }
        (0..self.instances)
            .map(|i| format!("{}-{i}", self.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExecuteArgs,
    }

    fn parse(extra: &[&str]) -> Result<ExecuteArgs, String> {
        let base = [
            "execute",
            "--masters",
            "a:1,b:2",
            "--name",
            "hello",
            "--command",
            "echo hi",
        ];
        Cli::try_parse_from(base.iter().chain(extra))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_mesos_executes() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.masters.0, ["a:1", "b:2"]);
        assert_eq!(a.instances, 1);
        assert_eq!(a.task_ids(), ["hello"]);
        assert_eq!(a.resources.0.len(), 2);
        let info = a.framework();
        assert_eq!(info.roles, ["*"]);
        assert_eq!(info.capabilities.len(), 1);
        let a = parse(&["--instances", "3", "--partition-aware"]).unwrap();
        assert_eq!(a.task_ids(), ["hello-0", "hello-1", "hello-2"]);
        assert_eq!(a.framework().capabilities.len(), 2);
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (flags, flag) in [
            (&["--resources", "cpus:x"][..], "--resources"),
            (&["--instances", "0"], "--instances"),
            (&["--give-up-after", "soon"], "--give-up-after"),
        ] {
            let e = parse(flags).unwrap_err();
            assert!(e.contains(flag), "{flags:?}: {e}");
        }
        let e = Cli::try_parse_from(["x", "--masters", "nope", "--name", "n", "--command", "c"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--masters"), "{e}");
        let e = Cli::try_parse_from(["x", "--masters", "a:1", "--name", "a b", "--command", "c"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--name"), "{e}");
    }
}
