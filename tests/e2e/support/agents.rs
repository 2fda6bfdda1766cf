//! Test support: real agent processes following a test's master group,
//! and the leader's view of them (operator GET_AGENTS).
//!
//! An `AgentProc` kills its process when dropped, also when a test fails
//! (then it prints its log's tail).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use mesoraft_testkit::process::ProcessGroup;
// Not every test file uses every re-export.
#[allow(unused_imports)]
pub use mesoraft_testkit::agent_cmd::{AgentCmd, ReconfigurationPolicy, Recover};
pub use mesoraft_testkit::master_cmd::AgentHealth;
use serde_json::{json, Value};

use super::{free_port, Cluster, MESORAFT};

/// Fast agent health checks for tests: a ping round a second, three misses
/// make an agent unreachable, four seconds to come back after a failover.
pub fn fast_health() -> AgentHealth {
    AgentHealth {
        ping_timeout: Duration::from_secs(1),
        max_ping_timeouts: 3,
        reregister_timeout: Duration::from_secs(4),
        removal_rate_limit: None,
        recovery_removal_limit: None,
    }
}

pub struct AgentProc {
    pub name: String,
    /// Where its HTTP endpoints listen.
    pub addr: String,
    pub work_dir: PathBuf,
    pub log: PathBuf,
    /// The command line it (re)starts with.
    pub cmd: AgentCmd,
    group: Option<ProcessGroup>,
    http: reqwest::Client,
    /// Its executors outlive it by design; the test's end ends them.
    _executors: mesoraft_agent::testing::SandboxReaper,
}

impl AgentProc {
    /// An agent (not started) of `cluster`'s masters, with small resources
    /// and fast registration retries.
    pub fn new(cluster: &Cluster, name: &str) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let work_dir = cluster.dir.path().join(format!("agent-{name}"));
        let cmd = AgentCmd::new(cluster.all_addrs(), addr.clone(), &work_dir)
            .cluster_secret_file(&cluster.secret_file)
            .resources("cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
            .registration_backoff_factor(Duration::from_millis(200));
        Self {
            name: name.to_string(),
            log: cluster.dir.path().join(format!("agent-{name}.log")),
            addr,
            _executors: mesoraft_agent::testing::SandboxReaper::new(&work_dir),
            work_dir,
            cmd,
            group: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        }
    }

    pub fn spawn(&mut self) {
        let mut command = Command::new(MESORAFT);
        command
            .args(self.cmd.args())
            .env("RUST_LOG", "info,h2=warn,tower=warn,hyper=warn");
        let banner = format!("---- agent {} starts: {:?}", self.name, self.cmd.args());
        let group = ProcessGroup::spawn(command, &self.log, Some(&banner))
            .expect("cannot start mesoraft agent");
        self.group = Some(group);
    }

    pub fn kill9(&mut self) {
        if let Some(group) = self.group.take() {
            group.kill9();
        }
    }

    pub fn pause(&mut self) {
        if let Some(group) = self.group.as_mut() {
            group.pause();
        }
    }

    pub fn resume(&mut self) {
        if let Some(group) = self.group.as_mut() {
            group.resume();
        }
    }

