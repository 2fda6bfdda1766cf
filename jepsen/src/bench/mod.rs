//! `jepsen bench`: performance figures of a real master group (failover
//! time, idle stability, write throughput), optionally next to etcd on the
//! same machine, the masters with many simulated agents (`agents`), and
//! frameworks launching tasks through offers (`scheduling`). Groups are started with the harness's cluster code and
//! removed afterwards; progress goes to stderr, the tables to stdout.

pub mod agents;
pub mod etcd;
pub mod failover;
pub mod group;
pub mod report;
pub mod scheduling;
pub mod stability;
pub mod stats;
pub mod system;
pub mod table;
pub mod throughput;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use crate::cluster::{binaries, Binaries};
use crate::net::NetWant;
use group::{GroupOpts, MesoGroup};
use system::System;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Kill -9 the leader; time until a survivor acknowledges a write.
    Failover,
    /// Idle group: elections and leader changes over time.
    Stability,
    /// Closed-loop writers: acknowledged writes per second and latency.
    Throughput,
    /// N simulated agents: registration, leader memory per agent, idle
    /// CPU of health checks, kill -9 of the leader until every agent
    /// re-registered.
    Agents,
    /// Frameworks launching short tasks through offers (v1 scheduler
    /// API): launches per second, ACCEPT -> TASK_RUNNING latency, leader
    /// memory per task; then two frameworks' DRF shares over time.
    Scheduling,
    /// failover, throughput, then stability (not agents, not
    /// scheduling).
    All,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    #[arg(value_enum)]
    pub which: Which,
    /// Masters in the Raft group (3 or 5); etcd gets as many members.
    #[arg(long, default_value_t = 3, value_parser = parse_masters)]
    pub masters: usize,
    /// Passed to the masters (default: the master's own default).
    #[arg(long)]
    pub heartbeat_interval_ms: Option<u64>,
    /// Passed to the masters (default: the master's own default).
    #[arg(long)]
    pub election_timeout_min_ms: Option<u64>,
    /// Passed to the masters (default: the master's own default).
    #[arg(long)]
    pub election_timeout_max_ms: Option<u64>,
    /// Also measure etcd (`etcd` in PATH) side by side.
    #[arg(long)]
    pub etcd: bool,
    /// With --etcd: one etcd group per timing, `HEARTBEAT/ELECTION` in ms
    /// or `default` (etcd's own). The first is the reference for the goals;
    /// 50/300 is the masters' default timing.
    #[arg(long, value_delimiter = ',', default_value = "50/300,default",
          value_parser = etcd::EtcdTiming::parse)]
    pub etcd_timing: Vec<etcd::EtcdTiming>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// failover: leader kills.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// failover: per-request time-out of the writes to the survivors.
    #[arg(long, default_value_t = 250)]
    pub request_timeout_ms: u64,

    /// stability: idle time.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// stability: seconds between status polls.
    #[arg(long, default_value_t = 2.0)]
    pub poll_seconds: f64,

    /// throughput: measured window per writer count.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// throughput: writer counts, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub writers: Vec<usize>,
    /// throughput: writes before the window are not counted.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// throughput with --etcd: workload of `etcdctl check perf` (s, m, l,
    /// xl; about 60 s).
    #[arg(long, default_value = "l", value_parser = ["s", "m", "l", "xl"])]
    pub check_perf_load: String,
    /// throughput with --etcd: skip `etcdctl check perf`.
    #[arg(long)]
    pub no_check_perf: bool,

    /// agents: simulated agent counts, one group each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,40000")]
    pub agents: Vec<usize>,
    /// agents: running tasks each agent reports when it re-registers.
    #[arg(long, default_value_t = 10)]
    pub tasks_per_agent: usize,
    /// agents: agents sharing one HTTP/2 connection (each has its own
    /// stream); 1 gives every agent a connection of its own.
    #[arg(long, default_value_t = 100)]
    pub agents_per_connection: usize,
    /// agents: simulator processes sharing the agents.
    #[arg(long, default_value_t = 1)]
    pub sim_processes: usize,
    /// agents: connection attempts in flight at most, per simulator.
    #[arg(long, default_value_t = 1024)]
    pub connect_rate: usize,
    /// agents: the agents' registration backoff factor (ms), as
    /// `mesoraft agent --registration-backoff-factor`.
    #[arg(long, default_value_t = 1000)]
    pub registration_backoff_factor_ms: u64,
    /// agents: idle window for the leader's CPU (default ping timeout).
    #[arg(long, default_value_t = 30.0)]
    pub idle_seconds: f64,
    /// agents: also measure memory and idle CPU with this
    /// --agent-ping-timeout (ms; 0 skips), for counts up to 10,000.
    #[arg(long, default_value_t = 1000)]
    pub fast_ping_timeout_ms: u64,
    /// agents: idle window with the fast ping timeout.
    #[arg(long, default_value_t = 10.0)]
    pub fast_idle_seconds: f64,
    /// agents: the simulators' --reconnect policy (agent: as `mesoraft
    /// agent`, the default; backoff: the agent's former policy).
    #[arg(long, value_parser = ["agent", "backoff"])]
    pub sim_reconnect: Option<String>,
    /// Passed to the masters (default: the master's own default).
    #[arg(long)]
    pub snapshot_logs: Option<u64>,

    /// scheduling: simulated agents (one simulator process).
    #[arg(long, default_value_t = 100)]
    pub sched_agents: usize,
    /// scheduling: tasks the launching framework runs; in the DRF part,
    /// tasks each framework wants (the agents are sized so that one
    /// framework's tasks fill the cluster).
    #[arg(long, default_value_t = 10_000)]
    pub sched_tasks: u64,
    /// scheduling: cpus of each task.
    #[arg(long, default_value_t = 0.01)]
    pub task_cpus: f64,
    /// scheduling: mem (MB) of each task.
    #[arg(long, default_value_t = 1.0)]
    pub task_mem: f64,
    /// scheduling: tasks (one LAUNCH operation each) per ACCEPT at most.
    #[arg(long, default_value_t = 100)]
    pub tasks_per_offer: u64,
    /// scheduling: tasks launched whose updates have not all arrived, at
    /// most, per framework (the master closes a scheduler stream whose
    /// event queue of 4096 fills up; each task sends two updates).
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: u64,
    /// scheduling: what launched tasks do on the simulated agents:
    /// finish (TASK_RUNNING then TASK_FINISHED at once) or run (they stay
    /// running; memory is then per live task).
    #[arg(long, default_value = "finish", value_parser = ["finish", "run"])]
    pub sched_task_end: String,
    /// scheduling: how long the two frameworks' shares are sampled.
    #[arg(long, default_value_t = 20.0)]
    pub drf_seconds: f64,
    /// scheduling: tasks each of the two frameworks launches per offer at
    /// most (few, so that many allocations decide the shares).
    #[arg(long, default_value_t = 10)]
    pub drf_tasks_per_offer: u64,
    /// scheduling: skip the two-framework DRF part.
    #[arg(long)]
    pub no_drf: bool,

    /// Where the masters run: loopback (default, like etcd) or the
    /// harness's network namespaces.
    #[arg(long, value_enum, default_value = "loopback")]
    pub net: NetWant,
    /// Run directories go to STORE/bench/<timestamp> (default
    /// <workspace>/jepsen/store).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Use the binaries in the release target dir without building them.
    #[arg(long)]
    pub no_build: bool,
    /// Directory holding `mesoraft` and `raftctl` (implies --no-build).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Keep the data directories (logs are always kept).
    #[arg(long)]
    pub keep_data: bool,
}

