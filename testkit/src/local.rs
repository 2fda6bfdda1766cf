//! `mesoraft local`: a group of masters and agents on loopback, for trying
//! mesoraft on one machine. Each master and agent is a child process (the
//! `mesoraft` executable given, `master` or `agent` subcommand) in its own
//! process group, logging to `<dir>/master-N.log` and `<dir>/agent-N.log`. The group gets a fresh cluster secret
//! (`<dir>/cluster-secret`), so it runs authenticated like a production
//! group.
//!
//! It lives in the test kit because it is the same job as a test cluster:
//! command lines from [`MasterCmd`] and [`AgentCmd`], processes in a [`ProcessGroup`], the
//! leader found by the typed status probe.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::ProcessGroup;
use crate::status::{probe, status_url, Status};
use crate::wait::poll_every;
use crate::{AgentCmd, MasterCmd};

/// How long the masters get to elect a leader that all of them follow.
const LEADER_LIMIT: Duration = Duration::from_secs(30);
/// How long an agent gets to register.
const AGENT_LIMIT: Duration = Duration::from_secs(30);
/// How long the masters get to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the group is looked at while it starts and runs.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// What to start.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// The `mesoraft` executable.
    pub exe: PathBuf,
    /// Number of masters: odd (3 or 5).
    pub masters: u64,
    /// First port (masters use consecutive ports); 0 picks free ports.
    pub base_port: u16,
    /// Where work dirs and logs go; None: a fresh temporary directory,
    /// removed when the group is dropped.
    pub dir: Option<PathBuf>,
    /// Agents started on the masters (small resources each).
    pub agents: u64,
}

/// Why the group could not be started or stopped running.
#[derive(Debug)]
pub enum LocalError {
    /// The options cannot make a group.
    Invalid(String),
    /// A file, directory, port or process could not be made.
    Io { what: String, error: std::io::Error },
    /// The masters ran but elected no leader in time.
    NoLeader { limit: Duration, dir: PathBuf },
    /// A master or an agent exited by itself.
    Exited {
        what: String,
        status: String,
        log: PathBuf,
    },
    /// An agent did not register in time.
    AgentNotRegistered { name: String, log: PathBuf },
}

impl std::fmt::Display for LocalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalError::Invalid(why) => f.write_str(why),
            LocalError::Io { what, error } => write!(f, "cannot {what}: {error}"),
            LocalError::NoLeader { limit, dir } => write!(
                f,
                "no leader elected within {limit:?}; see the master logs in {}",
                dir.display()
            ),
            LocalError::Exited { what, status, log } => write!(
                f,
                "{what} exited unexpectedly ({status}); see its log {}",
                log.display()
            ),
            LocalError::AgentNotRegistered { name, log } => write!(
                f,
                "{name} did not register within {AGENT_LIMIT:?}; see its log {}",
                log.display()
            ),
        }
    }
}

impl std::error::Error for LocalError {}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
    let what = what.into();
    move |error| LocalError::Io { what, error }
}

/// A running local group with a leader. Dropping it kills the masters and
/// removes a temporary directory.
pub struct LocalGroup {
    /// The masters' addresses, in id order.
    pub addresses: Vec<String>,
    /// The cluster secret file every master was given.
    pub secret_file: PathBuf,
    /// Work dirs and logs.
    pub dir: PathBuf,
    /// "master N at ADDR" of the leader found at start.
    pub leader: String,
    /// The agents: name, HTTP address and the id the masters gave.
    pub agents: Vec<LocalAgent>,
    // Declared before `_temp`: the processes are killed before their
    // directory is removed.
    processes: Vec<Running>,
    _temp: Option<TempDir>,
}

/// One agent of the local group.
#[derive(Clone, Debug)]
pub struct LocalAgent {
    pub name: String,
    pub address: String,
    pub agent_id: String,
}

/// A process of the group and where its output goes.
struct Running {
    what: String,
    log: PathBuf,
    group: ProcessGroup,
}

