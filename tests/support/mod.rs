//! Test support: real master processes on loopback.
//!
//! Every process is killed when its `Cluster` drops, also when a test
//! fails; paused processes are resumed first so SIGKILL is delivered
//! promptly. Waits poll a condition until a deadline, never sleep blindly.
//! Each cluster gets its own cluster secret, given to its masters and to
//! raftctl, so the tests run the authenticated configuration.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const MESORAFT: &str = env!("CARGO_BIN_EXE_mesoraft");
pub const RAFTCTL: &str = env!("CARGO_BIN_EXE_raftctl");

/// A loopback port outside the ephemeral range, so that no outgoing
/// connection takes it while its master is down (see
/// `mesoraft_master::ports`).
pub fn free_port() -> u16 {
    mesoraft_master::ports::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
        .expect("no free port on loopback")
}

/// Polls `check` every 50 ms until it yields a value or `limit` passes
/// (None then). The one polling loop of these tests.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Like [`poll_until`], but a timeout fails the test.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_until(limit, check).await {
        Some(v) => v,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

pub struct MasterProc {
    pub id: u64,
    pub addr: String,
    pub work_dir: PathBuf,
    pub log: PathBuf,
    /// Where the current run's output begins in `log`.
    pub run_log_start: u64,
    /// `--peers ...` or `--join ...` and any extra flags.
    pub args: Vec<String>,
    pub child: Option<Child>,
    pub paused: bool,
}

impl MasterProc {
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("cannot open master log");
        self.run_log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(MESORAFT)
            .args([
                "master",
                "--id",
                &self.id.to_string(),
                "--listen",
                &self.addr,
            ])
            .arg("--work-dir")
            .arg(&self.work_dir)
            .args(&self.args)
            .env(
                "RUST_LOG",
                "info,openraft=info,sled=warn,h2=warn,tower=warn,hyper=warn",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("cannot start mesoraft master");
        self.child = Some(child);
        self.paused = false;
    }

    fn signal(&self, sig: libc::c_int) {
        if let Some(child) = &self.child {
            unsafe {
                libc::kill(child.id() as libc::pid_t, sig);
            }
        }
    }

