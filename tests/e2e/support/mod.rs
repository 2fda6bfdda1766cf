//! Test support: real master processes on loopback.
//!
//! Every process is killed when its `Cluster` drops, also when a test
//! fails; paused processes are resumed first so SIGKILL is delivered
//! promptly. Waits poll a condition until a deadline, never sleep blindly.
//! Each cluster gets its own cluster secret, given to its masters and to
//! raftctl, so the tests run the authenticated configuration.

#![allow(dead_code)]

pub mod agents;
pub mod operator_stream;
pub mod records;
pub mod scheduler;
pub mod tasks;

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use mesoraft_testkit::process::{ProcessGroup, RunLog};
use mesoraft_testkit::{operator, status, Status};
use serde_json::{json, Value};

// Not every test file uses every re-export.
#[allow(unused_imports)]
pub use mesoraft_testkit::master_cmd::TlsFiles;
pub use mesoraft_testkit::{poll_until, run_bounded, wait_for, MasterCmd};

pub const MESORAFT: &str = env!("CARGO_BIN_EXE_mesoraft");
pub const RAFTCTL: &str = env!("CARGO_BIN_EXE_raftctl");

/// How long one status probe or operator call may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

/// A loopback port outside the ephemeral range, so that no outgoing
/// connection takes it while its master is down (see
/// `mesoraft_testkit::ports`).
pub fn free_port() -> u16 {
    mesoraft_testkit::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
        .expect("no free port on loopback")
}

pub struct MasterProc {
    pub id: u64,
    pub addr: String,
    pub work_dir: PathBuf,
    pub log: PathBuf,
    /// The command line it (re)starts with.
    pub cmd: MasterCmd,
    group: Option<ProcessGroup>,
    /// The current (or last) run's part of `log`.
    last_run: Option<RunLog>,
}

impl MasterProc {
    pub fn spawn(&mut self) {
        let mut command = Command::new(MESORAFT);
        command.args(self.cmd.args()).env(
            "RUST_LOG",
            "info,openraft=info,sled=warn,h2=warn,tower=warn,hyper=warn",
        );
        let group =
            ProcessGroup::spawn(command, &self.log, None).expect("cannot start mesoraft master");
        self.last_run = Some(group.log().clone());
        self.group = Some(group);
    }

    pub fn kill9(&mut self) {
        if let Some(group) = self.group.take() {
            group.kill9();
        }
    }

    pub fn is_running(&self) -> bool {
        self.group.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.group.as_ref().is_some_and(ProcessGroup::is_paused)
    }

    /// The exit status if the process has ended by itself (reaping it),
    /// None while it runs or when it was never started.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.group.as_mut()?.exited()?.ok()?;
        self.group = None;
        Some(status)
    }

    /// Waits until the process ends by itself; None if it still runs
    /// after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.group.as_mut()?.wait_exit(limit).await?;
        self.group = None;
        Some(status)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The output of the current (or last) run only: what explains how it
    /// ended, without the runs before it.
    pub fn run_log_text(&self) -> String {
        self.last_run
            .as_ref()
            .map(RunLog::run_text)
            .unwrap_or_default()
    }
}

/// A small seeded generator (splitmix64) for fault timings: tests print
/// the seed, and `MESORAFT_TEST_SEED=<seed>` replays a run.
pub struct SeededRng(u64);

impl SeededRng {
    /// From `MESORAFT_TEST_SEED`, else from the clock; prints the seed.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("MESORAFT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: seed {seed} (replay with MESORAFT_TEST_SEED={seed})");
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

pub struct Cluster {
    pub masters: Vec<MasterProc>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The cluster secret file every master and raftctl is given.
    pub secret_file: PathBuf,
    /// `http`, or `https` once [`Cluster::use_tls`] was called.
    pub scheme: &'static str,
    /// Flags raftctl gets besides --masters and the secret.
    pub raftctl_flags: Vec<String>,
}

/// Writes a fresh cluster secret into `dir`.
pub fn write_secret(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("cluster-secret");
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    std::fs::write(&path, format!("{secret}\n")).expect("cannot write the cluster secret");
    path
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.masters {
            m.kill9();
        }
        if std::thread::panicking() {
            for m in &self.masters {
                eprintln!("---- master {} log (last 40 lines) ----", m.id);
                eprintln!("{}", mesoraft_testkit::log_tail(&m.log, 40));
            }
        }
    }
}

