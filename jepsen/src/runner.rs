//! One test run, end to end: network and cluster up, workload and fault
//! schedule concurrently for the time limit, heal, final operations,
//! everything torn down, checkers, and the run directory written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde_json::{json, Value};

use crate::checker::{CheckResult, Validity};
use crate::cleanup::Slot;
use crate::client::ApiClient;
use crate::cluster::{Binaries, Cluster, ClusterConfig, NodeSpec};
use crate::history::{self, Recorder};
use crate::nemesis::{self, Nemesis, NemesisCtx};
use crate::net::{MethodWant, Net, NetWant};
use crate::report;
use crate::schedule::{self, Action, Step, Timing};
use crate::workload::{self, Workload, WorkloadCtx, WorkloadOpts};

#[derive(Clone, Debug)]
pub struct TestOpts {
    pub workload: String,
    pub nemeses: Vec<String>,
    pub time_limit: Duration,
    pub seed: u64,
    pub masters: usize,
    pub concurrency: usize,
    pub store: PathBuf,
    pub binaries: Binaries,
    pub net: NetWant,
    pub partition_method: MethodWant,
    pub stale_reads: bool,
    pub op_timeout: Duration,
    pub timing: Timing,
    pub check_budget: Duration,
    pub workload_opts: WorkloadOpts,
    /// Raft timing flags for the masters; None keeps the masters' own
    /// defaults (the production setting, which is what gets tested).
    pub heartbeat_ms: Option<u64>,
    pub election_min_ms: Option<u64>,
    pub election_max_ms: Option<u64>,
    pub snapshot_logs: Option<u64>,
    /// Keep node data directories even when the run passes.
    pub keep_data: bool,
    /// How long the cluster gets to elect a leader (start and after heal).
    pub ready_timeout: Duration,
}

impl TestOpts {
    pub fn new(workload: &str, nemeses: &[&str], binaries: Binaries) -> Self {
        Self {
            workload: workload.into(),
            nemeses: nemeses.iter().map(|s| s.to_string()).collect(),
            time_limit: Duration::from_secs(60),
            seed: 0,
            masters: 3,
            concurrency: 5,
            store: crate::default_store(),
            binaries,
            net: NetWant::Auto,
            partition_method: MethodWant::Auto,
            stale_reads: false,
            op_timeout: Duration::from_secs(1),
            timing: Timing::default(),
            check_budget: Duration::from_secs(120),
            workload_opts: WorkloadOpts::default(),
            heartbeat_ms: None,
            election_min_ms: None,
            election_max_ms: None,
            snapshot_logs: None,
            keep_data: false,
            ready_timeout: Duration::from_secs(60),
        }
    }

    pub fn test_name(&self) -> String {
        let everything = crate::nemesis::ALL.len() == self.nemeses.len()
            && crate::nemesis::ALL
                .iter()
                .all(|n| self.nemeses.iter().any(|m| m == n));
        let nem = if self.nemeses.is_empty() {
            "none".to_string()
        } else if everything {
            "all".to_string()
        } else {
            self.nemeses.join("+")
        };
        let workloads = workload::names(&self.workload)
            .map(|names| names.join("+"))
            .unwrap_or_else(|_| self.workload.replace(',', "+"));
        let mut name = format!("{workloads}-{nem}");
        if self.stale_reads {
            name.push_str("-STALE-READS");
        }
        name
    }

    /// The command line that repeats this run's schedule.
    pub fn reproduce(&self) -> String {
        let mut cmd = format!(
            "cargo run --release -p jepsen -- test --workload {} --nemesis {} --time-limit {} --seed {} --masters {} --concurrency {}",
            self.workload,
            if self.nemeses.is_empty() { "none".into() } else { self.nemeses.join(",") },
            self.time_limit.as_secs(),
            self.seed,
            self.masters,
            self.concurrency
        );
        for (flag, value) in [
            ("--heartbeat-ms", self.heartbeat_ms),
            ("--election-min-ms", self.election_min_ms),
            ("--election-max-ms", self.election_max_ms),
        ] {
            if let Some(v) = value {
                cmd.push_str(&format!(" {flag} {v}"));
            }
        }
        if self.stale_reads {
            cmd.push_str(" --debug-stale-reads");
        }
        cmd
    }
}

