//! One test run, end to end, in four phases: [`setup`] (network, cluster,
//! nemeses, schedule), [`drive`] (workload and fault schedule concurrently
//! for the time limit, heal, final operations, convergence), [`check`]
//! (every workload's checkers on its own operations, run-level checks, the
//! verdict) and [`persist`] (history, results.json, report.html).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde_json::json;

use crate::checker::CheckResult;
use crate::cleanup::Slot;
use crate::client::ApiClient;
use crate::cluster::{Binaries, Cluster, ClusterConfig, NodeSpec};
use crate::convergence;
use crate::history::{self, Op, Recorder};
use crate::nemesis::{self, Injection, Nemesis, NemesisCtx};
use crate::net::Net;
use crate::report;
use crate::results::{
    judge, Injections, RunFindings, RunResults, UnexpectedExit, Verdict, WorkloadResults, FORMAT,
};
use crate::schedule::{self, Action, Step};
use crate::spec::RunSpec;
use crate::workload::{self, composed::Composed, Workload, WorkloadCtx};

#[derive(Clone, Debug)]
pub struct TestOpts {
    /// Everything that determines the run (and reproduces it).
    pub spec: RunSpec,
    pub binaries: Binaries,
    pub store: PathBuf,
    /// Keep node data directories even when the run passes.
    pub keep_data: bool,
    /// How long the cluster gets to elect a leader (start and after heal).
    pub ready_timeout: Duration,
}

impl TestOpts {
    pub fn new(workload: &str, nemeses: &[&str], binaries: Binaries) -> Self {
        Self::from_spec(
            RunSpec {
                workload: workload.into(),
                nemeses: nemeses.iter().map(|s| s.to_string()).collect(),
                ..RunSpec::default()
            },
            binaries,
        )
    }

    pub fn from_spec(spec: RunSpec, binaries: Binaries) -> Self {
        Self {
            spec,
            binaries,
            store: crate::default_store(),
            keep_data: false,
            ready_timeout: crate::cli::READY_TIMEOUT,
        }
    }

    pub fn test_name(&self) -> String {
        let nemeses = &self.spec.nemeses;
        let everything = nemesis::ALL.len() == nemeses.len()
            && nemesis::ALL.iter().all(|n| nemeses.iter().any(|m| m == n));
        let nem = if nemeses.is_empty() {
            "none".to_string()
        } else if everything {
            "all".to_string()
        } else {
            nemeses.join("+")
        };
        let workloads = workload::names(&self.spec.workload)
            .map(|names| names.join("+"))
            .unwrap_or_else(|_| self.spec.workload.replace(',', "+"));
        let mut name = format!("{workloads}-{nem}");
        if self.spec.stale_reads {
            name.push_str("-STALE-READS");
        }
        if self.spec.skip_fsync {
            name.push_str("-SKIP-FSYNC");
        }
        name
    }

    /// The command line that repeats this run's schedule.
    pub fn reproduce(&self) -> String {
        self.spec.reproduce()
    }
}

pub struct RunOutcome {
    pub dir: PathBuf,
    pub results: RunResults,
}

impl RunOutcome {
    pub fn verdict(&self) -> Verdict {
        self.results.verdict
    }
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

/// What `setup` built.
struct Setup {
    dir: PathBuf,
    workload: Composed,
    nemeses: Vec<Box<dyn Nemesis>>,
    /// Indexes into `nemeses` of those that can run here.
    active: Vec<usize>,
    steps: Vec<Step>,
    injections: Arc<Mutex<BTreeMap<String, Injections>>>,
    cluster: Arc<Cluster>,
    net: Arc<Net>,
}

/// What `drive` found besides the history.
#[derive(Default)]
struct Driven {
    error: Option<String>,
    heal_problems: Vec<String>,
    recovered_after_heal: bool,
}

pub async fn run_test(opts: &TestOpts) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let setup = setup(opts)?;
    let recorder = Arc::new(Recorder::new(Instant::now()));
    // On Ctrl-C the emergency cleanup also saves what was recorded so far.
    let partial = {
        let (rec, path) = (recorder.clone(), setup.dir.join("history.partial.jsonl"));
        crate::cleanup::register_teardown(Arc::new(move || {
            let _ = history::write_jsonl(&path, &rec.snapshot());
        }))
    };
    let guard = RunGuard {
        cluster: setup.cluster.clone(),
        net: setup.net.clone(),
    };
    let driven = drive(opts, &setup, recorder.clone()).await;
    crate::cleanup::unregister_teardown(partial);
    let exits: Vec<UnexpectedExit> = setup
        .cluster
        .unexpected_exits()
        .into_iter()
        .map(|(node, status)| UnexpectedExit { node, status })
        .collect();
    let network = setup.net.describe();
    drop(guard);