    /// Waits until the agent ends by itself; None if it still runs after
    /// `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.group.as_mut()?.wait_exit(limit).await?;
        self.group = None;
        Some(status)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's `GET /state`.
    pub async fn state(&self) -> Option<Value> {
        let resp = self
            .http
            .get(format!("http://{}/state", self.addr))
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// Waits until the agent says it is registered (with `registrations`
    /// at least `at_least`); returns its id and master.
    pub async fn wait_registered(&self, at_least: u64, limit: Duration) -> (String, String) {
        let what = format!("agent {} registered ({at_least} times)", self.name);
        super::wait_for(&what, limit, || async {
            let s = self.state().await?;
            let registered = s["registered"].as_bool()? && s["registrations"].as_u64()? >= at_least;
            registered.then(|| {
                (
                    s["id"].as_str().unwrap_or_default().to_string(),
                    s["master"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .await
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Some(group) = self.group.as_mut() {
            if group.is_paused() {
                group.resume();
            }
        }
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- agent {} log (last 30 lines) ----", self.name);
            eprintln!("{}", mesoraft_testkit::log_tail(&self.log, 30));
        }
    }
}

/// The leader's agents, by id, from operator GET_AGENTS.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AgentsSeen {
    pub active: BTreeSet<String>,
    /// Registered but with a broken session.
    pub inactive: BTreeSet<String>,
    pub recovered: BTreeSet<String>,
    pub unreachable: BTreeSet<String>,
    /// The full answer, for assertions on fields.
    pub raw: Value,
}

impl AgentsSeen {
    pub fn parse(body: &Value) -> Option<Self> {
        let get = body.get("get_agents")?;
        let mut seen = AgentsSeen {
            raw: body.clone(),
            ..Default::default()
        };
        for agent in get["agents"].as_array().into_iter().flatten() {
            let id = agent["agent_info"]["id"]["value"].as_str()?.to_string();
            if agent["active"].as_bool().unwrap_or(false) {
                seen.active.insert(id);
            } else {
                seen.inactive.insert(id);
            }
        }
        for info in get["recovered_agents"].as_array().into_iter().flatten() {
            seen.recovered
                .insert(info["id"]["value"].as_str()?.to_string());
        }
        for entry in get["unreachable_agents"].as_array().into_iter().flatten() {
            seen.unreachable
                .insert(entry["agent_id"]["value"].as_str()?.to_string());
        }
        Some(seen)
    }

    /// The agent info the leader holds for `id` (active or not).
    pub fn info_of(&self, id: &str) -> Option<&Value> {
        self.raw["get_agents"]["agents"]
            .as_array()?
            .iter()
            .map(|a| &a["agent_info"])
            .find(|info| info["id"]["value"] == id)
    }
}

impl Cluster {
    /// GET_AGENTS through any running master (following redirects).
    pub async fn agents_seen(&self) -> Option<AgentsSeen> {
        for addr in self.running_addrs() {
            let Ok((200, body)) = self
                .operator_follow(&addr, &json!({"type": "GET_AGENTS"}))
                .await
            else {
                continue;
            };
            let value: Value = serde_json::from_str(&body).ok()?;
            return AgentsSeen::parse(&value);
        }
        None
    }

    /// Waits until the leader's view satisfies `check`.
    pub async fn wait_agents(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&AgentsSeen) -> bool,
    ) -> AgentsSeen {
        super::wait_for(what, limit, || async {
            self.agents_seen().await.filter(|seen| check(seen))
        })
        .await
    }

    /// MARK_AGENT_GONE through any running master; the HTTP code.
    pub async fn mark_agent_gone(&self, agent_id: &str) -> Option<u16> {
        let body = json!({
            "type": "MARK_AGENT_GONE",
            "mark_agent_gone": {"agent_id": {"value": agent_id}}
        });
        for addr in self.running_addrs() {
            if let Ok((code, _)) = self.operator_follow(&addr, &body).await {
                return Some(code);
            }
        }
        None
    }
}

/// A fresh group of three masters (fast health checks) with a leader and
/// one registered agent ("a"), active on the leader: the group, the
/// agent, its id and the leader's address.
pub async fn group_with_agent(
    election: Duration,
    limit: Duration,
) -> (Cluster, AgentProc, String, String) {
    let c = Cluster::start_with(3, |m| m.agent_health(fast_health()));
    let leader = c.wait_leader(election).await;
    let mut agent = AgentProc::new(&c, "a");
    agent.spawn();
    let (agent_id, _) = agent.wait_registered(1, limit).await;
    c.wait_agents("the agent active on the leader", limit, |s| {
        s.active.contains(&agent_id)
    })
    .await;
    let addr = c.addr(leader);
    (c, agent, agent_id, addr)
}
