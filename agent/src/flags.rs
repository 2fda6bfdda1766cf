//! The agent's command-line flags ([`AgentArgs`], for `mesoraft agent`)
//! and their validation into a typed [`AgentConfig`]. Flag names use
//! dashes; values use Mesos's syntax (`--resources`, `--attributes`,
//! durations like `5secs`). Every error names the flag and shows the right
//! form.
//!
//! [`AgentArgs::config`] reads the machine (hostname, CPUs, memory, disk)
//! for the defaults; [`AgentArgs::config_on`] takes those facts as input
//! and is pure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mesoraft_proto::mesos::v1::AgentInfo;
use mesoraft_proto::units::parse_duration;

use crate::attributes::{parse_attributes, AttributesError};
use crate::host_port::{check_hostname, HostPort, HostPortError};
use crate::machine::MachineFacts;
use crate::masters::{parse_masters, MasterAddr, MastersError};
use crate::reconfig::ReconfigurationPolicy;
use crate::recovery::RecoverMode;
use crate::resources::{parse_resources, with_defaults, ResourcesError, UndetectedResource};

/// The default `--listen`, Mesos's agent port on every interface.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:5051";

/// Flags of `mesoraft agent`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct AgentArgs {
    /// The masters, HOST:PORT comma-separated, e.g. m1:5050,m2:5050,m3:5050.
    /// The agent finds the leader among them and follows it.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub masters: String,

    /// Address to listen on (the executor API and the agent's endpoints).
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Address the masters and executors use to reach this agent. Defaults
    /// to the hostname and the --listen port.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise_address: Option<String>,

    /// Directory for the agent's checkpoint and the task sandboxes.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,

    /// Resources offered, in Mesos's syntax, e.g.
    /// 'cpus:4;mem:4096;disk:10240;ports:[31000-32000]'. cpus, mem, disk
    /// and ports not given are detected from the machine.
    #[arg(long, value_name = "NAME:VALUE;...")]
    pub resources: Option<String>,

    /// Attributes, in Mesos's syntax, e.g. 'rack:r1;zone:a'.
    #[arg(long, value_name = "NAME:VALUE;...")]
    pub attributes: Option<String>,

    /// The agent's hostname, as the masters and frameworks see it.
    /// Defaults to the machine's hostname.
    #[arg(long)]
    pub hostname: Option<String>,

    /// On restart: reattach to live executors and re-register
    /// (reconnect), or kill them all and exit (cleanup).
    #[arg(long, value_enum, default_value_t = RecoverMode::Reconnect)]
    pub recover: RecoverMode,

    /// Which changes of hostname, port, resources, attributes and domain
    /// a restart may make and keep the agent's id: none (equal), or only
    /// growth (additive).
    #[arg(long, value_enum, default_value_t = ReconfigurationPolicy::Equal)]
    pub reconfiguration_policy: ReconfigurationPolicy,

    /// How long an executor has to stop its tasks before it is killed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5secs")]
    pub executor_shutdown_grace_period: Duration,

    /// After a restart, how long executors of checkpointing frameworks
    /// have to subscribe again before they are killed and their tasks
    /// reported gone or lost. Executors retry at random within half of it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2secs")]
    pub executor_reregistration_timeout: Duration,

    /// The first ceiling of the random delay before (re-)registering; it
    /// doubles per attempt up to one minute. 0secs disables the delay.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1secs")]
    pub registration_backoff_factor: Duration,

    /// First interval between retries of an unacknowledged status update;
    /// it doubles per retry.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10secs")]
    pub status_update_retry_interval_min: Duration,

    /// File holding the cluster secret the masters require (the same file
    /// as the masters').
    #[arg(long, env = "MESORAFT_CLUSTER_SECRET_FILE", value_name = "PATH")]
    pub cluster_secret_file: Option<PathBuf>,

    /// PEM CA certificate(s) the masters' certificates are checked
    /// against. With it (or --tls-cert) the agent speaks TLS to the
    /// masters; without it, server certificates are checked against the
    /// system's roots.
    #[arg(long, env = "MESORAFT_TLS_CA", value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate (chain) to present to masters over TLS
    /// (masters started with --tls-ca require one).
    #[arg(
        long,
        env = "MESORAFT_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "MESORAFT_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// TESTING ONLY: read the boot id from this file instead of the
    /// kernel's, so a test can simulate a reboot.
    #[arg(long, hide = true, value_name = "PATH")]
    pub boot_id_file: Option<PathBuf>,
}