    let history = recorder.snapshot();
    history::write_jsonl(&setup.dir.join("history.jsonl"), &history)?;
    eprintln!("jepsen: {} history records; checking", history.len());
    let injections = setup
        .injections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let history = Arc::new(history);
    let results = check(
        opts,
        &setup.workload,
        history.clone(),
        CheckInputs {
            driven,
            exits,
            injections,
            network,
            duration_s: started.elapsed().as_secs_f64(),
        },
    )
    .await?;
    persist(opts, &setup.dir, &results, &history)?;
    Ok(RunOutcome {
        dir: setup.dir,
        results,
    })
}

/// Run directory, network, cluster, nemeses and schedule.
fn setup(opts: &TestOpts) -> anyhow::Result<Setup> {
    let name = opts.test_name();
    let spec = &opts.spec;
    let dir = opts.store.join(&name).join(timestamp(SystemTime::now()));
    std::fs::create_dir_all(dir.join("nodes"))
        .with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "jepsen: {name}: seed {}, run directory {}",
        spec.seed,
        dir.display()
    );
    eprintln!("jepsen: reproduce with: {}", opts.reproduce());

    let workload = workload::by_name(&spec.workload, &spec.workload_opts())?;
    let nemeses: Vec<Box<dyn Nemesis>> = spec
        .nemeses
        .iter()
        .map(|n| nemesis::by_name(n).with_context(|| format!("unknown nemesis {n:?}")))
        .collect::<anyhow::Result<_>>()?;

    let ids: Vec<u64> = (1..=spec.masters as u64).collect();
    let slot = Slot::acquire()?;
    let net = Net::setup(slot.clone(), &ids, spec.net, spec.partition_method)?;
    eprintln!("jepsen: network: {}", net.describe());
    let nodes = NodeSpec::all_on(&net, &ids, &dir.join("data"), &dir.join("nodes"));
    let cluster = Arc::new(Cluster::new(
        ClusterConfig {
            binaries: opts.binaries.clone(),
            heartbeat_ms: spec.heartbeat_ms,
            election_min_ms: spec.election_min_ms,
            election_max_ms: spec.election_max_ms,
            snapshot_logs: spec.snapshot_logs,
            stale_reads: spec.stale_reads,
            skip_fsync: spec.skip_fsync,
            lazyfs: wants_lazyfs(&spec.nemeses),
            env: vec![],
        },
        nodes,
        slot,
    )?);
    let ctx = NemesisCtx {
        cluster: cluster.clone(),
        net: net.clone(),
    };

    // Nemeses that cannot run here are left out of the schedule, loudly,
    // and their rows say `untested`.
    let mut injections: BTreeMap<String, Injections> = BTreeMap::new();
    let mut active = Vec::new();
    for (i, n) in nemeses.iter().enumerate() {
        let entry = injections.entry(n.name().to_string()).or_default();
        match n.unsupported(&ctx) {
            Some(reason) => {
                eprintln!("jepsen: skipping nemesis {}: {reason}", n.name());
                entry.skipped = Some(reason);
            }
            None => active.push(i),
        }
    }
    let active_names: Vec<String> = active
        .iter()
        .map(|i| nemeses[*i].name().to_string())
        .collect();
    let time_limit = Duration::from_secs(spec.time_limit_s);
    let steps = schedule::generate(spec.seed, &active_names, time_limit, &spec.timing);
    eprintln!(
        "jepsen: fault schedule (seed {}):\n{}",
        spec.seed,
        schedule::render(&steps)
    );
    std::fs::write(
        dir.join("schedule.json"),
        serde_json::to_string_pretty(&json!({
            "seed": spec.seed, "nemeses": active_names, "injections": injections,
            "timing": spec.timing, "time_limit_s": spec.time_limit_s, "steps": steps,
        }))?,
    )?;
    Ok(Setup {
        dir,
        workload,
        nemeses,
        active,
        steps,
        injections: Arc::new(Mutex::new(injections)),
        cluster,
        net,
    })
}