pub struct RunOutcome {
    pub dir: PathBuf,
    pub valid: Validity,
    pub results: Value,
}

/// Kills the cluster and removes the network when the run ends in any way
/// (including a panic unwinding through the runner).
struct RunGuard {
    cluster: Arc<Cluster>,
    net: Arc<Net>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.cluster.resume_all();
        self.cluster.kill_all();
        self.net.teardown();
    }
}

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC, without a date library.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// What the run produced before the checkers.
struct Phases {
    error: Option<String>,
    skipped: Vec<Value>,
}

pub async fn run_test(opts: &TestOpts) -> anyhow::Result<RunOutcome> {
    let name = opts.test_name();
    let dir = opts.store.join(&name).join(timestamp(SystemTime::now()));
    std::fs::create_dir_all(dir.join("nodes"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let started = Instant::now();
    eprintln!(
        "jepsen: {name}: seed {}, run directory {}",
        opts.seed,
        dir.display()
    );
    eprintln!("jepsen: reproduce with: {}", opts.reproduce());

    let workload = workload::by_name(&opts.workload, &opts.workload_opts)?;
    let nemeses: Vec<Box<dyn Nemesis>> = opts
        .nemeses
        .iter()
        .map(|n| nemesis::by_name(n).with_context(|| format!("unknown nemesis {n:?}")))
        .collect::<anyhow::Result<_>>()?;

    let ids: Vec<u64> = (1..=opts.masters as u64).collect();
    let slot = Slot::acquire()?;
    let net = Net::setup(slot.clone(), &ids, opts.net, opts.partition_method)?;
    eprintln!("jepsen: network: {}", net.describe());
    let nodes = NodeSpec::all_on(&net, &ids, &dir.join("data"), &dir.join("nodes"));
    let cluster = Arc::new(Cluster::new(
        ClusterConfig {
            binaries: opts.binaries.clone(),
            heartbeat_ms: opts.heartbeat_ms,
            election_min_ms: opts.election_min_ms,
            election_max_ms: opts.election_max_ms,
            snapshot_logs: opts.snapshot_logs,
            stale_reads: opts.stale_reads,
            env: vec![],
        },
        nodes,
        slot,
    )?);
    let guard = RunGuard {
        cluster: cluster.clone(),
        net: net.clone(),
    };
    let nemesis_ctx = NemesisCtx {
        cluster: cluster.clone(),
        net: net.clone(),
    };

    // Nemeses that cannot run here are left out of the schedule, loudly.
    let mut active: Vec<&dyn Nemesis> = Vec::new();
    let mut skipped = Vec::new();
    for n in &nemeses {
        match n.unsupported(&nemesis_ctx) {
            Some(reason) => {
                eprintln!("jepsen: skipping nemesis {}: {reason}", n.name());
                skipped.push(json!({"nemesis": n.name(), "reason": reason}));
            }
            None => active.push(n.as_ref()),
        }
    }
    let active_names: Vec<String> = active.iter().map(|n| n.name().to_string()).collect();
    let steps = schedule::generate(opts.seed, &active_names, opts.time_limit, &opts.timing);
    eprintln!(
        "jepsen: fault schedule (seed {}):\n{}",
        opts.seed,
        schedule::render(&steps)
    );
    std::fs::write(
        dir.join("schedule.json"),
        serde_json::to_string_pretty(&json!({
            "seed": opts.seed, "nemeses": active_names, "skipped": skipped,
            "timing_ms": {
                "fault_min": opts.timing.fault_min.as_millis() as u64, "fault_max": opts.timing.fault_max.as_millis() as u64,
                "quiet_min": opts.timing.quiet_min.as_millis() as u64, "quiet_max": opts.timing.quiet_max.as_millis() as u64,
            },
            "time_limit_s": opts.time_limit.as_secs_f64(),
            "steps": steps,
        }))?,
    )?;

    let client = ApiClient::new(cluster.addrs(), opts.op_timeout)?;
    let recorder = Arc::new(Recorder::new(Instant::now()));
    let mut phases = Phases {
        error: None,
        skipped,
    };
    let mut ctx = WorkloadCtx {
        cluster: cluster.clone(),
        recorder: recorder.clone(),
        client,
        seed: opts.seed,
        concurrency: opts.concurrency,
        end: Instant::now(),
        process_base: 0,
    };
    // On Ctrl-C the emergency cleanup also saves what was recorded so far.
    let partial = {
        let (rec, path) = (recorder.clone(), dir.join("history.partial.jsonl"));
        crate::cleanup::register_teardown(Arc::new(move || {
            let _ = history::write_jsonl(&path, &rec.snapshot());
        }))
    };
    let driven = drive(opts, &workload, &active, &steps, &nemesis_ctx, &mut ctx).await;
    crate::cleanup::unregister_teardown(partial);
    if let Err(e) = driven {
        eprintln!("jepsen: run aborted: {e:#}");
        phases.error = Some(format!("{e:#}"));
    }
    let exits = cluster.unexpected_exits();
    drop(guard);
    drop(nemesis_ctx);

    let history = recorder.snapshot();
    history::write_jsonl(&dir.join("history.jsonl"), &history)?;
    eprintln!("jepsen: {} history records; checking", history.len());

    let shared = Arc::new(history);
    let mut per_workload: Vec<(String, Vec<CheckResult>)> = Vec::new();
    for (name, checkers) in workload.checkers_by_part(opts.check_budget) {
        let mut own = Vec::new();
        for checker in checkers {
            let h = shared.clone();
            let r = tokio::task::spawn_blocking(move || checker.check(&h)).await?;
            eprintln!(
                "jepsen:   {name:<11} {:<22} {:?}: {}",
                r.checker, r.valid, r.summary
            );
            own.push(r);
        }
        per_workload.push((name, own));
    }
    let results: Vec<CheckResult> = per_workload
        .iter()
        .flat_map(|(_, r)| r.iter().cloned())
        .collect();
    let mut valid = results.iter().fold(Validity::True, |v, r| v.and(r.valid));
    if phases.error.is_some() {
        valid = valid.and(Validity::Unknown);
    }
    let results_json = json!({
        "test": name,
        "valid": valid.to_json(),
        "seed": opts.seed,
        "workload": opts.workload,
        "nemeses": opts.nemeses,
        "skipped_nemeses": phases.skipped,
        "masters": opts.masters,
        "concurrency": opts.concurrency,
        "network": net.describe(),
        "binaries": opts.binaries.describe,
        "stale_reads_bug_enabled": opts.stale_reads,
        "time_limit_s": opts.time_limit.as_secs_f64(),
        "duration_s": started.elapsed().as_secs_f64(),
        "reproduce": opts.reproduce(),
        "error": phases.error,
        "unexpected_exits": exits.iter().map(|(id, s)| json!({"node": id, "status": s})).collect::<Vec<_>>(),
        "checkers": results,
        "stats": report::stats(&shared),
        "workloads": workload_summaries(&shared, &per_workload),
    });
    drop(net);
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results_json)?,
    )?;
    std::fs::write(
        dir.join("report.html"),
        report::html::render(&results_json, &shared, opts.concurrency as u64),
    )?;
    if valid.is_pass() && !opts.keep_data {
        let _ = std::fs::remove_dir_all(dir.join("data"));
    }
    eprintln!(
        "jepsen: {name}: {} -> {}",
        match valid {
            Validity::True => "PASS",
            Validity::False => "FAIL",
            Validity::Unknown => "UNKNOWN",
        },
        dir.join("report.html").display()
    );
    Ok(RunOutcome {
        dir,
        valid,
        results: results_json,
    })
}