/// Starts the masters, waits for a leader that every master follows, then
/// starts the agents and waits for their registration.
pub async fn start(options: LocalOptions) -> Result<LocalGroup, LocalError> {
    if options.masters == 0 || options.masters.is_multiple_of(2) {
        return Err(LocalError::Invalid(
            "--masters must be odd (3 or 5): an even group tolerates no more failures".into(),
        ));
    }
    let (dir, temp) = match &options.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = std::env::temp_dir().join(format!("mesoraft-local-{}", std::process::id()));
            (t.clone(), Some(TempDir(t)))
        }
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;

    let addresses = addresses(options.masters, options.base_port)?;
    let peers: Vec<(u64, String)> = (1..).zip(addresses.iter().cloned()).collect();
    let secret_file = write_secret(&dir)?;

    let mut processes = Vec::new();
    for (id, addr) in &peers {
        let cmd = MasterCmd::new(*id, addr.clone(), dir.join(format!("master-{id}")))
            .peers(peers.clone())
            .cluster_secret_file(&secret_file);
        let what = format!("master {id}");
        let log = dir.join(format!("master-{id}.log"));
        processes.push(spawn(&options.exe, cmd.args(), what, log)?);
    }
    let leader = wait_for_leader(&addresses, LEADER_LIMIT)
        .await
        .ok_or_else(|| LocalError::NoLeader {
            limit: LEADER_LIMIT,
            dir: dir.clone(),
        })?;
    let mut agents = Vec::new();
    for n in 1..=options.agents {
        let name = format!("agent {n}");
        let address = format!("127.0.0.1:{}", free_port()?);
        // Each agent its own port range, so their offers never overlap.
        let first_port = 31000 + (n - 1) * 100;
        let cmd = AgentCmd::new(
            addresses.clone(),
            address.clone(),
            dir.join(format!("agent-{n}")),
        )
        .cluster_secret_file(&secret_file)
        .resources(format!(
            "cpus:1;mem:512;disk:1024;ports:[{first_port}-{}]",
            first_port + 99
        ));
        let log = dir.join(format!("agent-{n}.log"));
        processes.push(spawn(&options.exe, cmd.args(), name.clone(), log.clone())?);
        let agent_id =
            wait_for_agent(&address, AGENT_LIMIT)
                .await
                .ok_or(LocalError::AgentNotRegistered {
                    name: name.clone(),
                    log,
                })?;
        agents.push(LocalAgent {
            name,
            address,
            agent_id,
        });
    }
    Ok(LocalGroup {
        addresses,
        secret_file,
        dir,
        leader,
        agents,
        processes,
        _temp: temp,
    })
}

fn spawn(exe: &Path, args: Vec<String>, what: String, log: PathBuf) -> Result<Running, LocalError> {
    let mut command = std::process::Command::new(exe);
    command.args(args);
    let group = ProcessGroup::spawn(command, &log, None)
        .map_err(io(format!("start {what} ({})", exe.display())))?;
    Ok(Running { what, log, group })
}

fn free_port() -> Result<u16, LocalError> {
    crate::ports::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
        .map_err(io("find a free port on 127.0.0.1"))
}

/// The agent's id once its `/state` says it is registered.
async fn wait_for_agent(address: &str, limit: Duration) -> Option<String> {
    let http = reqwest::Client::new();
    let url = format!("http://{address}/state");
    poll_every(Instant::now() + limit, LOOK_EVERY, || {
        let request = http.get(&url).timeout(Duration::from_millis(500)).send();
        async move {
            let state: serde_json::Value = request.await.ok()?.json().await.ok()?;
            if state["registered"].as_bool()? {
                Some(state["id"].as_str()?.to_string())
            } else {
                None
            }
        }
    })
    .await
}

impl LocalGroup {
    /// Returns when a master exits by itself (an error naming it) or when
    /// `stop` completes (Ok); then stops the others gently: SIGTERM, and
    /// SIGKILL after a grace period.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), LocalError> {
        let exited = tokio::select! {
            _ = stop => None,
            exited = self.first_exit() => Some(exited),
        };
        self.stop_gently().await;
        match exited {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    async fn first_exit(&mut self) -> LocalError {
        let processes = &mut self.processes;
        let found = poll_every(far_future(), LOOK_EVERY, || {
            let exited = processes.iter_mut().find_map(|p| {
                let status = p.group.exited()?;
                Some(LocalError::Exited {
                    what: p.what.clone(),
                    status: match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    },
                    log: p.log.clone(),
                })
            });
            async move { exited }
        })
        .await;
        found.unwrap_or_else(|| LocalError::Invalid("the group stopped being watched".into()))
    }

