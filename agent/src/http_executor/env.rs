//! The command executor's configuration: Mesos's executor environment
//! alone (the variables the agent sets when it starts an executor, see
//! `executorEnvironment` in Mesos's `slave.cpp`), so the same binary runs
//! under any agent speaking the v1 executor API. Pure: the variables are
//! looked up through a function, so tests need no process environment.

use std::path::PathBuf;
use std::time::Duration;

use mesoraft_proto::mesos::v1::{ExecutorId, FrameworkId};
use mesoraft_proto::units::parse_duration;

pub const AGENT_ENDPOINT: &str = "MESOS_AGENT_ENDPOINT";
pub const FRAMEWORK_ID: &str = "MESOS_FRAMEWORK_ID";
pub const EXECUTOR_ID: &str = "MESOS_EXECUTOR_ID";
pub const DIRECTORY: &str = "MESOS_DIRECTORY";
pub const SANDBOX: &str = "MESOS_SANDBOX";
pub const CHECKPOINT: &str = "MESOS_CHECKPOINT";
pub const RECOVERY_TIMEOUT: &str = "MESOS_RECOVERY_TIMEOUT";
pub const SUBSCRIPTION_BACKOFF_MAX: &str = "MESOS_SUBSCRIPTION_BACKOFF_MAX";
pub const SHUTDOWN_GRACE_PERIOD: &str = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD";
pub const AGENT_ID: &str = "MESOS_SLAVE_ID";
pub const HTTP_COMMAND_EXECUTOR: &str = "MESOS_HTTP_COMMAND_EXECUTOR";

/// Mesos's `DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// How long an executor of a framework without checkpointing keeps
/// trying to reach the agent for its first subscription.
pub const FIRST_SUBSCRIPTION_LIMIT: Duration = Duration::from_secs(60);

/// The backoff ceiling between subscription attempts when the agent gave
/// none (it gives one to checkpointing frameworks only).
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The executor's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `HOST:PORT` of the agent's executor API.
    pub agent_endpoint: String,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    /// The sandbox: the task runs there, its output goes there.
    pub directory: PathBuf,
    /// The framework checkpoints: the executor outlives an agent restart
    /// and subscribes again.
    pub checkpoint: bool,
    /// How long to keep trying to subscribe again after losing the agent.
    pub recovery_timeout: Duration,
    /// The ceiling of the random delay between subscription attempts.
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
}

/// A variable missing or holding what it cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("expecting '{0}' to be set in the environment (the agent sets it when it starts an executor)")]
    Missing(&'static str),
    #[error("'{name}' is {value:?}: {problem}")]
    Invalid {
        name: &'static str,
        value: String,
        problem: String,
    },
}

impl ExecutorEnv {
    /// Reads the settings through `var` (`std::env::var(..).ok()` in the
    /// process).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let required = |name: &'static str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(EnvError::Missing(name))
        };
        let duration = |name: &'static str| -> Result<Option<Duration>, EnvError> {
            var(name)
                .map(|text| {
                    parse_duration(&text).map_err(|e| EnvError::Invalid {
                        name,
                        value: text.clone(),
                        problem: e.to_string(),
                    })
                })
                .transpose()
        };
        let agent_endpoint = required(AGENT_ENDPOINT)?;
        check_endpoint(&agent_endpoint).map_err(|problem| EnvError::Invalid {
            name: AGENT_ENDPOINT,
            value: agent_endpoint.clone(),
            problem,
        })?;
        let framework_id = FrameworkId {
            value: required(FRAMEWORK_ID)?,
        };
        let executor_id = ExecutorId {
            value: required(EXECUTOR_ID)?,
        };
        let directory = PathBuf::from(required(DIRECTORY)?);
        let checkpoint = match var(CHECKPOINT).as_deref().map(str::trim) {
            None | Some("0") | Some("") => false,
            Some("1") => true,
            Some(other) => {
                return Err(EnvError::Invalid {
                    name: CHECKPOINT,
                    value: other.to_string(),
                    problem: "expected 1 or 0".into(),
                })
            }
        };
        // Mesos's executor library requires both when checkpointing.
        let recovery_timeout = match (checkpoint, duration(RECOVERY_TIMEOUT)?) {
            (true, None) => return Err(EnvError::Missing(RECOVERY_TIMEOUT)),
            (_, Some(d)) if checkpoint => d,
            _ => FIRST_SUBSCRIPTION_LIMIT,
        };
        let subscription_backoff_max = match (checkpoint, duration(SUBSCRIPTION_BACKOFF_MAX)?) {
            (true, None) => return Err(EnvError::Missing(SUBSCRIPTION_BACKOFF_MAX)),
            (_, Some(d)) => d,
            (false, None) => DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
        };
        let shutdown_grace_period =
            duration(SHUTDOWN_GRACE_PERIOD)?.unwrap_or(DEFAULT_SHUTDOWN_GRACE_PERIOD);
        Ok(ExecutorEnv {
            agent_endpoint,
            framework_id,
            executor_id,
            directory,
            checkpoint,
            recovery_timeout,
            subscription_backoff_max,
            shutdown_grace_period,
        })
    }

    /// The executor API's URL.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v1/executor", self.agent_endpoint)
    }
}

