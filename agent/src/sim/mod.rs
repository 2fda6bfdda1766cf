//! `mesoraft agent-sim`: many light agents in one process, speaking the
//! real session protocol to the masters, for measuring the masters at
//! scale (registration, health checks, the recovered-agent failover).
//!
//! Each simulated agent has its own gRPC stream and follows the leader as
//! `mesoraft agent` does ([`follow`]); it keeps no checkpoint and runs no
//! executors, and its re-registration reports `--tasks-per-agent` running
//! tasks with their executors ([`fleet`]). Agents share HTTP/2
//! connections in groups ([`pool`]). Every (re-)registration is written
//! to the `--report` file as a JSON line with its time ([`book`]), so a
//! reader outside can tell when every agent was back after a failover.
//! Several simulators can share a cluster with different `--id-prefix`
//! and `--hostname-prefix`.
//!
//! - [`fleet`]: names, infos, tasks (pure).
//! - [`book`]: counters and report lines (pure).
//! - [`pool`]: the shared connections.
//! - [`follow`]: one agent's sessions.
//! - [`report`]: the report file's writer.
//! - [`tasks`]: the updates launched tasks report (`--tasks`; pure).

pub mod book;
pub mod fleet;
pub mod follow;
pub mod pool;
pub mod report;
pub mod tasks;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesoraft_proto::units::parse_duration;
use tokio::sync::{mpsc, Semaphore};
use tonic::metadata::{Ascii, MetadataValue};

use crate::host_port::check_hostname;
use crate::masters::{parse_masters, MasterAddr, MastersError};
use book::{ReportLine, Tally, UnixNs};
use fleet::{Fleet, DEFAULT_RESOURCES};
pub use follow::Reconnect;
use pool::{ChannelPool, MAX_STREAMS_PER_CONNECTION};
pub use tasks::TaskMode;

/// The most agents one simulator runs.
pub const MAX_AGENTS: usize = 1_000_000;
/// The most tasks one simulated agent reports.
pub const MAX_TASKS_PER_AGENT: usize = 1_000;
/// The most agents on one connection: below the master's limit of
/// streams per connection, leaving room for streams still closing.
pub const MAX_AGENTS_PER_CONNECTION: usize = MAX_STREAMS_PER_CONNECTION - 10;
/// How often the report gets a `progress` line.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Flags of `mesoraft agent-sim`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct SimArgs {
    /// The masters, HOST:PORT comma-separated, e.g. m1:5050,m2:5050,m3:5050.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub masters: String,

    /// Number of agents to simulate.
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,

    /// Prefix of the agents' names (in the report) and of their task,
    /// executor and framework ids; differs per simulator sharing a
    /// cluster.
    #[arg(long, default_value = "sim-")]
    pub id_prefix: String,

    /// Prefix of the agents' hostnames (the index follows).
    #[arg(long, default_value = "sim-agent-")]
    pub hostname_prefix: String,

    /// Running tasks each agent reports when it re-registers.
    #[arg(long, default_value_t = 10)]
    pub tasks_per_agent: usize,

    /// Resources of each agent, in Mesos's syntax.
    #[arg(long, value_name = "NAME:VALUE;...", default_value = DEFAULT_RESOURCES)]
    pub resources: String,

    /// File holding the cluster secret the masters require.
    #[arg(long, env = "MESORAFT_CLUSTER_SECRET_FILE", value_name = "PATH")]
    pub cluster_secret_file: Option<PathBuf>,

    /// Write one JSON line per (re-)registration, and the counters every
    /// second, to this file (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// At most this many connection attempts in flight at once (an
    /// attempt lasts from opening a session until the master registers
    /// the agent or the session ends).
    #[arg(long, default_value_t = 1024)]
    pub connect_rate: usize,

    /// The first ceiling of the random delay before (re-)registering, as
    /// `mesoraft agent`'s flag: it doubles per attempt up to one minute.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1secs")]
    pub registration_backoff_factor: Duration,

    /// Agents sharing one HTTP/2 connection to a master (each has its own
    /// stream); 1 gives every session a connection of its own, as real
    /// agents have.
    #[arg(long, default_value_t = 100)]
    pub agents_per_connection: usize,

    /// After a failed attempt: move on as `mesoraft agent` does (agent:
    /// the round's other masters first), or back off after every failed
    /// attempt (backoff: the agent's former policy, for comparison).
    #[arg(long, value_enum, default_value_t = Reconnect::Agent)]
    pub reconnect: Reconnect,

    /// What launched tasks do: nothing (ignore), report TASK_RUNNING and
    /// stay (run), or report TASK_RUNNING then TASK_FINISHED at once
    /// (finish). Kills are answered with TASK_KILLED unless ignored.
    #[arg(long, value_enum, default_value_t = TaskMode::Ignore)]
    pub tasks: TaskMode,
}

