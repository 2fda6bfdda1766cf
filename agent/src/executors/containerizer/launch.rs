//! What an executor process is started with, decided without I/O: its
//! sandbox directory, its program and arguments, and Mesos's executor
//! environment (`executorEnvironment` in Mesos's `slave.cpp`), so an
//! executor written for Mesos finds what it expects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mesoraft_proto::mesos::v1::environment::variable::Type as VariableType;
use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::units::format_duration;

use crate::checkpoint::layout::check_id;
use crate::executors::model::{LaunchSpec, RunKey};
use crate::http_executor::env as vars;

/// The agent's settings every executor launch uses.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSettings {
    pub work_dir: PathBuf,
    /// `HOST:PORT` executors reach the agent's executor API at.
    pub agent_endpoint: String,
    /// The `mesoraft` executable (its `executor` subcommand is the
    /// command executor, `default-executor` the default executor).
    pub exe: PathBuf,
    /// How long a checkpointing framework's executor keeps trying to reach
    /// a restarting agent (Mesos's `--recovery_timeout`).
    pub recovery_timeout: Duration,
    /// The ceiling of its random delay between attempts (Mesos's
    /// `--executor_reregistration_timeout`).
    pub subscription_backoff_max: Duration,
}

/// Mesos's default `--recovery_timeout`.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Mesos's default `--executor_reregistration_timeout`.
pub const DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT: Duration = Duration::from_secs(2);

/// Variables of the agent's own environment an executor inherits.
const INHERITED: [&str; 5] = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"];
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program, its argv (argv[0] first) and its full environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorCommand {
    pub program: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub sandbox: PathBuf,
}

/// `<work_dir>/slaves/<agent_id>/frameworks/<fid>/executors/<eid>/runs/<cid>`,
/// Mesos's sandbox layout.
pub fn sandbox_dir(work_dir: &Path, agent_id: &str, run: &RunKey) -> Result<PathBuf, String> {
    check_id("agent id", agent_id)?;
    check_id("framework id", &run.executor.framework_id)?;
    check_id("executor id", &run.executor.executor_id)?;
    check_id("container id", &run.container_id)?;
    Ok(work_dir
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(&run.executor.framework_id)
        .join("executors")
        .join(&run.executor.executor_id)
        .join("runs")
        .join(&run.container_id))
}

