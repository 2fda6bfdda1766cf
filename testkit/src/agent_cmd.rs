//! `mesoraft agent` command lines: the one place that spells the agent's
//! flags for the end-to-end tests, the Jepsen harness and `mesoraft
//! local`. The agent crate's contract test parses every combination this
//! builder produces with the agent's own parser, so a renamed flag fails
//! there and not in a cluster run.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The subcommand of the `mesoraft` binary that runs an agent.
pub const AGENT_SUBCOMMAND: &str = "agent";

/// `--recover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recover {
    Reconnect,
    Cleanup,
}

impl Recover {
    pub fn as_flag_value(self) -> &'static str {
        match self {
            Recover::Reconnect => "reconnect",
            Recover::Cleanup => "cleanup",
        }
    }
}

/// `--reconfiguration-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconfigurationPolicy {
    Equal,
    Additive,
}

impl ReconfigurationPolicy {
    pub fn as_flag_value(self) -> &'static str {
        match self {
            ReconfigurationPolicy::Equal => "equal",
            ReconfigurationPolicy::Additive => "additive",
        }
    }
}

/// A `mesoraft agent` command line, built up flag by flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentCmd {
    masters: Vec<String>,
    listen: String,
    work_dir: PathBuf,
    advertise_address: Option<String>,
    hostname: Option<String>,
    resources: Option<String>,
    attributes: Option<String>,
    recover: Option<Recover>,
    reconfiguration_policy: Option<ReconfigurationPolicy>,
    executor_shutdown_grace_period: Option<Duration>,
    registration_backoff_factor: Option<Duration>,
    status_update_retry_interval_min: Option<Duration>,
    cluster_secret_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_identity: Option<(PathBuf, PathBuf)>,
    boot_id_file: Option<PathBuf>,
    extra: Vec<String>,
}

impl AgentCmd {
    /// An agent of the masters at `masters` (HOST:PORT each), listening on
    /// `listen` (IP:PORT) and keeping its state in `work_dir`.
    pub fn new<A: Into<String>>(
        masters: impl IntoIterator<Item = A>,
        listen: impl Into<String>,
        work_dir: impl AsRef<Path>,
    ) -> Self {
        Self {
            masters: masters.into_iter().map(Into::into).collect(),
            listen: listen.into(),
            work_dir: work_dir.as_ref().to_path_buf(),
            advertise_address: None,
            hostname: None,
            resources: None,
            attributes: None,
            recover: None,
            reconfiguration_policy: None,
            executor_shutdown_grace_period: None,
            registration_backoff_factor: None,
            status_update_retry_interval_min: None,
            cluster_secret_file: None,
            tls_ca: None,
            tls_identity: None,
            boot_id_file: None,
            extra: Vec::new(),
        }
    }