/// Each workload of the run with its own verdict and figures (a composed
/// run shares one history; see `workload::composed`).
pub fn workload_summaries(history: &[history::Op], parts: &[(String, Vec<CheckResult>)]) -> Value {
    parts
        .iter()
        .enumerate()
        .map(|(i, (name, results))| {
            let ops = workload::composed::part_history(history, i);
            let verdict = results.iter().fold(Validity::True, |v, r| v.and(r.valid));
            json!({"workload": name, "valid": verdict.to_json(), "stats": report::stats(&ops)})
        })
        .collect()
}

/// Cluster start, workload with the schedule, heal, final phase.
async fn drive(
    opts: &TestOpts,
    workload: &dyn Workload,
    active: &[&dyn Nemesis],
    steps: &[Step],
    nemesis_ctx: &NemesisCtx,
    ctx: &mut WorkloadCtx,
) -> anyhow::Result<()> {
    let cluster = &nemesis_ctx.cluster;
    cluster.start_all()?;
    cluster
        .wait_healthy(&cluster.ids(), opts.ready_timeout)
        .await
        .context("masters did not come up")?;
    let leader = cluster
        .wait_ready(opts.ready_timeout)
        .await
        .context("no leader at start")?;
    eprintln!(
        "jepsen: cluster ready, leader {leader}; running for {:?}",
        opts.time_limit
    );

    // The history's clock and the schedule both start now.
    let start = Instant::now();
    ctx.recorder.restart_clock(start);
    ctx.end = start + opts.time_limit;
    let ctx: &WorkloadCtx = ctx;
    let driver = async {
        for step in steps {
            tokio::time::sleep_until((start + Duration::from_millis(step.at_ms)).into()).await;
            let Some(n) = active.iter().find(|n| n.name() == step.nemesis) else {
                continue;
            };
            // The record is written when the action is done; `began_ns`
            // says when it started (a checker needs both ends, e.g. to know
            // when a wiped node may first answer from an empty disk).
            let began_ns = ctx.recorder.now();
            let (f, result) = match step.action {
                Action::Start => ("start", n.start(nemesis_ctx, step.seed).await),
                Action::Stop => ("stop", n.stop(nemesis_ctx).await),
            };
            let (value, error) = match result {
                Ok(v) => (v, None),
                Err(e) => (Value::Null, Some(format!("{e:#}"))),
            };
            eprintln!(
                "jepsen: {:>7.1}s nemesis {f} {}: {}{}",
                start.elapsed().as_secs_f64(),
                step.nemesis,
                value,
                error
                    .as_deref()
                    .map(|e| format!(" ERROR {e}"))
                    .unwrap_or_default()
            );
            ctx.recorder.nemesis(
                f,
                json!({"nemesis": step.nemesis, "seed": step.seed, "value": value,
                       "began_ns": began_ns}),
                error,
            );
        }
    };
    let (run, ()) = tokio::join!(workload.run(ctx), driver);
    run?;

    // Heal everything, whatever the schedule left behind.
    let mut healed = Vec::new();
    for n in active {
        if let Err(e) = n.stop(nemesis_ctx).await {
            healed.push(format!("{}: {e:#}", n.name()));
        }
    }
    if let Err(e) = nemesis_ctx.net.heal() {
        healed.push(format!("net: {e:#}"));
    }
    let resumed = cluster.resume_all();
    let was_down: Vec<u64> = {
        let running = cluster.running();
        cluster
            .ids()
            .into_iter()
            .filter(|id| !running.contains(id))
            .collect()
    };
    cluster.start_all()?;
    let ready = cluster.wait_ready(opts.ready_timeout).await;
    ctx.recorder.nemesis(
        "heal",
        json!({"nemesis": "heal", "value": {"resumed": resumed, "restarted": was_down,
               "ready": ready.is_ok(), "problems": healed}}),
        ready.as_ref().err().map(|e| format!("{e:#}")),
    );
    let leader = ready.context("cluster did not recover after healing")?;
    eprintln!("jepsen: healed; leader {leader}; final operations");
    workload.finish(ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000_000_123);
        assert_eq!(timestamp(t), "20010909T014640.123Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "20000229T000000.000Z");
    }

    #[test]
    fn names_and_reproduction() {
        let bins = crate::cluster::binaries::fake(std::path::Path::new("/x/jepsen"));
        let mut o = TestOpts::new("register", &["partition", "kill"], bins);
        o.seed = 7;
        assert_eq!(o.test_name(), "register-partition+kill");
        assert!(o.reproduce().contains("--nemesis partition,kill"));
        assert!(o.reproduce().contains("--seed 7"));
        o.nemeses = crate::nemesis::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(o.test_name(), "register-all");
        o.nemeses.clear();
        o.stale_reads = true;
        assert_eq!(o.test_name(), "register-none-STALE-READS");
    }
}