/// The agent's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub masters: Vec<MasterAddr>,
    pub listen: SocketAddr,
    /// Where masters and executors reach the agent.
    pub advertise: HostPort,
    pub work_dir: PathBuf,
    /// The info the flags describe: hostname, port (the advertised one),
    /// resources (with the machine's defaults) and attributes; no id.
    pub info: AgentInfo,
    pub recover: RecoverMode,
    pub reconfiguration_policy: ReconfigurationPolicy,
    pub executor_shutdown_grace_period: Duration,
    pub executor_reregistration_timeout: Duration,
    pub registration_backoff_factor: Duration,
    pub status_update_retry_interval_min: Duration,
    pub cluster_secret_file: Option<PathBuf>,
    pub tls: Option<MasterTls>,
    pub boot_id_file: Option<PathBuf>,
}

/// How the agent speaks TLS to the masters (the files are read at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterTls {
    /// None: the system's roots.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A flag that does not hold; each names its flag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlagError {
    #[error("--masters: {0}")]
    Masters(MastersError),
    #[error("--listen {text:?}: {problem}; give IP:PORT to listen on, e.g. 0.0.0.0:5051 or 127.0.0.1:5051")]
    Listen { text: String, problem: String },
    #[error("--advertise-address: {0}; give the HOST:PORT masters and executors reach this agent at, e.g. agent1.example.com:5051")]
    Advertise(HostPortError),
    #[error(
        "--hostname {text:?}: {problem}; give a host name or address, e.g. agent1.example.com"
    )]
    Hostname { text: String, problem: String },
    #[error("--hostname: cannot read the machine's hostname ({problem}); give --hostname")]
    UndetectedHostname { problem: String },
    #[error("--work-dir is empty; give a directory, e.g. /var/lib/mesoraft/agent")]
    EmptyWorkDir,
    #[error("--resources: {0}")]
    Resources(ResourcesError),
    #[error("--resources: {0}")]
    UndetectedResource(UndetectedResource),
    #[error("--attributes: {0}")]
    Attributes(AttributesError),
    #[error("--status-update-retry-interval-min must be longer than zero, e.g. 10secs")]
    ZeroStatusUpdateRetry,
}

impl FlagError {
    /// The flag at fault, as written on the command line.
    pub fn flag(&self) -> &'static str {
        match self {
            FlagError::Masters(_) => "--masters",
            FlagError::Listen { .. } => "--listen",
            FlagError::Advertise(_) => "--advertise-address",
            FlagError::Hostname { .. } | FlagError::UndetectedHostname { .. } => "--hostname",
            FlagError::EmptyWorkDir => "--work-dir",
            FlagError::Resources(_) | FlagError::UndetectedResource(_) => "--resources",
            FlagError::Attributes(_) => "--attributes",
            FlagError::ZeroStatusUpdateRetry => "--status-update-retry-interval-min",
        }
    }
}

impl AgentArgs {
    /// Checks every flag, with the machine's facts for the defaults.
    pub fn config(self) -> Result<AgentConfig, FlagError> {
        let facts = MachineFacts::detect(&self.work_dir);
        self.config_on(&facts)
    }

    /// Checks every flag, with `facts` for the defaults. Pure.
    pub fn config_on(self, facts: &MachineFacts) -> Result<AgentConfig, FlagError> {
        let masters = parse_masters(&self.masters).map_err(FlagError::Masters)?;
        let listen = parse_listen(&self.listen)?;
        if self.work_dir.as_os_str().is_empty() {
            return Err(FlagError::EmptyWorkDir);
        }
        let hostname = match &self.hostname {
            Some(name) => {
                let name = name.trim();
                check_hostname(name).map_err(|problem| FlagError::Hostname {
                    text: name.to_string(),
                    problem,
                })?;
                name.to_string()
            }
            None => facts
                .hostname
                .clone()
                .map_err(|problem| FlagError::UndetectedHostname { problem })?,
        };
        let advertise = match &self.advertise_address {
            Some(text) => text.parse().map_err(FlagError::Advertise)?,
            None => HostPort::new(&hostname, listen.port()).map_err(|e| FlagError::Hostname {
                text: hostname.clone(),
                problem: format!(
                    "it cannot serve as the advertised host ({}); give --advertise-address",
                    e.problem
                ),
            })?,
        };
        let given = parse_resources(self.resources.as_deref().unwrap_or(""))
            .map_err(FlagError::Resources)?;
        let resources =
            with_defaults(given, &facts.resources).map_err(FlagError::UndetectedResource)?;
        let attributes = parse_attributes(self.attributes.as_deref().unwrap_or(""))
            .map_err(FlagError::Attributes)?;
        if self.status_update_retry_interval_min.is_zero() {
            return Err(FlagError::ZeroStatusUpdateRetry);
        }
        let info = AgentInfo {
            hostname,
            port: Some(i32::from(advertise.port())),
            resources,
            attributes,
            id: None,
            domain: None,
        };
        Ok(AgentConfig {
            masters,
            listen,
            advertise,
            work_dir: self.work_dir,
            info,
            recover: self.recover,
            reconfiguration_policy: self.reconfiguration_policy,
            executor_shutdown_grace_period: self.executor_shutdown_grace_period,
            executor_reregistration_timeout: self.executor_reregistration_timeout,
            registration_backoff_factor: self.registration_backoff_factor,
            status_update_retry_interval_min: self.status_update_retry_interval_min,
            cluster_secret_file: self.cluster_secret_file,
            tls: match (self.tls_ca, self.tls_cert, self.tls_key) {
                (None, None, _) | (None, _, None) => None,
                (ca, cert, key) => Some(MasterTls {
                    ca,
                    identity: cert.zip(key),
                }),
            },
            boot_id_file: self.boot_id_file,
        })
    }
}