    pub fn kill9(&mut self) {
        if self.paused {
            self.signal(libc::SIGCONT);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has ended by itself (reaping it),
    /// None while it runs or when it was never started.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Waits until the process ends by itself; None if it still runs
    /// after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The output of the current (or last) run only: what explains how it
    /// ended, without the runs before it.
    pub fn run_log_text(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = (self.run_log_start as usize).min(text.len());
        String::from_utf8_lossy(&text[start..]).into_owned()
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
                let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("---- master {} log (last 40 lines) ----", m.id);
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl Cluster {
    /// Starts `n` masters of a new group; `extra` flags go to every master.
    pub fn start(n: u64, extra: &[&str]) -> Self {
        let mut c = Self::create(n, extra);
        for m in &mut c.masters {
            m.spawn();
        }
        c
    }

    /// Like [`Cluster::start`], but starts no process: `spawn` them in any
    /// order.
    pub fn create(n: u64, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let addrs: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let peers: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect();
        let peers = peers.join(",");
        let secret_file = write_secret(dir.path());
        let mut cluster = Cluster {
            masters: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            secret_file,
            scheme: "http",
            raftctl_flags: Vec::new(),
        };
        for (i, addr) in addrs.into_iter().enumerate() {
            let mut args = vec!["--peers".to_string(), peers.clone()];
            args.extend(extra.iter().map(|s| s.to_string()));
            cluster.add_proc(i as u64 + 1, addr, args);
        }
        cluster
    }

    fn add_proc(&mut self, id: u64, addr: String, mut args: Vec<String>) {
        args.push("--cluster-secret-file".into());
        args.push(self.secret_file.display().to_string());
        let m = MasterProc {
            id,
            addr,
            work_dir: self.dir.path().join(format!("master-{id}")),
            log: self.dir.path().join(format!("master-{id}.log")),
            run_log_start: 0,
            args,
            child: None,
            paused: false,
        };
        self.masters.push(m);
    }

    /// Talks HTTPS to the masters (started with TLS flags), trusting the CA
    /// in `ca_file`, and gives raftctl the same CA.
    pub fn use_tls(&mut self, ca_file: &std::path::Path) {
        let pem = std::fs::read(ca_file).expect("CA file");
        let ca = reqwest::Certificate::from_pem(&pem).expect("CA certificate");
        self.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
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

    /// Starts a new master that waits to be added (`--join`).
    pub fn start_joining(&mut self, id: u64, extra: &[&str]) -> String {
        let addr = format!("127.0.0.1:{}", free_port());
        let join = self.running_addrs().join(",");
        let mut args = vec!["--join".to_string(), join];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.add_proc(id, addr.clone(), args);
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

    /// Runs `mesoraft master` for `id` (its address and work dir) with
    /// `args`, expecting it to refuse to start: returns its exit code and
    /// output. A master still running after 10 s is killed (code None).
    pub fn run_to_exit(&self, id: u64, args: &[&str]) -> (Option<i32>, String) {
        let m = self
            .masters
            .iter()
            .find(|m| m.id == id)
            .expect("no such master");
        let mut full = vec!["master".to_string(), "--id".into(), id.to_string()];
        full.extend(["--listen".into(), m.addr.clone(), "--work-dir".into()]);
        full.push(m.work_dir.display().to_string());
        full.extend(args.iter().map(|s| s.to_string()));
        run_bounded(MESORAFT, &full, Duration::from_secs(10))
    }

    pub fn restart(&mut self, id: u64) {
        let m = self.master(id);
        m.kill9();
        m.spawn();
    }

    pub fn pause(&mut self, id: u64) {
        let m = self.master(id);
        m.signal(libc::SIGSTOP);
        m.paused = true;
    }

    pub fn resume(&mut self, id: u64) {
        let m = self.master(id);
        m.signal(libc::SIGCONT);
        m.paused = false;
    }

    /// A numeric field of a master's `/raft/status`.
    pub async fn status_u64(&self, id: u64, field: &str) -> Option<u64> {
        self.status(id).await?[field].as_u64()
    }

    /// Waits until master `id` has applied everything `leader` had
    /// committed when the wait began.
    pub async fn wait_caught_up(&self, id: u64, leader: u64, limit: Duration) {
        let target = wait_for("the leader's commit index", limit, || {
            self.status_u64(leader, "committed_index")
        })
        .await;
        wait_for(
            &format!("master {id} applies up to index {target}"),
            limit,
            || async { (self.status_u64(id, "applied_index").await? >= target).then_some(()) },
        )
        .await
    }

    pub async fn status(&self, id: u64) -> Option<Value> {
        let addr = self.addr(id);
        let resp = self
            .http
            .get(self.url(&addr, "/raft/status"))
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
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
                .filter(|m| m.is_running() && !m.paused && among.contains(&m.id))
            {
                let s = self.status(m.id).await?;
                let l = s["leader_id"].as_u64()?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader?;
            let s = self.status(l).await?;
            (s["role"] == "leader" && !s["cluster_id"].is_null()).then_some(l)
        })
        .await
    }

    /// Watches for `limit` whether any master reports a leader (for
    /// checking that none is elected when none may be).
    pub async fn leader_within(&self, limit: Duration) -> Option<u64> {
        poll_until(limit, || async {
            for m in self.masters.iter().filter(|m| m.is_running()) {
                if let Some(l) = self
                    .status(m.id)
                    .await
                    .and_then(|s| s["leader_id"].as_u64())
                {
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
            .post(self.url(addr, "/api/v1"))
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
        let resp = self
            .http
            .post(self.url(addr, "/api/v1"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok((code, location, resp.text().await.unwrap_or_default()))
    }

    /// An operator call that follows 307s (at most 3) to the leader.
    pub async fn operator_follow(&self, addr: &str, body: &Value) -> Result<(u16, String), String> {
        let mut target = addr.to_string();
        for _ in 0..3 {
            let (code, location, text) = self.operator(&target, body).await?;
            match (code, location) {
                (307, Some(loc)) => {
                    target = loc
                        .trim_start_matches("//")
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                }
                _ => return Ok((code, text)),
            }
        }
        Err("too many redirects".into())
    }

    /// Retries a weight update through any running master until it is
    /// acknowledged (200) or the limit passes.
    pub async fn write_weight(&self, role: &str, weight: f64, limit: Duration) {
        let body = update_weights(role, weight);
        wait_for(
            &format!("UPDATE_WEIGHTS {role}={weight} acknowledged"),
            limit,
            || async {
                for addr in self.running_addrs() {
                    if let Ok((200, _)) = self.operator_follow(&addr, &body).await {
                        return Some(());
                    }
                }
                None
            },
        )
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

/// Runs a command to completion or kills it after `limit`; returns the
/// exit code (None if killed) and stdout + stderr.
pub fn run_bounded(program: &str, args: &[String], limit: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output handle"))
        .stderr(out)
        .spawn()
        .expect("cannot start command");
    // A waiter thread reaps the child and reports at once; until it has,
    // the pid cannot be reused, so killing it by pid on timeout is safe.
    let pid = child.id() as libc::pid_t;
    let (exited_tx, exited) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = exited_tx.send(());
        status
    });
    let timed_out = exited.recv_timeout(limit).is_err();
    if timed_out {
        // SAFETY: plain syscall on a child we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = waiter.join().expect("waiter thread").ok();
    let code = if timed_out {
        None
    } else {
        status.and_then(|s| s.code())
    };
    (code, std::fs::read_to_string(&out_path).unwrap_or_default())
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