/// A flag that does not hold; each names its flag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimFlagError {
    #[error("--masters: {0}")]
    Masters(MastersError),
    #[error("--agents {0}: give between 1 and {MAX_AGENTS}")]
    Agents(usize),
    #[error("--tasks-per-agent {0}: give at most {MAX_TASKS_PER_AGENT}")]
    Tasks(usize),
    #[error("--connect-rate 0: give at least 1 attempt in flight")]
    ConnectRate,
    #[error(
        "--agents-per-connection {0}: give between 1 and {MAX_AGENTS_PER_CONNECTION} \
         (the master takes at most {MAX_STREAMS_PER_CONNECTION} streams per connection)"
    )]
    AgentsPerConnection(usize),
    #[error("--hostname-prefix {prefix:?}: {problem}")]
    HostnamePrefix { prefix: String, problem: String },
    #[error("--resources: {0}")]
    Resources(crate::resources::ResourcesError),
}

/// Why the simulator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Flag(#[from] SimFlagError),
    #[error("cannot read the cluster secret file {path}: {problem}")]
    Secret { path: PathBuf, problem: String },
    #[error("cannot write the report file {path}: {source}")]
    Report {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("every simulated agent stopped; the last said: {0}")]
    AllStopped(String),
}

/// The simulator's settings, checked.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub masters: Vec<MasterAddr>,
    pub agents: usize,
    pub fleet: Fleet,
    pub id_prefix: String,
    pub hostname_prefix: String,
    pub tasks_per_agent: usize,
    pub cluster_secret_file: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub connect_rate: usize,
    pub registration_backoff_factor: Duration,
    pub agents_per_connection: usize,
    pub reconnect: Reconnect,
    pub task_mode: TaskMode,
}

impl SimArgs {
    pub fn config(self) -> Result<SimConfig, SimFlagError> {
        let masters = parse_masters(&self.masters).map_err(SimFlagError::Masters)?;
        if !(1..=MAX_AGENTS).contains(&self.agents) {
            return Err(SimFlagError::Agents(self.agents));
        }
        if self.tasks_per_agent > MAX_TASKS_PER_AGENT {
            return Err(SimFlagError::Tasks(self.tasks_per_agent));
        }
        if self.connect_rate == 0 {
            return Err(SimFlagError::ConnectRate);
        }
        if !(1..=MAX_AGENTS_PER_CONNECTION).contains(&self.agents_per_connection) {
            return Err(SimFlagError::AgentsPerConnection(
                self.agents_per_connection,
            ));
        }
        // The longest hostname the fleet will use must be valid.
        check_hostname(&format!("{}{}", self.hostname_prefix, self.agents - 1)).map_err(
            |problem| SimFlagError::HostnamePrefix {
                prefix: self.hostname_prefix.clone(),
                problem,
            },
        )?;
        let fleet = Fleet::new(
            &self.id_prefix,
            &self.hostname_prefix,
            &self.resources,
            self.tasks_per_agent,
        )
        .map_err(SimFlagError::Resources)?;
        Ok(SimConfig {
            masters,
            agents: self.agents,
            fleet,
            id_prefix: self.id_prefix,
            hostname_prefix: self.hostname_prefix,
            tasks_per_agent: self.tasks_per_agent,
            cluster_secret_file: self.cluster_secret_file,
            report: self.report,
            connect_rate: self.connect_rate,
            registration_backoff_factor: self.registration_backoff_factor,
            agents_per_connection: self.agents_per_connection,
            reconnect: self.reconnect,
            task_mode: self.tasks,
        })
    }
}

/// Unix time now, in nanoseconds.
pub fn unix_ns() -> UnixNs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What every simulated agent of the process shares.
struct Shared {
    fleet: Fleet,
    masters: Vec<MasterAddr>,
    backoff_factor: Duration,
    reconnect: Reconnect,
    task_mode: TaskMode,
    auth_header: Option<MetadataValue<Ascii>>,
    pool: ChannelPool,
    attempt_slots: Semaphore,
    tally: Mutex<Tally>,
    /// Unbounded: an agent never waits for the disk; the lines of one
    /// failover are one per agent.
    report: Option<mpsc::UnboundedSender<ReportLine>>,
    last_stop: Mutex<Option<String>>,
}