    /// HOST:PORT the masters and executors reach the agent at.
    pub fn advertise_address(mut self, addr: impl Into<String>) -> Self {
        self.advertise_address = Some(addr.into());
        self
    }

    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = Some(name.into());
        self
    }

    /// Mesos's text form, e.g. `cpus:2;mem:1024;disk:1024;ports:[31000-31100]`.
    pub fn resources(mut self, text: impl Into<String>) -> Self {
        self.resources = Some(text.into());
        self
    }

    /// Mesos's text form, e.g. `rack:r1;zone:a`.
    pub fn attributes(mut self, text: impl Into<String>) -> Self {
        self.attributes = Some(text.into());
        self
    }

    /// `None` leaves the flag out, so the agent's default applies (the
    /// same for the other setters taking an `Option`).
    pub fn recover(mut self, mode: impl Into<Option<Recover>>) -> Self {
        self.recover = mode.into();
        self
    }

    pub fn reconfiguration_policy(
        mut self,
        policy: impl Into<Option<ReconfigurationPolicy>>,
    ) -> Self {
        self.reconfiguration_policy = policy.into();
        self
    }

    pub fn executor_shutdown_grace_period(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.executor_shutdown_grace_period = d.into();
        self
    }

    /// `Duration::ZERO` makes the agent register without a random delay,
    /// which keeps tests fast.
    pub fn registration_backoff_factor(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.registration_backoff_factor = d.into();
        self
    }

    pub fn status_update_retry_interval_min(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.status_update_retry_interval_min = d.into();
        self
    }

    pub fn cluster_secret_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cluster_secret_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Speak TLS to the masters, checking their certificates against the
    /// CA in `path`.
    pub fn tls_ca(mut self, path: impl AsRef<Path>) -> Self {
        self.tls_ca = Some(path.as_ref().to_path_buf());
        self
    }

    /// The client certificate (and its key) presented to masters over TLS.
    pub fn tls_identity(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.tls_identity = Some((cert.as_ref().to_path_buf(), key.as_ref().to_path_buf()));
        self
    }

    /// The file the agent reads its boot id from instead of the kernel's;
    /// changing its content simulates a reboot.
    pub fn boot_id_file(mut self, path: impl AsRef<Path>) -> Self {
        self.boot_id_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Flags this builder has no setter for, appended as given.
    pub fn extra<S: Into<String>>(mut self, flags: impl IntoIterator<Item = S>) -> Self {
        self.extra.extend(flags.into_iter().map(Into::into));
        self
    }

    pub fn masters(&self) -> &[String] {
        &self.masters
    }

    pub fn listen(&self) -> &str {
        &self.listen
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The whole argument vector after the program name, beginning with
    /// the `agent` subcommand.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![AGENT_SUBCOMMAND.to_string()];
        args.extend(self.flags());
        args
    }

    /// The flags alone, for a program that takes the agent's flags under
    /// another subcommand.
    pub fn flags(&self) -> Vec<String> {
        let mut args = vec![
            "--masters".to_string(),
            self.masters.join(","),
            "--listen".into(),
            self.listen.clone(),
            "--work-dir".into(),
            path_text(&self.work_dir),
        ];
        let texts = [
            ("--advertise-address", &self.advertise_address),
            ("--hostname", &self.hostname),
            ("--resources", &self.resources),
            ("--attributes", &self.attributes),
        ];
        for (flag, value) in texts {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.clone()]);
            }
        }
        if let Some(mode) = self.recover {
            args.extend(["--recover".into(), mode.as_flag_value().into()]);
        }
        if let Some(policy) = self.reconfiguration_policy {
            args.extend([
                "--reconfiguration-policy".into(),
                policy.as_flag_value().into(),
            ]);
        }
        let durations = [
            (
                "--executor-shutdown-grace-period",
                self.executor_shutdown_grace_period,
            ),
            (
                "--registration-backoff-factor",
                self.registration_backoff_factor,
            ),
            (
                "--status-update-retry-interval-min",
                self.status_update_retry_interval_min,
            ),
        ];
        for (flag, value) in durations {
            if let Some(d) = value {
                args.extend([flag.to_string(), duration_text(d)]);
            }
        }
        let (tls_cert, tls_key) = match &self.tls_identity {
            Some((cert, key)) => (Some(cert.clone()), Some(key.clone())),
            None => (None, None),
        };
        let paths = [
            ("--cluster-secret-file", &self.cluster_secret_file),
            ("--tls-ca", &self.tls_ca),
            ("--tls-cert", &tls_cert),
            ("--tls-key", &tls_key),
            ("--boot-id-file", &self.boot_id_file),
        ];
        for (flag, value) in paths {
            if let Some(path) = value {
                args.extend([flag.to_string(), path_text(path)]);
            }
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// A duration in Mesos's syntax, exactly: whole milliseconds as `Nms`,
/// anything finer as `Nns`.
pub fn duration_text(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else {
        format!("{nanos}ns")
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_command_names_masters_address_and_work_dir_only() {
        let cmd = AgentCmd::new(
            ["127.0.0.1:7001", "127.0.0.1:7002"],
            "127.0.0.1:5051",
            "/a1",
        );
        assert_eq!(
            cmd.args(),
            [
                "agent",
                "--masters",
                "127.0.0.1:7001,127.0.0.1:7002",
                "--listen",
                "127.0.0.1:5051",
                "--work-dir",
                "/a1"
            ]
        );
    }

    #[test]
    fn set_options_appear_and_unset_ones_stay_out() {
        let cmd = AgentCmd::new(["m:1"], "127.0.0.1:5051", "/a")
            .resources("cpus:1;mem:256")
            .recover(Recover::Cleanup)
            .recover(None)
            .reconfiguration_policy(ReconfigurationPolicy::Additive)
            .registration_backoff_factor(Duration::ZERO)
            .executor_shutdown_grace_period(Duration::from_micros(1500))
            .extra(["--future-flag", "1"]);
        let flags = cmd.flags();
        assert!(flags
            .windows(2)
            .any(|w| w == ["--resources", "cpus:1;mem:256"]));
        assert!(!flags.contains(&"--recover".to_string()));
        assert!(flags
            .windows(2)
            .any(|w| w == ["--reconfiguration-policy", "additive"]));
        assert!(flags
            .windows(2)
            .any(|w| w == ["--registration-backoff-factor", "0ms"]));
        assert!(flags
            .windows(2)
            .any(|w| w == ["--executor-shutdown-grace-period", "1500000ns"]));
        assert_eq!(flags[flags.len() - 2..], ["--future-flag", "1"]);
    }
}