/// Whether the masters' work dirs must be lazyfs mounts: a nemesis loses
/// unsynced writes, and FUSE works here (otherwise those nemeses are
/// skipped and the run says `untested`).
fn wants_lazyfs(nemeses: &[String]) -> bool {
    let asked = nemeses.iter().any(|n| nemesis::needs_lazyfs(n));
    match crate::lazyfs::LazyFs::supported() {
        Ok(()) => asked,
        Err(why) => {
            if asked {
                eprintln!("jepsen: lazyfs unavailable: {why}");
            }
            false
        }
    }
}

/// The clients of the workloads: ordinary ones and the slow ones.
fn workload_ctx(
    spec: &RunSpec,
    cluster: &Arc<Cluster>,
    recorder: &Arc<Recorder>,
) -> anyhow::Result<WorkloadCtx> {
    let client = ApiClient::new(cluster.addrs(), Duration::from_millis(spec.op_timeout_ms))?;
    let slow = ApiClient::new(
        cluster.addrs(),
        Duration::from_millis(spec.slow_op_timeout_ms),
    )?;
    Ok(WorkloadCtx {
        cluster: cluster.clone(),
        recorder: recorder.clone(),
        client,
        slow_client: slow,
        slow_clients: spec.slow_clients.min(spec.concurrency),
        seed: spec.seed,
        concurrency: spec.concurrency,
        end: Instant::now(),
        process_base: 0,
    })
}

/// Cluster start, workload with the schedule, heal, final phase,
/// convergence. Never fails: what went wrong is in the result.
async fn drive(opts: &TestOpts, setup: &Setup, recorder: Arc<Recorder>) -> Driven {
    let mut driven = Driven::default();
    let ctx = NemesisCtx {
        cluster: setup.cluster.clone(),
        net: setup.net.clone(),
    };
    let mut wctx = match workload_ctx(&opts.spec, &setup.cluster, &recorder) {
        Ok(c) => c,
        Err(e) => {
            driven.error = Some(format!("{e:#}"));
            return driven;
        }
    };
    if let Err(e) = start_cluster(opts, &setup.cluster).await {
        driven.error = Some(format!("{e:#}"));
        return driven;
    }

    // The history's clock and the schedule both start now.
    let start = Instant::now();
    recorder.restart_clock(start);
    wctx.end = start + Duration::from_secs(opts.spec.time_limit_s);
    let active: Vec<&dyn Nemesis> = setup
        .active
        .iter()
        .map(|i| setup.nemeses[*i].as_ref())
        .collect();
    // One driver per nemesis: a nemesis never overlaps itself, faults of
    // different nemeses may (see `schedule`).
    let drivers = active.iter().map(|n| {
        let steps: Vec<&Step> = setup
            .steps
            .iter()
            .filter(|s| s.nemesis == n.name())
            .collect();
        drive_nemesis(*n, steps, start, &ctx, &recorder, &setup.injections)
    });
    let (run, _) = tokio::join!(
        setup.workload.run(&wctx),
        futures::future::join_all(drivers)
    );
    if let Err(e) = run {
        driven.error = Some(format!("workload: {e:#}"));
    }

    match heal(opts, &active, &ctx, &recorder).await {
        Ok((problems, recovered)) => {
            driven.heal_problems = problems;
            driven.recovered_after_heal = recovered;
        }
        Err(e) => {
            driven.error.get_or_insert(format!("heal: {e:#}"));
            return driven;
        }
    }
    if !driven.recovered_after_heal {
        return driven;
    }
    eprintln!("jepsen: healed; final operations");
    if let Err(e) = setup.workload.finish(&wctx).await {
        driven.error.get_or_insert(format!("final phase: {e:#}"));
        return driven;
    }
    convergence::poll(&setup.cluster, &recorder).await;
    driven
}

async fn start_cluster(opts: &TestOpts, cluster: &Cluster) -> anyhow::Result<()> {
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
        "jepsen: cluster ready, leader {leader}; running for {} s",
        opts.spec.time_limit_s
    );
    Ok(())
}