/// `HOST:PORT`, as Mesos writes a libprocess address (`10.0.0.1:5051`).
fn check_endpoint(text: &str) -> Result<(), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| "expected HOST:PORT, e.g. 10.0.0.1:5051".to_string())?;
    if host.is_empty() || host.contains(['/', ' ', '@', '?', '#']) {
        return Err("the host part is not a host name or address".into());
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .map(|_| ())
        .ok_or_else(|| format!("{port:?} is not a port"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        (AGENT_ENDPOINT, "127.0.0.1:5051"),
        (FRAMEWORK_ID, "f1"),
        (EXECUTOR_ID, "e1"),
        (DIRECTORY, "/w/sandbox"),
    ];

    #[test]
    fn the_agent_s_variables_make_the_settings() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            (CHECKPOINT, "1"),
            (RECOVERY_TIMEOUT, "15mins"),
            (SUBSCRIPTION_BACKOFF_MAX, "2secs"),
            (SHUTDOWN_GRACE_PERIOD, "3secs"),
        ]);
        let env = ExecutorEnv::from_vars(vars(&pairs)).unwrap();
        assert_eq!(env.api_url(), "http://127.0.0.1:5051/api/v1/executor");
        assert_eq!(env.framework_id.value, "f1");
        assert_eq!(env.executor_id.value, "e1");
        assert_eq!(env.directory, PathBuf::from("/w/sandbox"));
        assert!(env.checkpoint);
        assert_eq!(env.recovery_timeout, Duration::from_secs(900));
        assert_eq!(env.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(3));
    }

    #[test]
    fn without_checkpointing_the_defaults_apply() {
        let env = ExecutorEnv::from_vars(vars(&BASE)).unwrap();
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, FIRST_SUBSCRIPTION_LIMIT);
        assert_eq!(env.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
    }

    #[test]
    fn each_missing_or_bad_variable_is_named() {
        for missing in [AGENT_ENDPOINT, FRAMEWORK_ID, EXECUTOR_ID, DIRECTORY] {
            let pairs: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(
                ExecutorEnv::from_vars(vars(&pairs)),
                Err(EnvError::Missing(missing))
            );
        }
        let mut checkpointing = BASE.to_vec();
        checkpointing.push((CHECKPOINT, "1"));
        assert_eq!(
            ExecutorEnv::from_vars(vars(&checkpointing)),
            Err(EnvError::Missing(RECOVERY_TIMEOUT))
        );
        for (name, value) in [
            (AGENT_ENDPOINT, "no-port"),
            (AGENT_ENDPOINT, "h:0"),
            (AGENT_ENDPOINT, "http://h:1/x"),
            (CHECKPOINT, "yes"),
            (SHUTDOWN_GRACE_PERIOD, "soon"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = ExecutorEnv::from_vars(vars(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
