//! The agents of a run: `mesoraft agent` processes (command lines from the
//! test kit's `AgentCmd`), each in its own network namespace when the
//! masters have theirs, started, killed, paused and restarted with the
//! same flags and work dir. Processes are the cluster's own kind
//! ([`NodeProcess`]: a process group tracked for emergency cleanup), so
//! every exit path kills them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use mesoraft_testkit::master_cmd::AgentHealth;
use mesoraft_testkit::AgentCmd;

use super::process::NodeProcess;
use super::processes::Processes;
use crate::cleanup::Slot;
use crate::net::Net;

/// Small resources: the agents are there to be registered, not to run
/// work.
pub const AGENT_RESOURCES: &str = "cpus:1;mem:256;disk:256;ports:[31000-31009]";
/// The agents' registration backoff factor: retries soon after a fault.
pub const AGENT_BACKOFF: Duration = Duration::from_millis(200);
/// Logs without the transport chatter.
const AGENT_LOG_FILTER: &str = "info,h2=warn,tower=warn,hyper=warn";

/// The masters' agent health flags in runs with agents: a ping round a
/// second, three misses make an agent unreachable, five seconds to come
/// back after a failover (the test kit's fast setting, with a second more
/// to re-register, as a failover here also waits for an election).
pub fn health() -> AgentHealth {
    AgentHealth {
        ping_timeout: Duration::from_secs(1),
        max_ping_timeouts: 3,
        reregister_timeout: Duration::from_secs(5),
        removal_rate_limit: None,
        recovery_removal_limit: None,
    }
}

/// Where one agent lives.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// The harness's number of the agent (1..=A).
    pub index: u64,
    /// `ip:port` it listens on and is reached at.
    pub addr: String,
    pub ip: String,
    pub netns: Option<String>,
    pub work_dir: PathBuf,
    pub log: PathBuf,
}

impl AgentSpec {
    /// Every agent of `net`: work dir `data_root/a<i>`, log `log_dir/a<i>.log`.
    pub fn all_on(net: &Net, data_root: &Path, log_dir: &Path) -> Vec<AgentSpec> {
        net.agents
            .values()
            .map(|place| AgentSpec {
                index: place.id,
                addr: place.addr(),
                ip: place.ip.clone(),
                netns: place.netns.clone(),
                work_dir: data_root.join(format!("a{}", place.id)),
                log: log_dir.join(format!("a{}.log", place.id)),
            })
            .collect()
    }
}

pub struct AgentFleet {
    /// `mesoraft` (its `agent` subcommand); None when agents cannot run
    /// (the fake master).
    program: Option<PathBuf>,
    masters: Vec<String>,
    pub specs: Vec<AgentSpec>,
    /// The agent processes, and the exits nothing caused, not yet taken
    /// by [`AgentFleet::take_exits`].
    procs: Processes,
    slot: Arc<Slot>,
}

impl AgentFleet {
    pub fn new(
        program: Option<PathBuf>,
        masters: Vec<String>,
        specs: Vec<AgentSpec>,
        slot: Arc<Slot>,
    ) -> Self {
        Self {
            program,
            masters,
            specs,
            procs: Processes::new("agent"),
            slot,
        }
    }

    pub fn ids(&self) -> Vec<u64> {
        self.specs.iter().map(|s| s.index).collect()
    }

    pub fn spec(&self, index: u64) -> Option<&AgentSpec> {
        self.specs.iter().find(|s| s.index == index)
    }

    /// The agent's command line (the same on every restart).
    pub fn command(&self, spec: &AgentSpec) -> AgentCmd {
        AgentCmd::new(self.masters.iter().cloned(), &spec.addr, &spec.work_dir)
            .hostname(&spec.ip)
            .resources(AGENT_RESOURCES)
            .registration_backoff_factor(AGENT_BACKOFF)
    }

    /// Starts agent `index` unless it runs.
    pub fn start(&self, index: u64) -> anyhow::Result<()> {
        let program = self
            .program
            .clone()
            .context("agents need the real mesoraft binary")?;
        let spec = self.spec(index).context("no such agent")?.clone();
        let started = self.procs.start_with(index, || {
            std::fs::create_dir_all(&spec.work_dir)
                .with_context(|| format!("creating {}", spec.work_dir.display()))?;
            let env = [("RUST_LOG".to_string(), AGENT_LOG_FILTER.to_string())];
            NodeProcess::spawn(
                &program,
                &self.command(&spec).args(),
                spec.netns.as_deref(),
                &spec.log,
                &env,
            )
        })?;
        if let Some(pgid) = started {
            self.slot.record_group(pgid);
        }
        Ok(())
    }

    pub fn start_all(&self) -> anyhow::Result<()> {
        for index in self.ids() {
            self.start(index)?;
        }
        Ok(())
    }

    /// kill -9; true if it was running.
    pub fn kill(&self, index: u64) -> bool {
        self.procs.kill(index) == Some(true)
    }

    pub fn kill_all(&self) {
        self.procs.kill_all();
    }

    /// SIGSTOP; true if it was running and not paused yet.
    pub fn pause(&self, index: u64) -> bool {
        self.procs.pause(index)
    }

    pub fn resume(&self, index: u64) -> bool {
        self.procs.resume(index)
    }

    pub fn resume_all(&self) -> Vec<u64> {
        self.procs.resume_all()
    }

    /// Agents with a live process (exited ones are reaped and noted).
    pub fn running(&self) -> Vec<u64> {
        self.procs.running()
    }

    /// Waits until every agent says (its `GET /state`) it is registered;
    /// an agent that died fails the wait at once, with its log's end.
    pub async fn wait_registered(&self, timeout: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()?;
        let waiting = Mutex::new(self.ids());
        let deadline = std::time::Instant::now() + timeout;
        let done = crate::wait::until(deadline, Duration::from_millis(200), || async {
            let running = self.running();
            if let Some(dead) = self.ids().into_iter().find(|i| !running.contains(i)) {
                let log = self.spec(dead).map(|s| s.log.clone()).unwrap_or_default();
                return Some(Err(anyhow::anyhow!(
                    "agent {dead} is not running; end of its log {}:\n{}",
                    log.display(),
                    mesoraft_testkit::log_tail(&log, 8)
                )));
            }
            let mut left = Vec::new();
            for spec in &self.specs {
                let url = format!("http://{}/state", spec.addr);
                let registered = match http.get(&url).send().await {
                    Ok(resp) => resp
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v.get("registered")?.as_bool())
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if !registered {
                    left.push(spec.index);
                }
            }
            let all = left.is_empty();
            *waiting.lock().unwrap_or_else(|e| e.into_inner()) = left;
            all.then_some(Ok(()))
        })
        .await;
        done.unwrap_or_else(|| {
            let left = waiting.into_inner().unwrap_or_else(|e| e.into_inner());
            Err(anyhow::anyhow!(
                "agents {left:?} not registered after {timeout:?}"
            ))
        })
    }

    /// Exits nothing caused since the last call.
    pub fn take_exits(&self) -> Vec<(u64, String)> {
        self.procs.take_exits()
    }
}

impl Drop for AgentFleet {
    fn drop(&mut self) {
        self.resume_all();
        self.kill_all();
    }
}
