//! etcd for comparison: a group of `etcd` processes on loopback (free
//! ports, the timing asked for: [`EtcdTiming`]), each in its own process group tracked by the
//! harness's cleanup, written to through the v3 HTTP gateway, plus
//! `etcdctl check perf`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::{json, Value};

use super::system::{poll_agreement, Acked, Agreed, System};
use crate::cleanup::Slot;
use crate::client::error_text;
use crate::cluster::log_tail;
use crate::cluster::process::NodeProcess;
use crate::net::free_port;

/// The installed etcd.
#[derive(Clone, Debug)]
pub struct EtcdBins {
    pub etcd: PathBuf,
    pub etcdctl: PathBuf,
    /// e.g. "3.4.23".
    pub version: String,
    /// Its default heartbeat and election timeout (ms), from `etcd --help`.
    pub heartbeat_ms: Option<u64>,
    pub election_ms: Option<u64>,
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The etcd binaries, or why they cannot be used.
pub fn find() -> Result<EtcdBins, String> {
    const INSTALL: &str = "apt-get install -y etcd-server etcd-client";
    let etcd = in_path("etcd").ok_or_else(|| format!("`etcd` not found in PATH ({INSTALL})"))?;
    let etcdctl =
        in_path("etcdctl").ok_or_else(|| format!("`etcdctl` not found in PATH ({INSTALL})"))?;
    let out = Command::new(&etcd)
        .arg("--version")
        .output()
        .map_err(|e| format!("running {} --version: {e}", etcd.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("unexpected `etcd --version` output: {text:?}"))?;
    let help = Command::new(&etcd)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).into_owned())
        .unwrap_or_default();
    Ok(EtcdBins {
        heartbeat_ms: super::default_in_help(&help, "--heartbeat-interval"),
        election_ms: super::default_in_help(&help, "--election-timeout"),
        etcd,
        etcdctl,
        version,
    })
}

/// How an etcd group is timed: etcd's own defaults, or a heartbeat and
/// election timeout given on its command line (`50/300` matches the
/// masters' defaults, so failover times compare like with like).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdTiming {
    Defaults,
    Given { heartbeat_ms: u64, election_ms: u64 },
}

impl EtcdTiming {
    /// `default` or `HEARTBEAT/ELECTION` in ms, e.g. `50/300`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(Self::Defaults);
        }
        let parsed = s
            .split_once('/')
            .and_then(|(h, e)| Some((h.parse::<u64>().ok()?, e.parse::<u64>().ok()?)));
        match parsed {
            Some((heartbeat_ms, election_ms)) if 0 < heartbeat_ms && heartbeat_ms < election_ms => {
                Ok(Self::Given {
                    heartbeat_ms,
                    election_ms,
                })
            }
            Some(_) => Err(format!(
                "{s:?}: the heartbeat must be > 0 and below the election timeout"
            )),
            None => Err(format!(
                "{s:?}: expected `default` or HEARTBEAT/ELECTION in ms, e.g. 50/300"
            )),
        }
    }

    /// Extra etcd flags.
    fn flags(self) -> Vec<String> {
        match self {
            Self::Defaults => Vec::new(),
            Self::Given {
                heartbeat_ms,
                election_ms,
            } => vec![
                "--heartbeat-interval".into(),
                heartbeat_ms.to_string(),
                "--election-timeout".into(),
                election_ms.to_string(),
            ],
        }
    }

    /// Short, for table columns: "50/300" or "defaults".
    pub fn short(self) -> String {
        match self {
            Self::Defaults => "defaults".into(),
            Self::Given {
                heartbeat_ms,
                election_ms,
            } => format!("{heartbeat_ms}/{election_ms}"),
        }
    }

    /// The system label of an etcd group with this timing, as the tables
    /// and the goals name it: "etcd 3.4.23 50/300".
    pub fn label(self, bins: &EtcdBins) -> String {
        format!("etcd {} {}", bins.version, self.short())
    }

    /// For the parameters printed above a table.
    pub fn describe(self, bins: &EtcdBins) -> String {
        let ms = |v: Option<u64>| v.map_or("?".into(), |v| format!("{v} ms"));
        match self {
            Self::Defaults => format!(
                "heartbeat {}, election timeout {} (etcd defaults)",
                ms(bins.heartbeat_ms),
                ms(bins.election_ms)
            ),
            Self::Given {
                heartbeat_ms,
                election_ms,
            } => format!("heartbeat {heartbeat_ms} ms, election timeout {election_ms} ms (given)"),
        }
    }
}

