//! `mesoraft local`: a group of masters on loopback, for trying mesoraft on
//! one machine. Each master is a child process (the `mesoraft` executable
//! given, `master` subcommand) in its own process group, logging to
//! `<dir>/master-N.log`. The group gets a fresh cluster secret
//! (`<dir>/cluster-secret`), so it runs authenticated like a production
//! group.
//!
//! It lives in the test kit because it is the same job as a test cluster:
//! command lines from [`MasterCmd`], processes in a [`ProcessGroup`], the
//! leader found by the typed status probe.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::ProcessGroup;
use crate::status::{probe, status_url, Status};
use crate::wait::poll_every;
use crate::MasterCmd;

/// How long the masters get to elect a leader that all of them follow.
const LEADER_LIMIT: Duration = Duration::from_secs(30);
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
    /// A master exited by itself.
    MasterExited {
        id: u64,
        status: String,
        log: PathBuf,
    },
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
            LocalError::MasterExited { id, status, log } => write!(
                f,
                "master {id} exited unexpectedly ({status}); see its log {}",
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
    // Declared before `_temp`: the masters are killed before their
    // directory is removed.
    masters: Vec<(u64, ProcessGroup)>,
    _temp: Option<TempDir>,
}

/// Starts the masters and waits for a leader that every master follows.
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

    let mut masters = Vec::new();
    for (id, addr) in &peers {
        let cmd = MasterCmd::new(*id, addr.clone(), dir.join(format!("master-{id}")))
            .peers(peers.clone())
            .cluster_secret_file(&secret_file);
        let mut command = std::process::Command::new(&options.exe);
        command.args(cmd.args());
        let log = dir.join(format!("master-{id}.log"));
        let group = ProcessGroup::spawn(command, &log, None)
            .map_err(io(format!("start master {id} ({})", options.exe.display())))?;
        masters.push((*id, group));
    }
    let leader = wait_for_leader(&addresses, LEADER_LIMIT)
        .await
        .ok_or_else(|| LocalError::NoLeader {
            limit: LEADER_LIMIT,
            dir: dir.clone(),
        })?;
    Ok(LocalGroup {
        addresses,
        secret_file,
        dir,
        leader,
        masters,
        _temp: temp,
    })
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
        let dir = self.dir.clone();
        let masters = &mut self.masters;
        let found = poll_every(far_future(), LOOK_EVERY, || {
            let exited = masters.iter_mut().find_map(|(id, group)| {
                let status = group.exited()?;
                Some(LocalError::MasterExited {
                    id: *id,
                    status: match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    },
                    log: dir.join(format!("master-{id}.log")),
                })
            });
            async move { exited }
        })
        .await;
        found.unwrap_or_else(|| LocalError::Invalid("the group stopped being watched".into()))
    }

    async fn stop_gently(&mut self) {
        for (_, group) in &self.masters {
            group.terminate();
        }
        let masters = &mut self.masters;
        let _ = poll_every(Instant::now() + STOP_GRACE, LOOK_EVERY, || {
            let all_gone = masters.iter_mut().all(|(_, g)| g.exited().is_some());
            async move { all_gone.then_some(()) }
        })
        .await;
        // Dropping the groups SIGKILLs whatever did not stop in time.
        self.masters.clear();
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
                crate::ports::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
                    .map_err(io("find a free port on 127.0.0.1"))?
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
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(start(options)).err().unwrap();
        assert!(err.to_string().contains("must be odd"), "{err}");
    }
}