fn parse_masters(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(n @ (3 | 5)) => Ok(n),
        _ => Err(format!("{s:?}: the group has 3 or 5 masters")),
    }
}

impl BenchArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.trials == 0 || self.trials > 10_000 {
            bail!("--trials must be between 1 and 10000");
        }
        if !(10..=60_000).contains(&self.request_timeout_ms) {
            bail!("--request-timeout-ms must be between 10 and 60000");
        }
        if !(self.minutes > 0.0 && self.minutes <= 24.0 * 60.0) {
            bail!("--minutes must be > 0 and at most a day");
        }
        if !(self.poll_seconds >= 0.1 && self.poll_seconds <= 600.0) {
            bail!("--poll-seconds must be between 0.1 and 600");
        }
        if !(self.seconds > 0.0 && self.seconds <= 3600.0) {
            bail!("--seconds must be > 0 and at most 3600");
        }
        if !(0.0..=600.0).contains(&self.warmup_seconds) {
            bail!("--warmup-seconds must be between 0 and 600");
        }
        if self.agents.is_empty()
            || self
                .agents
                .iter()
                .any(|n| !(1..=agents::MAX_AGENTS).contains(n))
        {
            bail!(
                "--agents must list counts between 1 and {}",
                agents::MAX_AGENTS
            );
        }
        if self.tasks_per_agent > 1000 {
            bail!("--tasks-per-agent must be at most 1000");
        }
        if !(1..=190).contains(&self.agents_per_connection) {
            bail!("--agents-per-connection must be between 1 and 190 (the master takes 200 streams per connection)");
        }
        if !(1..=64).contains(&self.sim_processes) {
            bail!("--sim-processes must be between 1 and 64");
        }
        if self.connect_rate == 0 {
            bail!("--connect-rate must be at least 1");
        }
        if self.registration_backoff_factor_ms > 60_000 {
            bail!("--registration-backoff-factor-ms must be at most 60000");
        }
        for (flag, v) in [
            ("--idle-seconds", self.idle_seconds),
            ("--fast-idle-seconds", self.fast_idle_seconds),
        ] {
            if !(v > 0.0 && v <= 3600.0) {
                bail!("{flag} must be > 0 and at most 3600");
            }
        }
        if !(1..=scheduling::MAX_AGENTS).contains(&self.sched_agents) {
            bail!(
                "--sched-agents must be between 1 and {}",
                scheduling::MAX_AGENTS
            );
        }
        if !(1..=scheduling::MAX_TASKS).contains(&self.sched_tasks) {
            bail!(
                "--sched-tasks must be between 1 and {}",
                scheduling::MAX_TASKS
            );
        }
        if !(self.task_cpus >= 0.001 && self.task_cpus <= 64.0) {
            bail!("--task-cpus must be between 0.001 and 64");
        }
        if !(self.task_mem >= 0.001 && self.task_mem <= 1_048_576.0) {
            bail!("--task-mem must be between 0.001 and 1048576");
        }
        for (flag, v) in [
            ("--tasks-per-offer", self.tasks_per_offer),
            ("--drf-tasks-per-offer", self.drf_tasks_per_offer),
        ] {
            if !(1..=scheduling::MAX_TASKS_PER_ACCEPT).contains(&v) {
                bail!(
                    "{flag} must be between 1 and {} (an ACCEPT body stays under the master's 1 MiB)",
                    scheduling::MAX_TASKS_PER_ACCEPT
                );
            }
        }
        if !(1..=scheduling::MAX_TASKS).contains(&self.max_in_flight) {
            bail!(
                "--max-in-flight must be between 1 and {}",
                scheduling::MAX_TASKS
            );
        }
        if !(self.drf_seconds >= 1.0 && self.drf_seconds <= 3600.0) {
            bail!("--drf-seconds must be between 1 and 3600");
        }
        if self.writers.is_empty() || self.writers.iter().any(|w| !(1..=4096).contains(w)) {
            bail!("--writers must list counts between 1 and 4096");
        }
        let (hb, min, max) = (
            self.heartbeat_interval_ms,
            self.election_timeout_min_ms,
            self.election_timeout_max_ms,
        );
        let increasing = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        };
        if hb == Some(0) || !increasing(hb, min) || !increasing(min, max) || !increasing(hb, max) {
            bail!("timing flags must satisfy 0 < heartbeat < election min < election max");
        }
        Ok(())
    }

    pub fn runs(&self, which: Which) -> bool {
        self.which == which
            || (self.which == Which::All && !matches!(which, Which::Agents | Which::Scheduling))
    }

    /// The command line, for the printed parameters and the JSON.
    pub fn command(&self) -> String {
        let args: Vec<String> = std::env::args().skip(1).collect();
        format!("jepsen {}", args.join(" "))
    }
}