struct Member {
    id: u64,
    name: String,
    client: String,
    peer: String,
    data: PathBuf,
    log: PathBuf,
}

/// What `POST /v3/maintenance/status` says (ids as etcd member ids).
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdStatus {
    pub member_id: u64,
    pub leader: u64,
    /// Committed index.
    pub raft_index: u64,
    pub raft_applied_index: Option<u64>,
    pub raft_term: u64,
}

/// The gateway encodes 64-bit integers as strings.
fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

pub fn parse_status(v: &Value) -> Option<EtcdStatus> {
    Some(EtcdStatus {
        member_id: uint(&v["header"]["member_id"])?,
        leader: uint(&v["leader"]).unwrap_or(0),
        raft_index: uint(&v["raftIndex"]).unwrap_or(0),
        raft_applied_index: uint(&v["raftAppliedIndex"]),
        raft_term: uint(&v["raftTerm"]).or_else(|| uint(&v["header"]["raft_term"]))?,
    })
}

pub struct EtcdGroup {
    pub bins: EtcdBins,
    pub timing: EtcdTiming,
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    procs: Mutex<BTreeMap<u64, NodeProcess>>,
    /// etcd member id -> our id, learned from status answers.
    member_ids: Mutex<BTreeMap<u64, u64>>,
    slot: Arc<Slot>,
    probe: reqwest::Client,
    dir: PathBuf,
    keep_data: bool,
}

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl EtcdGroup {
    /// Starts `n` members on 127.0.0.1; logs in `dir/eI.log`, data in
    /// `dir/data/eI`.
    pub fn start(
        bins: &EtcdBins,
        timing: EtcdTiming,
        n: usize,
        dir: &Path,
        keep_data: bool,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let slot = Slot::acquire()?;
        let mut ports = std::collections::BTreeSet::new();
        while ports.len() < 2 * n {
            ports.insert(free_port("127.0.0.1")?);
        }
        let mut ports = ports.into_iter();
        // "mesoraft" in the names lets a later run that takes the same slot
        // recognise (and kill) members left behind by a crash.
        let token = format!("mesoraft-bench-{}-{}", std::process::id(), slot.index);
        let members: Vec<Member> = (1..=n as u64)
            .map(|id| Member {
                id,
                name: format!("mesoraft-bench-e{id}"),
                client: format!("http://127.0.0.1:{}", ports.next().unwrap_or(0)),
                peer: format!("http://127.0.0.1:{}", ports.next().unwrap_or(0)),
                data: dir.join("data").join(format!("e{id}")),
                log: dir.join(format!("e{id}.log")),
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let group = EtcdGroup {
            bins: bins.clone(),
            timing,
            members,
            initial_cluster,
            token,
            procs: Mutex::new(BTreeMap::new()),
            member_ids: Mutex::new(BTreeMap::new()),
            slot,
            probe: super::system::http_client(8)?,
            dir: dir.to_path_buf(),
            keep_data,
        };
        for id in group.ids() {
            group.spawn(id, "new")?;
        }
        Ok(group)
    }

    fn member(&self, id: u64) -> &Member {
        self.members
            .iter()
            .find(|m| m.id == id)
            .expect("known member")
    }

    fn procs(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, NodeProcess>> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, id: u64, state: &str) -> anyhow::Result<()> {
        let m = self.member(id);
        let data = m.data.display().to_string();
        let flags: [(&str, &str); 9] = [
            ("--name", &m.name),
            ("--data-dir", &data),
            ("--listen-client-urls", &m.client),
            ("--advertise-client-urls", &m.client),
            ("--listen-peer-urls", &m.peer),
            ("--initial-advertise-peer-urls", &m.peer),
            ("--initial-cluster", &self.initial_cluster),
            ("--initial-cluster-state", state),
            ("--initial-cluster-token", &self.token),
        ];
        let mut args: Vec<String> = flags
            .iter()
            .flat_map(|(f, v)| [f.to_string(), v.to_string()])
            .collect();
        args.extend(self.timing.flags());
        let proc = NodeProcess::spawn(&self.bins.etcd, &args, None, &m.log, &[])?;
        self.slot.record_group(proc.pgid);
        if let Some(old) = self.procs().insert(id, proc) {
            old.kill();
        }
        Ok(())
    }

    fn check_running(&self) -> anyhow::Result<()> {
        let mut procs = self.procs();
        for id in self.ids() {
            let status = match procs.get_mut(&id) {
                None => "not running".to_string(),
                Some(p) => match p.exited() {
                    None => continue,
                    Some(s) => s,
                },
            };
            let log = &self.member(id).log;
            bail!(
                "etcd member {id} exited ({status}); end of {}:\n{}",
                log.display(),
                log_tail(log, 8)
            );
        }
        Ok(())
    }

    pub async fn status(&self, id: u64) -> Result<EtcdStatus, String> {
        let url = format!("{}/v3/maintenance/status", self.member(id).client);
        let resp = self
            .probe
            .post(url)
            .timeout(PROBE_TIMEOUT)
            .json(&json!({}))
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let v: Value = resp.json().await.map_err(|e| error_text(&e))?;
        let s = parse_status(&v).ok_or_else(|| format!("unexpected status {v}"))?;
        self.member_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.member_id, id);
        Ok(s)
    }

    async fn statuses(&self) -> Vec<(u64, Result<EtcdStatus, String>)> {
        let futs = self
            .ids()
            .into_iter()
            .map(|id| async move { (id, self.status(id).await) });
        futures::future::join_all(futs).await
    }

    fn our_id(&self, member_id: u64) -> Option<u64> {
        self.member_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&member_id)
            .copied()
    }

    fn agreement(
        &self,
        round: &[(u64, Result<EtcdStatus, String>)],
        caught_up: Option<u64>,
    ) -> Result<Agreed, String> {
        let mut ok = Vec::new();
        for (id, s) in round {
            match s {
                Ok(s) => ok.push((*id, s)),
                Err(e) => return Err(format!("member {id} does not answer: {e}")),
            }
        }
        let leader_mid = ok.first().map(|(_, s)| s.leader).unwrap_or(0);
        if leader_mid == 0 || ok.iter().any(|(_, s)| s.leader != leader_mid) {
            return Err("members do not agree on a leader".into());
        }
        let leader = self
            .our_id(leader_mid)
            .ok_or_else(|| format!("leader {leader_mid:x} is not one of ours"))?;
        let ls = ok
            .iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, s)| *s)
            .ok_or("leader status missing")?;
        if let Some(r) = caught_up {
            let applied = ok
                .iter()
                .find(|(id, _)| *id == r)
                .and_then(|(_, s)| s.raft_applied_index.or(Some(s.raft_index)));
            if applied.unwrap_or(0) < ls.raft_index {
                return Err(format!(
                    "member {r} has applied {applied:?}, leader committed {}",
                    ls.raft_index
                ));
            }
        }
        Ok(Agreed {
            leader,
            term: ls.raft_term,
        })
    }

    /// `etcdctl --endpoints=<all> check perf --load=LOAD`: the lines of its
    /// verdict, and how it exited.
    pub async fn check_perf(
        &self,
        load: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Vec<String>, String)> {
        let endpoints = self
            .members
            .iter()
            .map(|m| m.client.clone())
            .collect::<Vec<_>>()
            .join(",");
        let log = self.dir.join("check-perf.log");
        let args = vec![
            format!("--endpoints={endpoints}"),
            "check".into(),
            "perf".into(),
            format!("--load={load}"),
        ];
        let env = [("ETCDCTL_API".to_string(), "3".to_string())];
        let proc = NodeProcess::spawn(&self.bins.etcdctl, &args, None, &log, &env)?;
        self.slot.record_group(proc.pgid);
        // Killed on every way out of here.
        let mut proc = Reaper(Some(proc));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = proc.0.as_mut().and_then(NodeProcess::exited) {
                break s;
            }
            if Instant::now() >= deadline {
                bail!("etcdctl check perf did not finish within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let text = std::fs::read_to_string(&log).with_context(|| format!("{}", log.display()))?;
        Ok((verdict_lines(&text), status))
    }
}

/// The verdict lines of `check perf` (without its progress bar).
pub fn verdict_lines(output: &str) -> Vec<String> {
    output
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.starts_with("PASS") || l.starts_with("FAIL") || l.contains("Error"))
        .map(str::to_string)
        .collect()
}

