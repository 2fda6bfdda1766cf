//! The cluster under test: one master process per node, started, killed,
//! paused and restarted on demand, plus waits for health and leadership
//! with deadlines; and its agents ([`agents`]), when the run has some.

pub mod agents;
pub mod binaries;
pub mod process;
pub mod processes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use mesoraft_testkit::master_cmd::AgentHealth;
use mesoraft_testkit::MasterCmd;

use agents::{AgentFleet, AgentSpec};
pub use binaries::Binaries;
pub use mesoraft_testkit::log_tail;
use process::NodeProcess;
use processes::Processes;

use crate::cleanup::Slot;
use crate::client::{ApiClient, RaftStatus};
use crate::lazyfs::{CrashReport, LazyFs, LazyFsHandle};
use crate::net::Net;

#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: u64,
    /// `host:port` the node listens on and is reached at.
    pub addr: String,
    pub netns: Option<String>,
    /// The master's `--work-dir`.
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl NodeSpec {
    /// Every node of `net`: work dir `data_root/n<id>`, log `log_dir/n<id>.log`.
    pub fn all_on(net: &Net, ids: &[u64], data_root: &Path, log_dir: &Path) -> Vec<NodeSpec> {
        ids.iter()
            .map(|&id| {
                let n = net.node(id);
                NodeSpec {
                    id,
                    addr: n.addr(),
                    netns: n.netns.clone(),
                    data_dir: data_root.join(format!("n{id}")),
                    log: log_dir.join(format!("n{id}.log")),
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub binaries: Binaries,
    /// The masters' timing flags; `None` leaves the flag out, so the
    /// master's own default applies.
    pub heartbeat_ms: Option<u64>,
    pub election_min_ms: Option<u64>,
    pub election_max_ms: Option<u64>,
    pub snapshot_logs: Option<u64>,
    /// The deliberately broken setting: followers serve stale reads.
    pub stale_reads: bool,
    /// The deliberately broken setting: log writes acknowledged unsynced.
    pub skip_fsync: bool,
    /// The deliberately broken setting: unreachable agents' tasks ended
    /// as if the agents were gone.
    pub forget_unreachable_tasks: bool,
    /// Each master's work dir is a lazyfs mount (unsynced writes can be
    /// dropped, see `crash_unsynced`).
    pub lazyfs: bool,
    /// The masters' agent health flags (runs with agents); `None` leaves
    /// the masters' defaults.
    pub agent_health: Option<AgentHealth>,
    pub env: Vec<(String, String)>,
}

pub struct Cluster {
    pub cfg: ClusterConfig,
    pub nodes: Vec<NodeSpec>,
    /// The master processes, and their exits we did not cause.
    masters: Processes,
    /// Nodes that must (re)start with `--join` (they were re-added by a
    /// membership change and are no longer part of the initial `--peers`).
    join_mode: Mutex<BTreeSet<u64>>,
    /// lazyfs mounts of the work dirs, when `cfg.lazyfs`.
    mounts: Mutex<BTreeMap<u64, LazyFsHandle>>,
    slot: Arc<Slot>,
    /// For status and health probes.
    pub probe: ApiClient,
    /// The agents (none unless the run asked for some).
    pub agents: AgentFleet,
}

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the start-up waits ask again.
const HEALTH_POLL: Duration = Duration::from_millis(100);
const READY_POLL: Duration = Duration::from_millis(150);

impl Cluster {
    pub fn new(cfg: ClusterConfig, nodes: Vec<NodeSpec>, slot: Arc<Slot>) -> anyhow::Result<Self> {
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        let agents = AgentFleet::new(
            cfg.binaries.agent.clone(),
            addrs.clone(),
            Vec::new(),
            slot.clone(),
        );
        Ok(Self {
            cfg,
            nodes,
            masters: Processes::new("master"),
            join_mode: Mutex::new(BTreeSet::new()),
            mounts: Mutex::new(BTreeMap::new()),
            slot,
            probe: ApiClient::new(addrs, PROBE_TIMEOUT)?,
            agents,
        })
    }

    /// The same cluster with agents `specs` (not started).
    pub fn with_agents(mut self, specs: Vec<AgentSpec>) -> Self {
        self.agents.specs = specs;
        self
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn node(&self, id: u64) -> &NodeSpec {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("known node id")
    }

    pub fn addr(&self, id: u64) -> &str {
        &self.node(id).addr
    }

    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// The master's command line: the program's prefix (`master`, or the
    /// fake's subcommand) and the test kit's flags.
    fn master_args(&self, node: &NodeSpec) -> Vec<String> {
        let join = self
            .join_mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&node.id);
        let cmd = MasterCmd::new(node.id, &node.addr, &node.data_dir);
        let cmd = if join {
            cmd.join(
                self.nodes
                    .iter()
                    .filter(|n| n.id != node.id)
                    .map(|n| n.addr.clone()),
            )
        } else {
            cmd.peers(self.nodes.iter().map(|n| (n.id, n.addr.clone())))
        };
        let cmd = cmd
            .heartbeat_interval_ms(self.cfg.heartbeat_ms)
            .election_timeout_min_ms(self.cfg.election_min_ms)
            .election_timeout_max_ms(self.cfg.election_max_ms)
            .snapshot_logs(self.cfg.snapshot_logs)
            .stale_reads(self.cfg.stale_reads)
            .skip_fsync(self.cfg.skip_fsync)
            .forget_unreachable_tasks(self.cfg.forget_unreachable_tasks)
            .agent_health(self.cfg.agent_health.clone());
        let mut args = self.cfg.binaries.master_prefix.clone();
        args.extend(cmd.flags());
        args
    }

    /// Starts a node unless it is already running.
    pub fn start(&self, id: u64) -> anyhow::Result<()> {
        let started = self.masters.start_with(id, || {
            let node = self.node(id).clone();
            std::fs::create_dir_all(&node.data_dir)
                .with_context(|| format!("creating {}", node.data_dir.display()))?;
            self.ensure_mounted(&node)?;
            let args = self.master_args(&node);
            NodeProcess::spawn(
                &self.cfg.binaries.master,
                &args,
                node.netns.as_deref(),
                &node.log,
                &self.cfg.env,
            )
        })?;
        if let Some(pgid) = started {
            self.slot.record_group(pgid);
        }
        Ok(())
    }

    pub fn start_all(&self) -> anyhow::Result<()> {
        for id in self.ids() {
            self.start(id)?;
        }
        Ok(())
    }

    /// kill -9; true if it had been started (running or not).
    pub fn kill(&self, id: u64) -> bool {
        self.masters.kill(id).is_some()
    }

    pub fn kill_all(&self) {
        self.masters.kill_all();
    }

    /// SIGSTOP; true if it was running and not paused yet.
    pub fn pause(&self, id: u64) -> bool {
        self.masters.pause(id)
    }

    pub fn resume(&self, id: u64) -> bool {
        self.masters.resume(id)
    }

    pub fn resume_all(&self) -> Vec<u64> {
        self.masters.resume_all()
    }

    /// Nodes with a live process (exited ones are reaped and noted).
    pub fn running(&self) -> Vec<u64> {
        self.masters.running()
    }

    /// (node, pid) of every master process we started and have not
    /// killed (the pid is also its process group).
    pub fn pids(&self) -> Vec<(u64, i32)> {
        self.masters.pids()
    }

    pub fn unexpected_exits(&self) -> Vec<(u64, String)> {
        self.masters.exits_so_far()
    }

    /// Deletes a (stopped) node's data, as for a brand-new machine.
    pub fn wipe(&self, id: u64) -> anyhow::Result<()> {
        let dir = &self.node(id).data_dir;
        if !dir.exists() {
            return Ok(());
        }
        if self.mounts().contains_key(&id) {
            // The mount point stays; what is in it goes.
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.with_context(|| format!("wiping {}", path.display()))?;
            }
            return Ok(());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("wiping {}", dir.display()))
    }

    fn mounts(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, LazyFsHandle>> {
        self.mounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mounts the node's work dir on lazyfs (backing `<work dir>.backing`)
    /// when the cluster runs on lazyfs. Mounted once, before the first
    /// start: a master in a network namespace sees the mounts that existed
    /// when it started.
    fn ensure_mounted(&self, node: &NodeSpec) -> anyhow::Result<()> {
        if !self.cfg.lazyfs || self.mounts().contains_key(&node.id) {
            return Ok(());
        }
        let backing = node.data_dir.with_extension("backing");
        let handle = LazyFs::mount(&backing, &node.data_dir)
            .with_context(|| format!("mounting lazyfs on {}", node.data_dir.display()))?;
        self.mounts().insert(node.id, handle);
        Ok(())
    }

    /// Whether the work dirs are lazyfs mounts.
    pub fn runs_on_lazyfs(&self) -> bool {
        self.cfg.lazyfs
    }

    /// Drops every write of master `id` that was not fsynced, as a power
    /// loss would (kill the master first). None without lazyfs.
    pub fn crash_unsynced(&self, id: u64) -> Option<CrashReport> {
        self.mounts().get(&id).map(LazyFsHandle::crash)
    }

    /// kill -9 of every master, and on lazyfs the loss of everything they
    /// had not fsynced: a power loss of the whole group.
    pub fn crash_all(&self) -> Vec<(u64, CrashReport)> {
        self.kill_all();
        self.mounts()
            .iter()
            .map(|(id, m)| (*id, m.crash()))
            .collect()
    }

    pub fn set_join_mode(&self, id: u64) {
        self.join_mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
    }

    pub async fn status(&self, id: u64) -> Result<RaftStatus, String> {
        self.probe.status(self.addr(id), PROBE_TIMEOUT).await
    }

    /// Every node's status, concurrently.
    pub async fn statuses(&self) -> Vec<(u64, Result<RaftStatus, String>)> {
        let futs = self
            .ids()
            .into_iter()
            .map(|id| async move { (id, self.status(id).await) });
        futures::future::join_all(futs).await
    }

    /// The node that reports itself leader with the highest term.
    pub async fn leader(&self) -> Option<u64> {
        self.statuses()
            .await
            .into_iter()
            .filter_map(|(id, s)| s.ok().filter(|s| s.is_leader()).map(|s| (s.term, id)))
            .max()
            .map(|(_, id)| id)
    }

    /// Waits until the given nodes answer `/health`; a master that died
    /// fails the wait at once, with the end of its log.
    pub async fn wait_healthy(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<()> {
        let down = Mutex::new(ids.to_vec());
        let answer = crate::wait::until(Instant::now() + timeout, HEALTH_POLL, || async {
            let futs = ids
                .iter()
                .map(|id| self.probe.healthy(self.addr(*id), PROBE_TIMEOUT));
            let ok = futures::future::join_all(futs).await;
            if ok.iter().all(|b| *b) {
                return Some(Ok(()));
            }
            // A master that died will not become healthy: say why at once.
            let running = self.running();
            if let Some(dead) = ids.iter().find(|id| !running.contains(id)) {
                return Some(Err(self.dead_master(*dead)));
            }
            *down.lock().unwrap_or_else(|e| e.into_inner()) = ids
                .iter()
                .zip(ok)
                .filter(|(_, ok)| !ok)
                .map(|(id, _)| *id)
                .collect();
            None
        })
        .await;
        answer.unwrap_or_else(|| {
            let down = down.into_inner().unwrap_or_else(|e| e.into_inner());
            Err(anyhow!("nodes {down:?} not healthy after {timeout:?}"))
        })
    }

    fn dead_master(&self, dead: u64) -> anyhow::Error {
        let status = self
            .unexpected_exits()
            .into_iter()
            .rev()
            .find(|(id, _)| *id == dead)
            .map_or_else(|| "not started".to_string(), |(_, s)| s);
        anyhow!(
            "master {dead} is not running ({status}); end of its log {}:\n{}",
            self.node(dead).log.display(),
            log_tail(&self.node(dead).log, 8)
        )
    }

    /// Waits until some node is leader and serves a linearizable read;
    /// returns the leader.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<u64> {
        let last = Mutex::new(String::new());
        let ready = crate::wait::until(Instant::now() + timeout, READY_POLL, || async {
            let why = match self.leader().await {
                Some(leader) => {
                    let (outcome, _) = self
                        .probe
                        .operator(self.addr(leader), &crate::client::get_weights(), false)
                        .await;
                    match outcome {
                        crate::client::Outcome::Ok(_) => return Some(leader),
                        other => format!("leader {leader} answered GET_WEIGHTS with {other:?}"),
                    }
                }
                None => "no node reports itself leader".to_string(),
            };
            *last.lock().unwrap_or_else(|e| e.into_inner()) = why;
            None
        })
        .await;
        ready.ok_or_else(|| {
            let last = last.into_inner().unwrap_or_else(|e| e.into_inner());
            anyhow!("cluster not ready after {timeout:?}: {last}")
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.agents.resume_all();
        self.agents.kill_all();
        // Masters first: a mount in use by a live process cannot go quietly.
        self.kill_all();
        for (id, m) in std::mem::take(&mut *self.mounts()) {
            if let Err(e) = m.unmount() {
                tracing::warn!(node = id, error = %e, "lazyfs unmount");
            }
        }
    }
}
