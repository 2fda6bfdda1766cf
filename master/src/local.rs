//! `mesoraft local`: a three-master group on loopback, for trying mesoraft
//! on one machine. Each master is a child process of this one (the same
//! executable, `master` subcommand), logging to `<dir>/master-N.log`. The
//! group gets a fresh cluster secret (`<dir>/cluster-secret`), so it runs
//! authenticated like a production group.
//!
//! [`start`] brings the group up and waits for its leader; the caller may
//! then look at it (the `mesoraft` binary prints `raftctl status`) before
//! [`LocalGroup::run_until_stopped`] keeps it up until Ctrl-C.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::status::RaftStatus;

#[derive(clap::Args, Debug, Clone)]
pub struct LocalArgs {
    /// Number of masters (3 or 5).
    #[arg(long, default_value_t = 3)]
    pub masters: u64,

    /// First port; masters use consecutive ports. 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub base_port: u16,

    /// Where masters keep their work dirs and logs (default: a fresh
    /// temporary directory, removed on exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Children are killed when this guard drops, also on error paths.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.start_kill();
        }
    }
}

/// A local group whose masters run, with a leader elected. Dropping it
/// kills the masters and removes a temporary directory.
pub struct LocalGroup {
    /// The masters' addresses, in id order.
    pub addresses: Vec<String>,
    /// The cluster secret file every master was given.
    pub secret_file: PathBuf,
    dir: PathBuf,
    // Declared before `_temp`: the masters are killed before their
    // directory is removed.
    children: Children,
    _temp: Option<TempDir>,
}

/// Starts the masters and waits for a leader that every master follows.
pub async fn start(args: LocalArgs) -> anyhow::Result<LocalGroup> {
    if args.masters == 0 || args.masters.is_multiple_of(2) {
        bail!("--masters must be odd (3 or 5): an even group tolerates no more failures");
    }
    let (dir, _temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = std::env::temp_dir().join(format!("mesoraft-local-{}", std::process::id()));
            (t.clone(), Some(TempDir(t)))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut addrs = Vec::new();
    for i in 0..args.masters {
        let port = if args.base_port == 0 {
            crate::ports::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
                .context("cannot find a free port on 127.0.0.1")?
        } else {
            args.base_port + i as u16
        };
        addrs.push(format!("127.0.0.1:{port}"));
    }
    let peers: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let peers = peers.join(",");
    let exe = std::env::current_exe().context("cannot locate the mesoraft executable")?;
    let secret_file = write_secret(&dir)?;

    let mut children = Children(Vec::new());
    for (i, addr) in addrs.iter().enumerate() {
        let id = i + 1;
        let log = std::fs::File::create(dir.join(format!("master-{id}.log")))?;
        let child = Command::new(&exe)
            .args([
                "master",
                "--id",
                &id.to_string(),
                "--listen",
                addr,
                "--peers",
                &peers,
            ])
            .arg("--work-dir")
            .arg(dir.join(format!("master-{id}")))
            .arg("--cluster-secret-file")
            .arg(&secret_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start master {id}"))?;
        children.0.push(child);
    }

    println!(
        "mesoraft local: {} masters, work dirs and logs in {}",
        args.masters,
        dir.display()
    );
    for (i, addr) in addrs.iter().enumerate() {
        println!("  master {} at http://{addr}", i + 1);
    }
    let leader = wait_for_leader(&addrs, Duration::from_secs(30)).await?;
    println!("leader: {leader}\n");
    Ok(LocalGroup {
        addresses: addrs,
        secret_file,
        dir,
        children,
        _temp,
    })
}

impl LocalGroup {
    /// Keeps the group up until Ctrl-C (then stops the masters gently) or
    /// until a master exits by itself (an error).
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        println!("Ctrl-C stops the group.");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => println!("\nstopping..."),
            exited = wait_any(&mut self.children) => bail!(
                "a master exited unexpectedly ({exited}); see its log in {}",
                self.dir.display()
            ),
        }
        stop_gracefully(&mut self.children).await;
        Ok(())
    }
}

/// A fresh random cluster secret, readable by this user only.
fn write_secret(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    use rand::RngCore;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("cluster-secret");
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{text}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

async fn wait_any(children: &mut Children) -> String {
    let waits =
        children.0.iter_mut().enumerate().map(|(i, c)| {
            Box::pin(async move { format!("master {}: {:?}", i + 1, c.wait().await) })
        });
    futures::future::select_all(waits).await.0
}

/// SIGTERM, then SIGKILL after a grace period.
async fn stop_gracefully(children: &mut Children) {
    for child in &children.0 {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    for child in &mut children.0 {
        tokio::select! {
            _ = child.wait() => {}
            _ = &mut deadline => { let _ = child.start_kill(); }
        }
    }
}

/// Waits for a leader that every master follows (the masters the leader
/// did not survey at initialization join a moment later, once it bound
/// their slots); settles for a leader alone at the deadline.
async fn wait_for_leader(addrs: &[String], limit: Duration) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let deadline = Instant::now() + limit;
    let mut found = None;
    while Instant::now() < deadline {
        let statuses = futures::future::join_all(addrs.iter().map(|addr| {
            let client = &client;
            async move {
                client
                    .get(format!("http://{addr}/raft/status"))
                    .send()
                    .await
                    .ok()?
                    .json::<RaftStatus>()
                    .await
                    .ok()
            }
        }))
        .await;
        let leader = statuses
            .iter()
            .flatten()
            .find(|s| s.role == "leader" && s.cluster_id.is_some());
        if let Some(l) = leader {
            let label = format!("master {} at {}", l.id, l.address);
            let all_follow = statuses
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| s.leader_id == Some(l.id)));
            if all_follow {
                return Ok(label);
            }
            found = Some(label);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    found.ok_or_else(|| anyhow::anyhow!("no leader elected within {limit:?}; see the master logs"))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