/// "PASS: Throughput is 3922 writes/s" or "FAIL: Throughput too low:
/// 3450 writes/s" -> the number.
pub fn check_perf_throughput(lines: &[String]) -> Option<f64> {
    lines.iter().find_map(|l| {
        if !l.contains("Throughput") {
            return None;
        }
        let before = l.split("writes/s").next()?;
        before.split_whitespace().last()?.parse().ok()
    })
}

struct Reaper(Option<NodeProcess>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.kill();
        }
    }
}

impl Drop for EtcdGroup {
    fn drop(&mut self) {
        let all: Vec<NodeProcess> = std::mem::take(&mut *self.procs()).into_values().collect();
        for p in all {
            p.kill();
        }
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(self.dir.join("data"));
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl System for EtcdGroup {
    fn label(&self) -> String {
        self.timing.label(&self.bins)
    }

    fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.id).collect()
    }

    async fn wait_agreed(
        &self,
        caught_up: Option<u64>,
        timeout: Duration,
    ) -> anyhow::Result<Agreed> {
        poll_agreement(
            Instant::now() + timeout,
            &format!("etcd members do not agree on a leader after {timeout:?}"),
            || async { self.agreement(&self.statuses().await, caught_up) },
            || self.check_running(),
        )
        .await
    }

    fn kill(&self, id: u64) -> bool {
        let p = self.procs().remove(&id);
        p.map(NodeProcess::kill).is_some()
    }