impl Cluster {
    /// Starts `n` masters of a new group.
    pub fn start(n: u64) -> Self {
        Self::start_with(n, |m| m)
    }

    /// Like [`Cluster::start`], each master's command line passed through
    /// `configure` (e.g. `|m| m.snapshot_logs(50)`).
    pub fn start_with(n: u64, configure: impl Fn(MasterCmd) -> MasterCmd) -> Self {
        let mut c = Self::create_with(n, configure);
        for m in &mut c.masters {
            m.spawn();
        }
        c
    }

    /// Like [`Cluster::start`], but starts no process: `spawn` them in any
    /// order.
    pub fn create(n: u64) -> Self {
        Self::create_with(n, |m| m)
    }

    /// Like [`Cluster::create`], with `configure` as in
    /// [`Cluster::start_with`].
    pub fn create_with(n: u64, configure: impl Fn(MasterCmd) -> MasterCmd) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let peers: Vec<(u64, String)> = (1..=n)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let secret_file = write_secret(dir.path());
        let mut cluster = Cluster {
            masters: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            secret_file,
            scheme: "http",
            raftctl_flags: Vec::new(),
        };
        for (id, addr) in &peers {
            let cmd = configure(cluster.bare_cmd_at(*id, addr).peers(peers.clone()));
            cluster.add_proc(cmd);
        }
        cluster
    }

    /// The command line of master `id` at `addr` before any group flag:
    /// its work dir and this cluster's secret.
    fn bare_cmd_at(&self, id: u64, addr: &str) -> MasterCmd {
        MasterCmd::new(id, addr, self.dir.path().join(format!("master-{id}")))
            .cluster_secret_file(&self.secret_file)
    }

    /// Master `id`'s address and work dir, and nothing else: no group, no
    /// secret (for start-up refusals).
    pub fn bare_cmd(&self, id: u64) -> MasterCmd {
        let m = self
            .masters
            .iter()
            .find(|m| m.id == id)
            .expect("no such master");
        MasterCmd::new(id, &m.addr, &m.work_dir)
    }

    fn add_proc(&mut self, cmd: MasterCmd) {
        let id = cmd.id();
        let m = MasterProc {
            id,
            addr: cmd.listen().to_string(),
            work_dir: cmd.work_dir().to_path_buf(),
            log: self.dir.path().join(format!("master-{id}.log")),
            cmd,
            group: None,
            last_run: None,
        };
        self.masters.push(m);
    }

    /// Talks HTTPS to the masters (started with TLS flags), trusting the CA
    /// in `ca_file`, and gives raftctl the same CA.
    pub fn use_tls(&mut self, ca_file: &std::path::Path) {
        let pem = std::fs::read(ca_file).expect("CA file");
        let ca = reqwest::Certificate::from_pem(&pem).expect("CA certificate");
        self.http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(ca)
            .build()
            .unwrap();
        self.scheme = "https";
        self.raftctl_flags = vec!["--tls-ca".into(), ca_file.display().to_string()];
    }

    /// The URL of `path` on the master at `addr`.
    pub fn url(&self, addr: &str, path: &str) -> String {
        format!("{}://{addr}{path}", self.scheme)
    }

    /// Starts a new master that waits to be added (`--join` the running
    /// ones), its command line passed through `configure`.
    pub fn start_joining(&mut self, id: u64, configure: impl Fn(MasterCmd) -> MasterCmd) -> String {
        let addr = format!("127.0.0.1:{}", free_port());
        let cmd = configure(self.bare_cmd_at(id, &addr).join(self.running_addrs()));
        self.add_proc(cmd);
        self.master(id).spawn();
        addr
    }

    pub fn master(&mut self, id: u64) -> &mut MasterProc {
        self.masters
            .iter_mut()
            .find(|m| m.id == id)
            .expect("no such master")
    }

    pub fn addr(&self, id: u64) -> String {
        self.masters
            .iter()
            .find(|m| m.id == id)
            .expect("no such master")
            .addr
            .clone()
    }

    /// (id, address) of every master created with the cluster.
    pub fn initial_peers(&self) -> Vec<(u64, String)> {
        match self.masters.first().and_then(|m| m.cmd.group()) {
            Some(mesoraft_testkit::master_cmd::Group::Peers(peers)) => peers.clone(),
            _ => Vec::new(),
        }
    }

    pub fn running_addrs(&self) -> Vec<String> {
        self.masters
            .iter()
            .filter(|m| m.is_running())
            .map(|m| m.addr.clone())
            .collect()
    }

    pub fn all_addrs(&self) -> Vec<String> {
        self.masters.iter().map(|m| m.addr.clone()).collect()
    }

    pub fn kill9(&mut self, id: u64) {
        self.master(id).kill9();
    }

    pub fn spawn(&mut self, id: u64) {
        self.master(id).spawn();
    }

    /// Runs `cmd` (a master expected to refuse to start) to its end:
    /// returns its exit code and output. A master still running after
    /// 10 s is killed (code None).
    pub fn run_to_exit(&self, cmd: &MasterCmd) -> (Option<i32>, String) {
        run_bounded(MESORAFT, &cmd.args(), Duration::from_secs(10))
    }

    pub fn restart(&mut self, id: u64) {
        let m = self.master(id);
        m.kill9();
        m.spawn();
    }

    pub fn pause(&mut self, id: u64) {
        if let Some(group) = self.master(id).group.as_mut() {
            group.pause();
        }
    }

    pub fn resume(&mut self, id: u64) {
        if let Some(group) = self.master(id).group.as_mut() {
            group.resume();
        }
    }

    /// A numeric field of a master's `/raft/status`.
    pub async fn status_u64(&self, id: u64, field: &str) -> Option<u64> {
        self.status(id).await?[field].as_u64()
    }

    /// Waits until master `id` has applied everything `leader` had
    /// committed when the wait began.
    pub async fn wait_caught_up(&self, id: u64, leader: u64, limit: Duration) {
        let target = wait_for("the leader's commit index", limit, || async {
            self.probe(leader).await?.committed_index
        })
        .await;
        wait_for(
            &format!("master {id} applies up to index {target}"),
            limit,
            || async { (self.probe(id).await?.applied_index? >= target).then_some(()) },
        )
        .await
    }

    /// Master `id`'s whole `/raft/status` document.
    pub async fn status(&self, id: u64) -> Option<Value> {
        let url = status::status_url(self.scheme, &self.addr(id), false);
        status::probe_json(&self.http, &url, HTTP_TIMEOUT)
            .await
            .ok()
    }

    /// Master `id`'s `/raft/status`, typed.
    pub async fn probe(&self, id: u64) -> Option<Status> {
        let url = status::status_url(self.scheme, &self.addr(id), false);
        status::probe(&self.http, &url, HTTP_TIMEOUT).await.ok()
    }

    /// Waits until every running, unpaused master agrees on one ready
    /// leader (cluster id recorded) and returns its id.
    pub async fn wait_leader(&self, limit: Duration) -> u64 {
        let all: Vec<u64> = self.masters.iter().map(|m| m.id).collect();
        self.wait_leader_among(&all, limit).await
    }

    /// Like [`Cluster::wait_leader`], counting only the masters `among`
    /// (others may be refused members that follow no leader).
    pub async fn wait_leader_among(&self, among: &[u64], limit: Duration) -> u64 {
        wait_for("one agreed leader", limit, || async {
            let mut leader = None;
            for m in self
                .masters
                .iter()
                .filter(|m| m.is_running() && !m.is_paused() && among.contains(&m.id))
            {
                let l = self.probe(m.id).await?.leader_id?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader?;
            let s = self.probe(l).await?;
            (s.is_leader() && s.cluster_id.is_some()).then_some(l)
        })
        .await
    }

    /// Watches for `limit` whether any master reports a leader (for
    /// checking that none is elected when none may be).
    pub async fn leader_within(&self, limit: Duration) -> Option<u64> {
        poll_until(limit, || async {
            for m in self.masters.iter().filter(|m| m.is_running()) {
                if let Some(l) = self.probe(m.id).await.and_then(|s| s.leader_id) {
                    return Some(l);
                }
            }
            None
        })
        .await
    }

    /// POSTs a raw body to `/api/v1` of `addr`; returns the status code.
    pub async fn post_raw(&self, addr: &str, content_type: &str, body: &str) -> u16 {
        self.http
            .post(operator::api_url(self.scheme, addr))
            .header("Content-Type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("master answers")
            .status()
            .as_u16()
    }

    /// One operator call to one master, no redirect following.
    pub async fn operator(
        &self,
        addr: &str,
        body: &Value,
    ) -> Result<(u16, Option<String>, String), String> {
        let reply = operator::call(&self.http, self.scheme, addr, body)
            .await
            .map_err(|e| e.to_string())?;
        Ok((reply.code, reply.location, reply.body))
    }

    /// An operator call that follows 307s (at most 3) to the leader.
    pub async fn operator_follow(&self, addr: &str, body: &Value) -> Result<(u16, String), String> {
        let reply = operator::call_following(&self.http, self.scheme, addr, body)
            .await
            .map_err(|e| e.to_string())?;
        Ok((reply.code, reply.body))
    }

    /// Retries a weight update through any running master until it is
    /// acknowledged (200) or the limit passes.
    pub async fn write_weight(&self, role: &str, weight: f64, limit: Duration) {
        let body = update_weights(role, weight);
        self.write_acknowledged(&format!("UPDATE_WEIGHTS {role}={weight}"), &body, limit)
            .await
    }

    /// Sends the idempotent operator write `body` to the running masters
    /// until one answers 200. Whatever else a master answers is retried:
    /// 307/503 (not the leader, e.g. during a leader change) and 504 (a
    /// leader change left the outcome unknown; the write is idempotent).
    pub async fn write_acknowledged(&self, what: &str, body: &Value, limit: Duration) {
        wait_for(&format!("{what} acknowledged"), limit, || async {
            for addr in self.running_addrs() {
                if let Ok((200, _)) = self.operator_follow(&addr, body).await {
                    return Some(());
                }
            }
            None
        })
        .await
    }

    /// GET_WEIGHTS through `addr` (following redirects): role -> weight.
    pub async fn weights_via(&self, addr: &str) -> Option<std::collections::BTreeMap<String, f64>> {
        let (code, text) = self
            .operator_follow(addr, &json!({"type": "GET_WEIGHTS"}))
            .await
            .ok()?;
        if code != 200 {
            return None;
        }
        parse_weights(&text)
    }

    /// GET_WEIGHTS through `addr`, retried until answered: a master just
    /// elected answers 503 until it has applied its predecessors' entries.
    pub async fn read_weights(
        &self,
        addr: &str,
        limit: Duration,
    ) -> std::collections::BTreeMap<String, f64> {
        wait_for("GET_WEIGHTS answered", limit, || self.weights_via(addr)).await
    }

    pub fn raftctl(&self, args: &[&str]) -> (i32, String, String) {
        let masters = self.all_addrs().join(",");
        let out = Command::new(RAFTCTL)
            .args(["--masters", &masters])
            .arg("--cluster-secret-file")
            .arg(&self.secret_file)
            .args(&self.raftctl_flags)
            .args(args)
            .output()
            .expect("cannot run raftctl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

pub fn update_weights(role: &str, weight: f64) -> Value {
    json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": role, "weight": weight}]}})
}

pub fn parse_weights(text: &str) -> Option<std::collections::BTreeMap<String, f64>> {
    let v: Value = serde_json::from_str(text).ok()?;
    let infos = v["get_weights"]["weight_infos"].as_array()?;
    Some(
        infos
            .iter()
            .filter_map(|w| Some((w["role"].as_str()?.to_string(), w["weight"].as_f64()?)))
            .collect(),
    )
}