/// `--listen`: an IP and a fixed port (the masters are told the port, so
/// an OS-picked one would not do).
fn parse_listen(text: &str) -> Result<SocketAddr, FlagError> {
    let problem = |problem: &str| FlagError::Listen {
        text: text.to_string(),
        problem: problem.to_string(),
    };
    let addr: SocketAddr = text
        .trim()
        .parse()
        .map_err(|_| problem("not an IP:PORT (a host name does not do here)"))?;
    if addr.port() == 0 {
        return Err(problem("port 0 is not allowed; give a fixed port"));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{format_resource, MachineResources};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AgentArgs,
    }

    /// `flags` after the required ones, unless they give those too.
    fn argv<'a>(flags: &[&'a str]) -> Vec<&'a str> {
        let mut argv = vec!["agent"];
        for (flag, value) in [("--masters", "m1:5050"), ("--work-dir", "/w")] {
            if !flags.contains(&flag) {
                argv.extend([flag, value]);
            }
        }
        argv.extend(flags);
        argv
    }

    fn args(flags: &[&str]) -> AgentArgs {
        Cli::try_parse_from(argv(flags)).unwrap().args
    }

    fn facts() -> MachineFacts {
        MachineFacts {
            hostname: Ok("box1".into()),
            resources: MachineResources {
                cpus: Ok(2),
                memory_bytes: Ok(4 << 30),
                disk_bytes: Ok(20 << 30),
            },
        }
    }

    fn config(flags: &[&str]) -> Result<AgentConfig, FlagError> {
        args(flags).config_on(&facts())
    }

    #[test]
    fn defaults_are_mesos_s() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:5051".parse().unwrap());
        assert_eq!(c.advertise.to_string(), "box1:5051");
        assert_eq!(c.recover, RecoverMode::Reconnect);
        assert_eq!(c.reconfiguration_policy, ReconfigurationPolicy::Equal);
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(c.executor_reregistration_timeout, Duration::from_secs(2));
        assert_eq!(c.registration_backoff_factor, Duration::from_secs(1));
        assert_eq!(c.status_update_retry_interval_min, Duration::from_secs(10));
        assert_eq!(c.info.hostname, "box1");
        assert_eq!(c.info.port, Some(5051));
        assert_eq!(c.info.id, None);
        let resources: Vec<String> = c.info.resources.iter().map(format_resource).collect();
        assert_eq!(
            resources,
            ["cpus:2", "mem:3072", "disk:15360", "ports:[31000-32000]"]
        );
        assert!(c.info.attributes.is_empty());
        assert_eq!(c.boot_id_file, None);
    }

    #[test]
    fn every_flag_reaches_the_config() {
        let c = config(&[
            "--masters",
            "m1:5050,m2:5050",
            "--listen",
            "127.0.0.1:6051",
            "--advertise-address",
            "agent1:7051",
            "--hostname",
            "agent1.example.com",
            "--resources",
            "cpus:1;mem:512;disk:100;ports:[1000-1010]",
            "--attributes",
            "rack:r1",
            "--recover",
            "cleanup",
            "--reconfiguration-policy",
            "additive",
            "--executor-shutdown-grace-period",
            "2secs",
            "--executor-reregistration-timeout",
            "4secs",
            "--registration-backoff-factor",
            "0secs",
            "--status-update-retry-interval-min",
            "500ms",
            "--cluster-secret-file",
            "/s",
            "--boot-id-file",
            "/b",
        ])
        .unwrap();
        assert_eq!(c.masters.len(), 2);
        assert_eq!(c.listen, "127.0.0.1:6051".parse().unwrap());
        assert_eq!(c.advertise.to_string(), "agent1:7051");
        // The advertised port is the one the masters record.
        assert_eq!(c.info.port, Some(7051));
        assert_eq!(c.info.hostname, "agent1.example.com");
        assert_eq!(c.info.resources.len(), 4);
        assert_eq!(c.info.attributes.len(), 1);
        assert_eq!(c.recover, RecoverMode::Cleanup);
        assert_eq!(c.reconfiguration_policy, ReconfigurationPolicy::Additive);
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(2));
        assert_eq!(c.executor_reregistration_timeout, Duration::from_secs(4));
        assert_eq!(c.registration_backoff_factor, Duration::ZERO);
        assert_eq!(
            c.status_update_retry_interval_min,
            Duration::from_millis(500)
        );
        assert_eq!(c.cluster_secret_file, Some(PathBuf::from("/s")));
        assert_eq!(c.boot_id_file, Some(PathBuf::from("/b")));
    }

    #[test]
    fn each_bad_flag_is_named_with_the_right_form() {
        let cases: [(&[&str], &str, &str); 9] = [
            (&["--masters", "m1"], "--masters", "e.g. m1:5050"),
            (&["--listen", "box1:5051"], "--listen", "e.g. 0.0.0.0:5051"),
            (&["--listen", "0.0.0.0:0"], "--listen", "fixed port"),
            (
                &["--advertise-address", "a"],
                "--advertise-address",
                "e.g. agent1",
            ),
            (&["--hostname", "a b"], "--hostname", "e.g. agent1"),
            (&["--resources", "cpus:-1"], "--resources", "\"cpus:-1\""),
            (&["--attributes", "rack"], "--attributes", "\"rack\""),
            (
                &["--status-update-retry-interval-min", "0secs"],
                "--status-update-retry-interval-min",
                "e.g. 10secs",
            ),
            (&["--masters", " , "], "--masters", "no master"),
        ];
        for (flags, flag, hint) in cases {
            let err = config(flags).unwrap_err();
            assert_eq!(err.flag(), flag, "{flags:?}");
            let message = err.to_string();
            assert!(message.starts_with(flag), "{message}");
            assert!(message.contains(hint), "{flags:?}: {message}");
        }
    }

    #[test]
    fn an_empty_work_dir_is_refused() {
        // clap refuses an empty path already; the check guards other callers.
        let empty = AgentArgs {
            work_dir: PathBuf::new(),
            ..args(&[])
        };
        let err = empty.config_on(&facts()).unwrap_err();
        assert_eq!(err, FlagError::EmptyWorkDir);
        assert!(err.to_string().contains("e.g. /var/lib"), "{err}");
    }

    #[test]
    fn unparsable_durations_and_modes_are_refused_by_the_parser_naming_the_flag() {
        for flags in [
            &["--executor-shutdown-grace-period", "soon"][..],
            &["--registration-backoff-factor=-1secs"],
            &["--recover", "maybe"],
            &["--reconfiguration-policy", "lenient"],
        ] {
            let message = Cli::try_parse_from(argv(flags)).err().unwrap().to_string();
            let flag = flags[0].split('=').next().unwrap();
            assert!(message.contains(flag), "{message}");
        }
    }

    #[test]
    fn undetectable_facts_fail_only_when_a_default_needs_them() {
        let blind = MachineFacts {
            hostname: Err("no uts".into()),
            resources: MachineResources {
                cpus: Err("no sysconf".into()),
                ..facts().resources
            },
        };
        let err = args(&[]).config_on(&blind).unwrap_err();
        assert_eq!(err.flag(), "--hostname");
        let err = args(&["--hostname", "h"]).config_on(&blind).unwrap_err();
        assert_eq!(err.flag(), "--resources");
        assert!(err.to_string().contains("cpus:4"), "{err}");
        let ok = args(&["--hostname", "h", "--resources", "cpus:1"]).config_on(&blind);
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn the_machine_is_read_for_real_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let work_dir = dir.path().to_str().unwrap();
        let argv = ["agent", "--masters", "m1:5050", "--work-dir", work_dir];
        let c = Cli::try_parse_from(argv).unwrap().args.config().unwrap();
        assert_eq!(c.info.resources.len(), 4);
        assert!(!c.info.hostname.is_empty());
    }
}