/// Carries out one nemesis's steps at their times, recording each and
/// counting its injections.
async fn drive_nemesis(
    n: &dyn Nemesis,
    steps: Vec<&Step>,
    start: Instant,
    ctx: &NemesisCtx,
    recorder: &Recorder,
    injections: &Mutex<BTreeMap<String, Injections>>,
) {
    for step in steps {
        tokio::time::sleep_until((start + Duration::from_millis(step.at_ms)).into()).await;
        // The record is written when the action is done; `began_ns` says
        // when it started (the fault is in place from about then on).
        let began_ns = recorder.now();
        let mut record = json!({"nemesis": step.nemesis, "seed": step.seed, "began_ns": began_ns});
        let (f, error) = match step.action {
            Action::Start => {
                let outcome = n.start(ctx, step.seed).await;
                let mut counts = injections.lock().unwrap_or_else(|e| e.into_inner());
                let count = counts.entry(n.name().to_string()).or_default();
                count.attempted += 1;
                match outcome {
                    Ok(Injection::Injected(v)) => {
                        count.injected += 1;
                        record["injected"] = json!(true);
                        record["value"] = v;
                        ("start", None)
                    }
                    Ok(Injection::NotInjected { reason, details }) => {
                        count.not_injected += 1;
                        record["injected"] = json!(false);
                        record["reason"] = json!(reason);
                        record["value"] = details;
                        ("start", None)
                    }
                    Err(e) => {
                        count.failed += 1;
                        record["injected"] = json!(false);
                        ("start", Some(format!("{e:#}")))
                    }
                }
            }
            Action::Stop => match n.stop(ctx).await {
                Ok(v) => {
                    record["value"] = v;
                    ("stop", None)
                }
                Err(e) => ("stop", Some(format!("{e:#}"))),
            },
        };
        eprintln!(
            "jepsen: {:>7.1}s nemesis {f} {}: {}{}",
            start.elapsed().as_secs_f64(),
            step.nemesis,
            record["value"],
            error
                .as_deref()
                .map(|e| format!(" ERROR {e}"))
                .unwrap_or_default()
        );
        recorder.nemesis(f, record, error);
    }
}