    async fn stop_gently(&mut self) {
        for p in &self.processes {
            p.group.terminate();
        }
        let processes = &mut self.processes;
        let _ = poll_every(Instant::now() + STOP_GRACE, LOOK_EVERY, || {
            let all_gone = processes.iter_mut().all(|p| p.group.exited().is_some());
            async move { all_gone.then_some(()) }
        })
        .await;
        // Dropping the groups SIGKILLs whatever did not stop in time.
        self.processes.clear();
    }
}

/// An instant no run reaches (a century away).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Loopback addresses for `count` masters: consecutive from `base_port`,
/// or free ports when it is 0.
fn addresses(count: u64, base_port: u16) -> Result<Vec<String>, LocalError> {
    (0..count)
        .map(|i| {
            let port = if base_port == 0 {
                free_port()?
            } else {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| base_port.checked_add(i))
                    .ok_or_else(|| {
                        LocalError::Invalid(format!(
                            "--base-port {base_port} leaves no room for {count} masters"
                        ))
                    })?
            };
            Ok(format!("127.0.0.1:{port}"))
        })
        .collect()
}

/// A fresh random cluster secret, readable by this user only.
fn write_secret(dir: &Path) -> Result<PathBuf, LocalError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("cluster-secret");
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("read random bytes from /dev/urandom"))?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(format!("create {}", path.display())))?;
    writeln!(file, "{text}").map_err(io(format!("write {}", path.display())))?;
    Ok(path)
}

/// Waits for a leader that every master follows (the masters the leader
/// did not survey at initialization join a moment later, once it bound
/// their slots); settles for a leader alone at the deadline.
async fn wait_for_leader(addresses: &[String], limit: Duration) -> Option<String> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    let mut ticks = tokio::time::interval(LOOK_EVERY);
    let mut found = None;
    while Instant::now() < deadline {
        ticks.tick().await;
        let statuses = statuses(&http, addresses).await;
        let Some(leader) = statuses
            .iter()
            .flatten()
            .find(|s| s.is_leader() && s.cluster_id.is_some())
        else {
            continue;
        };
        let label = format!("master {} at {}", leader.id, address_of(leader, addresses));
        let everyone_follows = statuses
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.leader_id == Some(leader.id)));
        if everyone_follows {
            return Some(label);
        }
        found = Some(label);
    }
    found
}

/// Every master's status, None where it did not answer.
async fn statuses(http: &reqwest::Client, addresses: &[String]) -> Vec<Option<Status>> {
    let mut statuses = Vec::with_capacity(addresses.len());
    // Sequential on purpose: at most five masters, each answering in
    // microseconds on loopback; a timeout bounds a hung one.
    for addr in addresses {
        let url = status_url("http", addr, false);
        statuses.push(probe(http, &url, Duration::from_millis(500)).await.ok());
    }
    statuses
}

/// The leader's address as this group knows it (by id order).
fn address_of(leader: &Status, addresses: &[String]) -> String {
    usize::try_from(leader.id)
        .ok()
        .and_then(|id| id.checked_sub(1))
        .and_then(|i| addresses.get(i))
        .cloned()
        .unwrap_or_else(|| format!("id {}", leader.id))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ports_from_a_base_and_no_overflow() {
        assert_eq!(
            addresses(3, 7000).unwrap(),
            vec!["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]
        );
        assert!(matches!(
            addresses(3, u16::MAX),
            Err(LocalError::Invalid(_))
        ));
    }

    #[test]
    fn an_even_group_is_refused_before_anything_starts() {
        let options = LocalOptions {
            exe: PathBuf::from("/nonexistent"),
            masters: 4,
            base_port: 0,
            dir: None,
            agents: 2,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(start(options)).err().unwrap();
        assert!(err.to_string().contains("must be odd"), "{err}");
    }
}