/// The default value `help` shows for `flag`: clap's `[default: N]` or
/// etcd's `--flag 'N'`.
pub fn default_in_help(help: &str, flag: &str) -> Option<u64> {
    let mut from = 0;
    while let Some(pos) = help[from..].find(flag) {
        let after = from + pos + flag.len();
        from = after;
        if !matches!(
            help[after..].chars().next(),
            Some(' ' | '=' | '<' | '\'' | '\n')
        ) {
            continue;
        }
        // The flag's own text: up to the next line that starts a flag.
        let mut section = String::new();
        for (i, line) in help[after..].lines().enumerate() {
            if i > 0 && line.trim_start().starts_with('-') {
                break;
            }
            section.push_str(line);
            section.push('\n');
        }
        let value = if let Some(rest) = section.split("[default: ").nth(1) {
            rest.split(']').next()
        } else {
            section.split('\'').nth(1)
        };
        return value.and_then(|v| v.trim().parse().ok());
    }
    None
}

/// The masters' default timing flags, from their `--help`.
fn master_defaults(bins: &Binaries) -> [Option<u64>; 3] {
    let help = std::process::Command::new(&bins.master)
        .args(&bins.master_prefix)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    [
        "--heartbeat-interval-ms",
        "--election-timeout-min-ms",
        "--election-timeout-max-ms",
    ]
    .map(|f| default_in_help(&help, f))
}