/// Everything to start `spec`'s executor with; `inherited` looks up the
/// agent's own variables.
pub fn executor_command(
    spec: &LaunchSpec,
    settings: &LaunchSettings,
    agent_id: &str,
    inherited: impl Fn(&str) -> Option<String>,
) -> Result<ExecutorCommand, String> {
    let sandbox = sandbox_dir(&settings.work_dir, agent_id, &spec.run)?;
    let checkpoint = spec.framework.checkpoint.unwrap_or(false);
    let mut env: Vec<(String, String)> = INHERITED
        .iter()
        .filter_map(|name| inherited(name).map(|v| (name.to_string(), v)))
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    let sandbox_text = sandbox.display().to_string();
    let mut set = |name: &str, value: String| {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    };
    set(vars::FRAMEWORK_ID, spec.run.executor.framework_id.clone());
    set(vars::EXECUTOR_ID, spec.run.executor.executor_id.clone());
    set(vars::DIRECTORY, sandbox_text.clone());
    set(vars::SANDBOX, sandbox_text);
    set(vars::AGENT_ID, agent_id.to_string());
    set(vars::AGENT_ENDPOINT, settings.agent_endpoint.clone());
    set(vars::CHECKPOINT, if checkpoint { "1" } else { "0" }.into());
    set(vars::HTTP_COMMAND_EXECUTOR, "1".into());
    set(
        vars::SHUTDOWN_GRACE_PERIOD,
        format_duration(spec.shutdown_grace_period),
    );
    if checkpoint {
        set(
            vars::RECOVERY_TIMEOUT,
            format_duration(settings.recovery_timeout),
        );
        set(
            vars::SUBSCRIPTION_BACKOFF_MAX,
            format_duration(settings.subscription_backoff_max),
        );
    }
    // The built-in executors: `executor` for a command task, the default
    // executor for an ExecutorInfo of type DEFAULT (task groups).
    let builtin = if spec.command_executor {
        Some("executor")
    } else if spec.executor.r#type() == ExecutorType::Default {
        Some("default-executor")
    } else {
        None
    };
    if let Some(subcommand) = builtin {
        return Ok(ExecutorCommand {
            program: settings.exe.clone(),
            argv: vec!["mesoraft".into(), subcommand.into()],
            env,
            sandbox,
        });
    }
    let command = spec
        .executor
        .command
        .as_ref()
        .ok_or("the executor has no command to run")?;
    for variable in command.environment.iter().flat_map(|e| &e.variables) {
        if variable
            .r#type
            .is_none_or(|_| variable.r#type() == VariableType::Value)
        {
            set(&variable.name, variable.value.clone().unwrap_or_default());
        }
    }
    let value = command
        .value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or("the executor's command has no value")?;
    let (program, argv) = if command.shell.unwrap_or(true) {
        (
            PathBuf::from("/bin/sh"),
            vec!["sh".to_string(), "-c".to_string(), value],
        )
    } else {
        let argv = if command.arguments.is_empty() {
            vec![value.clone()]
        } else {
            command.arguments.clone()
        };
        (PathBuf::from(value), argv)
    };
    Ok(ExecutorCommand {
        program,
        argv,
        env,
        sandbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::model::{ExecutorKey, Limits};
    use mesoraft_proto::mesos::v1::{
        environment, CommandInfo, Environment, ExecutorId, ExecutorInfo, FrameworkInfo,
    };

    fn settings() -> LaunchSettings {
        LaunchSettings {
            work_dir: "/w".into(),
            agent_endpoint: "127.0.0.1:5051".into(),
            exe: "/bin/mesoraft".into(),
            recovery_timeout: DEFAULT_RECOVERY_TIMEOUT,
            subscription_backoff_max: DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT,
        }
    }

    fn spec(checkpoint: bool, command_executor: bool) -> LaunchSpec {
        LaunchSpec {
            run: RunKey {
                executor: ExecutorKey {
                    framework_id: "f1".into(),
                    executor_id: "e1".into(),
                },
                container_id: "c1".into(),
            },
            executor: ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                command: Some(CommandInfo {
                    value: Some("./my-executor --fast".into()),
                    environment: Some(Environment {
                        variables: vec![environment::Variable {
                            name: "MODE".into(),
                            value: Some("test".into()),
                            r#type: None,
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            framework: FrameworkInfo {
                user: "root".into(),
                name: "fw".into(),
                checkpoint: Some(checkpoint),
                ..Default::default()
            },
            command_executor,
            limits: Limits::default(),
            shutdown_grace_period: Duration::from_secs(5),
        }
    }

    fn var<'a>(command: &'a ExecutorCommand, name: &str) -> Option<&'a str> {
        command
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_command_executor_gets_mesos_s_environment_in_its_sandbox() {
        let inherited = |name: &str| (name == "PATH").then(|| "/usr/bin".to_string());
        let c = executor_command(&spec(true, true), &settings(), "c-S1", inherited).unwrap();
        assert_eq!(c.program, PathBuf::from("/bin/mesoraft"));
        assert_eq!(c.argv, ["mesoraft", "executor"]);
        let sandbox = "/w/slaves/c-S1/frameworks/f1/executors/e1/runs/c1";
        assert_eq!(c.sandbox, PathBuf::from(sandbox));
        for (name, value) in [
            ("PATH", "/usr/bin"),
            ("MESOS_FRAMEWORK_ID", "f1"),
            ("MESOS_EXECUTOR_ID", "e1"),
            ("MESOS_DIRECTORY", sandbox),
            ("MESOS_SANDBOX", sandbox),
            ("MESOS_SLAVE_ID", "c-S1"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_HTTP_COMMAND_EXECUTOR", "1"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        ] {
            assert_eq!(var(&c, name), Some(value), "{name}");
        }
        // The executor's own environment reads back through its parser.
        let env = crate::http_executor::ExecutorEnv::from_vars(|n| var(&c, n).map(str::to_string))
            .unwrap();
        assert_eq!(env.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
    }

    #[test]
    fn without_checkpointing_the_recovery_variables_are_left_out() {
        let c = executor_command(&spec(false, true), &settings(), "c-S1", |_| None).unwrap();
        assert_eq!(var(&c, "MESOS_CHECKPOINT"), Some("0"));
        assert_eq!(var(&c, "MESOS_RECOVERY_TIMEOUT"), None);
        assert!(var(&c, "PATH").is_some(), "a default PATH");
    }

    #[test]
    fn a_framework_s_executor_runs_its_command_with_its_variables() {
        let c = executor_command(&spec(false, false), &settings(), "c-S1", |_| None).unwrap();
        assert_eq!(c.program, PathBuf::from("/bin/sh"));
        assert_eq!(c.argv, ["sh", "-c", "./my-executor --fast"]);
        assert_eq!(var(&c, "MODE"), Some("test"));

        let mut argv_spec = spec(false, false);
        let command = argv_spec.executor.command.as_mut().unwrap();
        command.shell = Some(false);
        command.value = Some("/opt/exec".into());
        command.arguments = vec!["exec".into(), "--x".into()];
        let c = executor_command(&argv_spec, &settings(), "c-S1", |_| None).unwrap();
        assert_eq!(c.program, PathBuf::from("/opt/exec"));
        assert_eq!(c.argv, ["exec", "--x"]);
    }

    #[test]
    fn a_default_executor_runs_the_built_in_one_without_a_command() {
        let mut default = spec(true, false);
        default.executor.r#type = Some(ExecutorType::Default as i32);
        default.executor.command = None;
        let c = executor_command(&default, &settings(), "c-S1", |_| None).unwrap();
        assert_eq!(c.program, PathBuf::from("/bin/mesoraft"));
        assert_eq!(c.argv, ["mesoraft", "default-executor"]);
        assert_eq!(var(&c, "MESOS_EXECUTOR_ID"), Some("e1"));
        assert_eq!(var(&c, "MESOS_CHECKPOINT"), Some("1"));
    }

    #[test]
    fn ids_that_would_escape_the_work_dir_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            let mut s = spec(false, true);
            s.run.executor.executor_id = bad.into();
            assert!(
                executor_command(&s, &settings(), "c-S1", |_| None).is_err(),
                "{bad:?}"
            );
        }
        assert!(executor_command(&spec(false, true), &settings(), "../x", |_| None).is_err());
    }
}