/// Undoes every fault whatever the schedule left behind and waits for the
/// group to serve reads again. Returns what could not be undone and
/// whether the group recovered; an `Err` is a harness failure.
async fn heal(
    opts: &TestOpts,
    active: &[&dyn Nemesis],
    ctx: &NemesisCtx,
    recorder: &Recorder,
) -> anyhow::Result<(Vec<String>, bool)> {
    let cluster = &ctx.cluster;
    let mut problems = Vec::new();
    for n in active {
        if let Err(e) = n.stop(ctx).await {
            problems.push(format!("{}: {e:#}", n.name()));
        }
    }
    if let Err(e) = ctx.net.heal() {
        problems.push(format!("net: {e:#}"));
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
    recorder.nemesis(
        "heal",
        json!({"nemesis": "heal", "value": {"resumed": resumed, "restarted": was_down,
               "ready": ready.is_ok(), "problems": problems}}),
        ready.as_ref().err().map(|e| format!("{e:#}")),
    );
    if let Err(e) = &ready {
        eprintln!("jepsen: the group did not recover after healing: {e:#}");
    }
    Ok((problems, ready.is_ok()))
}

struct CheckInputs {
    driven: Driven,
    exits: Vec<UnexpectedExit>,
    injections: BTreeMap<String, Injections>,
    network: String,
    duration_s: f64,
}

/// Every workload's checkers on its own operations, the run-level checks,
/// and the verdicts. A checker that panics is reported as an error of the
/// harness, never as a pass and never as a crash of the run.
async fn check(
    opts: &TestOpts,
    workload: &Composed,
    shared: Arc<Vec<Op>>,
    inputs: CheckInputs,
) -> anyhow::Result<RunResults> {
    let budget = Duration::from_secs(opts.spec.check_budget_s);
    let mut parts: Vec<(String, Vec<CheckResult>)> = Vec::new();
    for (name, checkers) in workload.checkers_by_part(budget) {
        let mut own = Vec::new();
        for checker in checkers {
            let h = shared.clone();
            let checker_name = checker.name().to_string();
            let r = tokio::task::spawn_blocking(move || checker.check(&h))
                .await
                .unwrap_or_else(|e| crate::results::checker_crashed(&checker_name, &e.to_string()));
            eprintln!(
                "jepsen:   {name:<14} {:<24} {:?}: {}",
                r.checker, r.valid, r.summary
            );
            own.push(r);
        }
        parts.push((name, own));
    }
    let run_checks = if inputs.driven.recovered_after_heal && inputs.driven.error.is_none() {
        let h = shared.clone();
        vec![tokio::task::spawn_blocking(move || convergence::check(&h))
            .await
            .unwrap_or_else(|e| crate::results::checker_crashed("convergence", &e.to_string()))]
    } else {
        Vec::new()
    };
    let mut results = RunResults {
        format: FORMAT,
        test: opts.test_name(),
        verdict: Verdict::Pass,
        reasons: Vec::new(),
        spec: opts.spec.clone(),
        reproduce: opts.reproduce(),
        network: inputs.network,
        binaries: opts.binaries.describe.clone(),
        duration_s: inputs.duration_s,
        error: inputs.driven.error,
        heal_problems: inputs.driven.heal_problems,
        recovered_after_heal: inputs.driven.recovered_after_heal,
        unexpected_exits: inputs.exits,
        injections: inputs.injections,
        run_checks,
        workloads: Vec::new(),
        stats: report::stats(&shared, opts.spec.concurrency as u64),
    };
    results.workloads = judge_parts(&results, &shared, parts);
    rejudge(&mut results);
    Ok(results)
}

/// Each workload's results: its checkers, its figures, its verdict under
/// the run's findings.
pub fn judge_parts(
    results: &RunResults,
    history: &[Op],
    parts: Vec<(String, Vec<CheckResult>)>,
) -> Vec<WorkloadResults> {
    let findings = findings(results);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (workload, checkers))| {
            let ops = workload::composed::part_history(history, i);
            let (verdict, _) = judge(&checkers, &findings);
            WorkloadResults {
                workload,
                verdict,
                stats: report::stats(&ops, results.spec.concurrency as u64),
                checkers,
            }
        })
        .collect()
}

fn findings(results: &RunResults) -> RunFindings<'_> {
    RunFindings {
        error: results.error.as_deref(),
        heal_problems: &results.heal_problems,
        recovered_after_heal: results.recovered_after_heal,
        unexpected_exits: &results.unexpected_exits,
        injections: Some(&results.injections),
        run_checks: &results.run_checks,
    }
}

/// The run's verdict and reasons from its workloads' checkers and its
/// findings (also used by `check --rewrite`, so a stored error is never
/// rewritten into a pass).
pub fn rejudge(results: &mut RunResults) {
    let checkers: Vec<CheckResult> = results
        .workloads
        .iter()
        .flat_map(|w| w.checkers.iter().cloned())
        .collect();
    let (verdict, reasons) = judge(&checkers, &findings(results));
    results.verdict = verdict;
    results.reasons = reasons;
}

/// results.json and report.html; node data is deleted after a pass.
fn persist(
    opts: &TestOpts,
    dir: &std::path::Path,
    results: &RunResults,
    history: &[Op],
) -> anyhow::Result<()> {
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(results)?,
    )?;
    std::fs::write(
        dir.join("report.html"),
        report::html::render(results, history),
    )?;
    if results.verdict.is_pass() && !opts.keep_data {
        let _ = std::fs::remove_dir_all(dir.join("data"));
    }
    eprintln!(
        "jepsen: {}: {}{} -> {}",
        results.test,
        results.verdict,
        if results.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", results.reasons.join("; "))
        },
        dir.join("report.html").display()
    );
    Ok(())
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
        o.spec.seed = 7;
        assert_eq!(o.test_name(), "register-partition+kill");
        assert!(o.reproduce().contains("--nemesis partition,kill"));
        assert!(o.reproduce().contains("--seed 7"));
        o.spec.nemeses = nemesis::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(o.test_name(), "register-all");
        o.spec.nemeses.clear();
        o.spec.stale_reads = true;
        assert_eq!(o.test_name(), "register-none-STALE-READS");
    }
}