/// What every measurement shares.
pub struct Ctx {
    pub args: BenchArgs,
    pub group: GroupOpts,
    pub dir: PathBuf,
    pub etcd: Result<etcd::EtcdBins, String>,
    /// Printed above each table.
    pub mesoraft_params: String,
}

impl Ctx {
    /// The label of the etcd group the goals compare against (the first
    /// timing), if etcd runs.
    pub fn reference_etcd(&self) -> Option<String> {
        let bins = self.etcd.as_ref().ok()?;
        let timing = self.args.etcd_timing.first()?;
        Some(timing.label(bins))
    }

    /// "N members, heartbeat .., election timeout .." per etcd timing.
    pub fn etcd_params(&self) -> Vec<(String, String)> {
        let Ok(bins) = &self.etcd else {
            return Vec::new();
        };
        self.args
            .etcd_timing
            .iter()
            .map(|t| {
                (
                    t.label(bins),
                    format!("{} members, {}", self.args.masters, t.describe(bins)),
                )
            })
            .collect()
    }
}

/// "heartbeat 50 ms (default)", or the value given.
fn timing_text(given: Option<u64>, default: Option<u64>) -> String {
    match (given, default) {
        (Some(v), _) => format!("{v} ms"),
        (None, Some(d)) => format!("{d} ms (default)"),
        (None, None) => "master default".into(),
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    args.validate()?;
    let bins = binaries::real(
        args.bin_dir.as_deref(),
        args.no_build || args.bin_dir.is_some(),
    )?;
    let defaults = master_defaults(&bins);
    let store = args.store.clone().unwrap_or_else(crate::default_store);
    let dir = store
        .join("bench")
        .join(crate::runner::timestamp(SystemTime::now()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let etcd = if args.etcd {
        etcd::find()
    } else {
        Err("not requested (--etcd)".into())
    };
    let given = [
        args.heartbeat_interval_ms,
        args.election_timeout_min_ms,
        args.election_timeout_max_ms,
    ];
    let mesoraft_params = format!(
        "{} masters, heartbeat {}, election timeout min {}, max {}",
        args.masters,
        timing_text(given[0], defaults[0]),
        timing_text(given[1], defaults[1]),
        timing_text(given[2], defaults[2]),
    );
    println!("jepsen bench: {}", args.command());
    println!("  mesoraft: {mesoraft_params}");
    if let Err(reason) = &etcd {
        if args.etcd {
            println!("  etcd skipped: {reason}");
        }
    }
    let ctx = Ctx {
        group: GroupOpts {
            masters: args.masters,
            binaries: bins,
            heartbeat_ms: given[0],
            election_min_ms: given[1],
            election_max_ms: given[2],
            net: args.net,
            keep_data: args.keep_data,
            agent_health: None,
            snapshot_logs: args.snapshot_logs,
        },
        dir,
        etcd,
        mesoraft_params,
        args,
    };
    for (label, params) in ctx.etcd_params() {
        println!("  {label}: {params}");
    }
    println!("  run directory (logs): {}", ctx.dir.display());
    let mut out = Map::new();
    out.insert("command".into(), json!(ctx.args.command()));
    out.insert(
        "parameters".into(),
        json!({
            "masters": ctx.args.masters,
            "heartbeat_interval_ms": given[0].or(defaults[0]),
            "election_timeout_min_ms": given[1].or(defaults[1]),
            "election_timeout_max_ms": given[2].or(defaults[2]),
            "timing_flags_given": given,
            "mesoraft": ctx.mesoraft_params,
            "etcd": match &ctx.etcd {
                Ok(b) => json!({"version": b.version,
                                "groups": ctx.etcd_params().into_iter()
                                    .map(|(label, params)| json!({"label": label, "params": params}))
                                    .collect::<Vec<_>>(),
                                "default_heartbeat_ms": b.heartbeat_ms,
                                "default_election_ms": b.election_ms}),
                Err(reason) => json!({"skipped": reason}),
            },
            "run_dir": ctx.dir,
        }),
    );
    let result = run_selected(&ctx, &mut out).await;
    if let Err(e) = &result {
        out.insert("error".into(), json!(format!("{e:#}")));
    }
    if let Some(path) = &ctx.args.json {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(out))?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: figures written to {}", path.display());
    }
    result.map(|()| true)
}

async fn start_meso(ctx: &Ctx, dir: &Path) -> anyhow::Result<MesoGroup> {
    let g = MesoGroup::start(&ctx.group, dir)?;
    g.wait_agreed(None, Duration::from_secs(60))
        .await
        .context("mesoraft group did not come up")?;
    eprintln!("bench: mesoraft group up ({})", g.network());
    Ok(g)
}

/// The etcd groups to measure, one per timing (none without --etcd).
fn etcd_timings(ctx: &Ctx) -> Vec<etcd::EtcdTiming> {
    if ctx.etcd.is_ok() {
        ctx.args.etcd_timing.clone()
    } else {
        Vec::new()
    }
}

async fn start_etcd(
    ctx: &Ctx,
    timing: etcd::EtcdTiming,
    dir: &Path,
) -> anyhow::Result<etcd::EtcdGroup> {
    let bins = ctx.etcd.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let g = etcd::EtcdGroup::start(bins, timing, ctx.args.masters, dir, ctx.args.keep_data)?;
    g.wait_agreed(None, Duration::from_secs(60))
        .await
        .context("etcd did not come up")?;
    eprintln!("bench: {} group up", g.label());
    Ok(g)
}

/// A run directory name per etcd timing: `PREFIX-etcd-50-300`.
fn etcd_dir(ctx: &Ctx, prefix: &str, timing: etcd::EtcdTiming) -> PathBuf {
    ctx.dir.join(format!(
        "{prefix}-etcd-{}",
        timing.short().replace('/', "-")
    ))
}

async fn run_selected(ctx: &Ctx, out: &mut Map<String, Value>) -> anyhow::Result<()> {
    let a = &ctx.args;
    if a.runs(Which::Failover) {
        let timeout = Duration::from_millis(a.request_timeout_ms);
        let mut reports = Vec::new();
        {
            let g = start_meso(ctx, &ctx.dir.join("failover-mesoraft")).await?;
            reports.push(failover::run(&g, a.trials, timeout).await);
        }
        for timing in etcd_timings(ctx) {
            let g = start_etcd(ctx, timing, &etcd_dir(ctx, "failover", timing)).await?;
            reports.push(failover::run(&g, a.trials, timeout).await);
        }
        println!("\n{}", report::failover(ctx, &reports));
        out.insert("failover".into(), serde_json::to_value(&reports)?);
    }
    if a.runs(Which::Throughput) {
        let warmup = Duration::from_secs_f64(a.warmup_seconds);
        let window = Duration::from_secs_f64(a.seconds);
        let mut runs = Vec::new();
        {
            let g = Arc::new(start_meso(ctx, &ctx.dir.join("throughput-mesoraft")).await?);
            runs.extend(throughput::run(g, &a.writers, warmup, window).await?);
        }
        let mut perf = None;
        for (i, timing) in etcd_timings(ctx).into_iter().enumerate() {
            let g = start_etcd(ctx, timing, &etcd_dir(ctx, "throughput", timing)).await?;
            let g = Arc::new(g);
            runs.extend(throughput::run(g.clone(), &a.writers, warmup, window).await?);
            // Once, on the reference group: it measures the disk and
            // network more than the timing.
            if i == 0 && !a.no_check_perf {
                eprintln!(
                    "bench: etcdctl check perf --load={} (about a minute)",
                    a.check_perf_load
                );
                perf = Some(
                    match g
                        .check_perf(&a.check_perf_load, Duration::from_secs(180))
                        .await
                    {
                        Ok((lines, exit)) => report::CheckPerf {
                            load: a.check_perf_load.clone(),
                            writes_per_s: etcd::check_perf_throughput(&lines),
                            lines,
                            exit,
                        },
                        Err(e) => report::CheckPerf {
                            load: a.check_perf_load.clone(),
                            writes_per_s: None,
                            lines: vec![format!("check perf failed: {e:#}")],
                            exit: "error".into(),
                        },
                    },
                );
            }
        }
        println!("\n{}", report::throughput(ctx, &runs, perf.as_ref()));
        out.insert(
            "throughput".into(),
            json!({"runs": runs, "etcd_check_perf": perf}),
        );
    }
    if a.runs(Which::Stability) {
        let g = start_meso(ctx, &ctx.dir.join("stability-mesoraft")).await?;
        let r = stability::run(
            &g,
            Duration::from_secs_f64(a.minutes * 60.0),
            Duration::from_secs_f64(a.poll_seconds),
        )
        .await?;
        drop(g);
        println!("\n{}", report::stability(ctx, &r));
        out.insert("stability".into(), serde_json::to_value(&r)?);
    }
    if a.runs(Which::Agents) {
        let reports = agents::run(ctx).await;
        println!("\n{}", agents::print::agents(ctx, &reports));
        out.insert("agents".into(), serde_json::to_value(&reports)?);
    }
    if a.runs(Which::Scheduling) {
        let report = scheduling::run(ctx).await;
        println!("\n{}", scheduling::print::scheduling(ctx, &report));
        out.insert("scheduling".into(), serde_json::to_value(&report)?);
    }
    Ok(())
}

/// A document a master serves at `path` (`/metrics/snapshot`,
/// `/master/frameworks`, ...), None if it does not answer with JSON in
/// `limit`.
pub(crate) async fn master_json(
    http: &reqwest::Client,
    addr: &str,
    path: &str,
    limit: Duration,
) -> Option<Value> {
    http.get(format!("http://{addr}{path}"))
        .timeout(limit)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// One figure of the master's `/metrics/snapshot`.
pub(crate) async fn master_figure(http: &reqwest::Client, addr: &str, name: &str) -> Option<f64> {
    let figures = master_json(http, addr, "/metrics/snapshot", Duration::from_secs(2)).await?;
    figures.get(name)?.as_f64()
}

#[cfg(test)]
mod tests;