impl Shared {
    fn tally<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        f(&mut self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn snapshot(&self) -> Tally {
        self.tally(|t| t.clone())
    }

    fn report(&self, line: ReportLine) {
        if let Some(report) = &self.report {
            let _ = report.send(line);
        }
    }

    /// Agent `index` stopped for good.
    fn stopped(&self, index: usize, why: String) {
        tracing::warn!(agent = %self.fleet.name(index), why, "simulated agent stopped");
        self.report(ReportLine::Stopped {
            at_ns: unix_ns(),
            agent: self.fleet.name(index),
            why: why.clone(),
        });
        *self.last_stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
}

fn auth_header(config: &SimConfig) -> Result<Option<MetadataValue<Ascii>>, SimError> {
    let Some(path) = &config.cluster_secret_file else {
        return Ok(None);
    };
    let secret =
        mesoraft_proto::auth::read_secret_file(path).map_err(|problem| SimError::Secret {
            path: path.clone(),
            problem: problem.to_string(),
        })?;
    let value = mesoraft_proto::auth::header_value(&mesoraft_proto::auth::token_of(&secret));
    // Lower-case hex is always a valid header value.
    value.parse().map(Some).map_err(|_| SimError::Secret {
        path: path.clone(),
        problem: "the token is not a valid header value".into(),
    })
}

/// Runs the simulated agents until `stop` completes (then the last
/// counters are reported and returned) or every agent stopped.
pub async fn run(args: SimArgs, stop: impl Future<Output = ()>) -> Result<Tally, SimError> {
    let config = args.config()?;
    match pool::raise_open_files_limit() {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
    let auth_header = auth_header(&config)?;
    let (report_tx, writer) = match &config.report {
        None => (None, None),
        Some(path) => {
            let (tx, writer) = report::Writer::open(path).map_err(|source| SimError::Report {
                path: path.clone(),
                source,
            })?;
            (Some(tx), Some(tokio::spawn(writer.run())))
        }
    };
    let shared = Arc::new(Shared {
        fleet: config.fleet.clone(),
        masters: config.masters.clone(),
        backoff_factor: config.registration_backoff_factor,
        reconnect: config.reconnect,
        task_mode: config.task_mode,
        auth_header,
        pool: ChannelPool::new(config.agents_per_connection),
        attempt_slots: Semaphore::new(config.connect_rate),
        tally: Mutex::new(Tally::new(config.agents as u64)),
        report: report_tx,
        last_stop: Mutex::new(None),
    });
    shared.report(ReportLine::Start {
        at_ns: unix_ns(),
        pid: std::process::id(),
        agents: config.agents as u64,
        id_prefix: config.id_prefix.clone(),
        hostname_prefix: config.hostname_prefix.clone(),
        tasks_per_agent: config.tasks_per_agent,
        agents_per_connection: config.agents_per_connection,
        connect_rate: config.connect_rate,
        masters: config.masters.iter().map(ToString::to_string).collect(),
    });
    tracing::info!(
        agents = config.agents,
        agents_per_connection = config.agents_per_connection,
        connect_rate = config.connect_rate,
        "simulated agents starting"
    );
    let mut agents = tokio::task::JoinSet::new();
    for index in 0..config.agents {
        agents.spawn(follow::follow(index, shared.clone()));
    }
    let mut progress = tokio::time::interval(PROGRESS_INTERVAL);
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let outcome = loop {
        tokio::select! {
            _ = &mut stop => break Ok(()),
            _ = progress.tick() => shared.report(ReportLine::Progress {
                at_ns: unix_ns(),
                tally: shared.snapshot(),
            }),
            joined = agents.join_next() => if joined.is_none() {
                let last = shared.last_stop.lock().unwrap_or_else(|p| p.into_inner()).clone();
                break Err(SimError::AllStopped(last.unwrap_or_default()));
            },
        }
    };
    agents.abort_all();
    while agents.join_next().await.is_some() {}
    let tally = shared.snapshot();
    shared.report(ReportLine::Progress {
        at_ns: unix_ns(),
        tally: tally.clone(),
    });
    // The writer drains its queue and ends once the last sender is gone.
    drop(shared);
    if let Some(writer) = writer {
        if let Ok(Err((path, source))) = writer.await {
            return Err(SimError::Report { path, source });
        }
    }
    outcome.map(|()| tally)
}

#[cfg(test)]
mod tests;
