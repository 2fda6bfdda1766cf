//! Throughput: W writers in a closed loop (each its own key), each sending
//! its next write as soon as the previous one is answered, over keep-alive
//! connections to the leader; acknowledged writes and their latencies
//! counted over a window after a warm-up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::Summary;
use super::system::{http_client, System};

/// Per-request limit under load (the masters' own write timeout is 5 s).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed request, so an unreachable target is not spun on.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Clone, Debug, Serialize)]
pub struct LoadResult {
    pub system: String,
    pub writers: usize,
    pub warmup_s: f64,
    pub window_s: f64,
    /// Writes acknowledged (200) within the window.
    pub acked: u64,
    pub writes_per_s: f64,
    /// Latency of the acknowledged writes, ms.
    pub latency_ms: Option<Summary>,
    pub errors: u64,
    /// Error texts (shortened) and how often each happened.
    pub error_kinds: BTreeMap<String, u64>,
    /// CPU used during the window, in % of one core (the machine has
    /// `cores`): by this bench process (the client) and by all members.
    pub client_cpu_pct: Option<f64>,
    pub servers_cpu_pct: Option<f64>,
    pub cores: usize,
    /// Highest term before and after the run, and the difference.
    pub term_before: Option<u64>,
    pub term_after: Option<u64>,
    pub term_changes: Option<u64>,
}

impl LoadResult {
    /// CPU time all members used per 1,000 acknowledged writes, in ms.
    pub fn servers_cpu_ms_per_1000_writes(&self) -> Option<f64> {
        let cpu_s = self.servers_cpu_pct? / 100.0 * self.window_s;
        (self.acked > 0).then(|| cpu_s / self.acked as f64 * 1000.0 * 1000.0)
    }
}

/// One load run per writer count, against whoever leads at its start.
pub async fn run<S: System>(
    sys: Arc<S>,
    writers: &[usize],
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Vec<LoadResult>> {
    let http = http_client(writers.iter().copied().max().unwrap_or(1) * 2)?;
    let mut out = Vec::new();
    for &w in writers {
        let agreed = sys.wait_agreed(None, Duration::from_secs(60)).await?;
        let term_before = sys.max_term().await;
        eprintln!(
            "bench: {}: {w} writers to leader {} for {:?} (+{:?} warm-up)",
            sys.label(),
            agreed.leader,
            window,
            warmup
        );
        let mut r = load(sys.clone(), &http, agreed.leader, w, warmup, window).await?;
        r.term_before = term_before;
        r.term_after = sys.max_term().await;
        r.term_changes = match (r.term_before, r.term_after) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b)),
            _ => None,
        };
        eprintln!(
            "bench: {}: {w} writers: {:.0} writes/s, p50 {} ms, {} errors",
            r.system,
            r.writes_per_s,
            r.latency_ms
                .as_ref()
                .map_or("-".into(), |s| format!("{:.2}", s.p50)),
            r.errors
        );
        out.push(r);
    }
    Ok(out)
}

/// utime + stime (clock ticks) from the text of `/proc/PID/stat`.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    // "pid (comm) state ...": comm may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of the line; the remainder starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds the processes have used so far (all threads); None if one
/// of them is gone.
pub(crate) fn cpu_seconds(pids: &[i32]) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let mut ticks = 0;
    for pid in pids {
        ticks += stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    }
    Some(ticks as f64 / hz as f64)
}

fn error_kind(e: &str) -> String {
    let t: String = e.chars().take(60).collect();
    t.trim().to_string()
}

async fn load<S: System>(
    sys: Arc<S>,
    http: &reqwest::Client,
    leader: u64,
    writers: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<LoadResult> {
    let target = Arc::new(AtomicU64::new(leader));
    let all: Arc<Vec<u64>> = Arc::new(sys.ids());
    let from = Instant::now() + warmup;
    let to = from + window;
    // CPU of the client (this process) and of the members over the window.
    let cpu = {
        let (me, members) = (vec![std::process::id() as i32], sys.pids());
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let start = (cpu_seconds(&me), cpu_seconds(&members));
            tokio::time::sleep_until(to.into()).await;
            let end = (cpu_seconds(&me), cpu_seconds(&members));
            let pct = |a: Option<f64>, b: Option<f64>| {
                Some((b? - a?) / (to - from).as_secs_f64() * 100.0)
            };
            (pct(start.0, end.0), pct(start.1, end.1))
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let (sys, http, target, all) = (sys.clone(), http.clone(), target.clone(), all.clone());
        tasks.spawn(async move {
            let key = format!("bench-w{w}");
            let mut latencies = Vec::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut seq = 0u64;
            // Bounded by time: no request starts after the window.
            while Instant::now() < to {
                seq += 1;
                let dest = target.load(Ordering::Relaxed);
                let begin = Instant::now();
                let r = sys.write(&http, dest, &all, &key, seq, WRITE_TIMEOUT).await;
                let end = Instant::now();
                let counted = end >= from && end <= to;
                match r {
                    Ok(a) => {
                        if a.node != dest {
                            target.store(a.node, Ordering::Relaxed);
                        }
                        if counted {
                            latencies.push((end - begin).as_secs_f64() * 1000.0);
                        }
                    }
                    Err(e) => {
                        if counted {
                            *errors.entry(error_kind(&e)).or_default() += 1;
                        }
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (l, e) = joined?;
        latencies.extend(l);
        for (k, n) in e {
            *error_kinds.entry(k).or_default() += n;
        }
    }
    let (client_cpu_pct, servers_cpu_pct) = cpu.await?;
    let acked = latencies.len() as u64;
    Ok(LoadResult {
        system: sys.label(),
        writers,
        warmup_s: warmup.as_secs_f64(),
        window_s: window.as_secs_f64(),
        acked,
        writes_per_s: acked as f64 / window.as_secs_f64(),
        latency_ms: Summary::of(&latencies),
        errors: error_kinds.values().sum(),
        error_kinds,
        client_cpu_pct,
        servers_cpu_pct,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        term_before: None,
        term_after: None,
        term_changes: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_proc_stat() {
        let line = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    111 222 3 4 20 0 9 0 12345 1000 200";
        assert_eq!(stat_ticks(line), Some(333));
        assert_eq!(stat_ticks("4242 (x) S 1"), None);
        let me = vec![std::process::id() as i32];
        assert!(cpu_seconds(&me).is_some_and(|s| s >= 0.0));
        assert_eq!(cpu_seconds(&[i32::MAX]), None);
    }
}