    fn restart(&self, id: u64) -> anyhow::Result<()> {
        self.spawn(id, "existing")
    }

    fn pids(&self) -> Vec<i32> {
        self.procs().values().map(|p| p.pgid).collect()
    }

    async fn term_of(&self, id: u64) -> Option<u64> {
        self.status(id).await.ok().map(|s| s.raft_term)
    }

    async fn max_term(&self) -> Option<u64> {
        self.statuses()
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok().map(|s| s.raft_term))
            .max()
    }

    async fn write(
        &self,
        http: &reqwest::Client,
        to: u64,
        _allowed: &[u64],
        key: &str,
        seq: u64,
        timeout: Duration,
    ) -> Result<Acked, String> {
        // etcd forwards proposals to its leader itself: no redirects.
        let url = format!("{}/v3/kv/put", self.member(to).client);
        let body = json!({"key": b64(&format!("bench/{key}")), "value": b64(&seq.to_string())});
        let resp = http
            .post(url)
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| error_text(&e))?;
        if status != 200 {
            return Err(format!("{status}: {}", text.trim()));
        }
        let term = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| uint(&v["header"]["raft_term"]));
        Ok(Acked { node: to, term })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_status_is_parsed() {
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"13943504652224441641","member_id":"16110641917360169610",
                "revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"32768",
                "leader":"16110641917360169610","raftIndex":"4","raftTerm":"2",
                "raftAppliedIndex":"4","dbSizeInUse":"16384"}"#,
        )
        .unwrap();
        let s = parse_status(&v).unwrap();
        assert_eq!(s.member_id, 16110641917360169610);
        assert_eq!(s.leader, s.member_id);
        assert_eq!(
            (s.raft_index, s.raft_applied_index, s.raft_term),
            (4, Some(4), 2)
        );
    }

    #[test]
    fn check_perf_verdict() {
        let out = "==== jepsen: starting etcdctl\n 60 / 60 Boooo! 100.00% 1m0s\r\
                   \nPASS: Throughput is 3917 writes/s\nPASS: Slowest request took 0.210s\n\
                   PASS: Stddev is 0.021s\nPASS\n";
        let lines = verdict_lines(out);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(check_perf_throughput(&lines), Some(3917.0));
        let failed = verdict_lines(
            "FAIL: Throughput too low: 3450 writes/s\nPASS: Slowest request took 0.41s\nFAIL\n",
        );
        assert_eq!(failed.len(), 3);
        assert_eq!(check_perf_throughput(&failed), Some(3450.0));
        assert_eq!(check_perf_throughput(&["PASS".to_string()]), None);
    }
}
