//! The second phase of a run: start the cluster, run the workload and the
//! fault schedule together for the time limit, heal every fault, run the
//! workload's final operations and poll for convergence. Nothing here
//! fails the run by returning early with an error: what went wrong is
//! recorded in [`Driven`] and judged later.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::setup::Setup;
use super::TestOpts;
use crate::client::ApiClient;
use crate::cluster::Cluster;
use crate::convergence;
use crate::history::Recorder;
use crate::nemesis::{Injection, Nemesis, NemesisCtx};
use crate::nemesis_record::NemesisRecord;
use crate::net::Net;
use crate::results::Injections;
use crate::schedule::{Action, Step};
use crate::spec::RunSpec;
use crate::workload::{Workload, WorkloadCtx};

/// Kills the cluster and removes the network when the run ends in any way
/// (including a panic unwinding through the runner).
pub(super) struct RunGuard {
    pub(super) cluster: Arc<Cluster>,
    pub(super) net: Arc<Net>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.cluster.agents.resume_all();
        self.cluster.agents.kill_all();
        self.cluster.resume_all();
        self.cluster.kill_all();
        self.net.teardown();
    }
}

/// What `drive` found besides the history.
#[derive(Default)]
pub(super) struct Driven {
    pub(super) error: Option<String>,
    pub(super) heal_problems: Vec<String>,
    pub(super) recovered_after_heal: bool,
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
pub(super) async fn drive(opts: &TestOpts, setup: &Setup, recorder: Arc<Recorder>) -> Driven {
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
    if !cluster.agents.ids().is_empty() {
        cluster.agents.start_all()?;
        cluster
            .agents
            .wait_registered(opts.ready_timeout)
            .await
            .context("agents did not register")?;
        eprintln!("jepsen: {} agents registered", cluster.agents.ids().len());
    }
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
        let mut record = NemesisRecord {
            seed: Some(step.seed),
            ..NemesisRecord::new(&step.nemesis).began_at(began_ns)
        };
        let (f, error) = match step.action {
            Action::Start => {
                let outcome = n.start(ctx, step.seed).await;
                let mut counts = injections.lock().unwrap_or_else(|e| e.into_inner());
                let count = counts.entry(n.name().to_string()).or_default();
                count.attempted += 1;
                match outcome {
                    Ok(Injection::Injected(v)) => {
                        count.injected += 1;
                        record.injected = Some(true);
                        record.value = v;
                        ("start", None)
                    }
                    Ok(Injection::NotInjected { reason, details }) => {
                        count.not_injected += 1;
                        record.injected = Some(false);
                        record.reason = Some(reason);
                        record.value = details;
                        ("start", None)
                    }
                    Err(e) => {
                        count.failed += 1;
                        record.injected = Some(false);
                        ("start", Some(format!("{e:#}")))
                    }
                }
            }
            Action::Stop => match n.stop(ctx).await {
                Ok(v) => {
                    record.value = v;
                    ("stop", None)
                }
                Err(e) => ("stop", Some(format!("{e:#}"))),
            },
        };
        eprintln!(
            "jepsen: {:>7.1}s nemesis {f} {}: {}{}",
            start.elapsed().as_secs_f64(),
            step.nemesis,
            record.value,
            error
                .as_deref()
                .map(|e| format!(" ERROR {e}"))
                .unwrap_or_default()
        );
        recorder.nemesis(f, &record, error);
    }
}

/// What the heal at the end did (the `value` of its history record).
#[derive(Serialize)]
struct Healed {
    /// Masters that were paused.
    resumed: Vec<u64>,
    /// Masters that were down and were started again.
    restarted: Vec<u64>,
    /// Agents that were paused, and those started again.
    agents_resumed: Vec<u64>,
    agents_restarted: Vec<u64>,
    /// Whether the group served reads again in time.
    ready: bool,
    /// What could not be undone.
    problems: Vec<String>,
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
    let agents_resumed = cluster.agents.resume_all();
    let agents_running = cluster.agents.running();
    let agents_restarted: Vec<u64> = cluster
        .agents
        .ids()
        .into_iter()
        .filter(|i| !agents_running.contains(i))
        .collect();
    cluster.agents.start_all()?;
    let ready = cluster.wait_ready(opts.ready_timeout).await;
    let healed = Healed {
        resumed,
        restarted: was_down,
        agents_resumed,
        agents_restarted,
        ready: ready.is_ok(),
        problems: problems.clone(),
    };
    recorder.nemesis(
        "heal",
        &NemesisRecord::new("heal").with_value(serde_json::to_value(&healed).unwrap_or_default()),
        ready.as_ref().err().map(|e| format!("{e:#}")),
    );
    if let Err(e) = &ready {
        eprintln!("jepsen: the group did not recover after healing: {e:#}");
    }
    Ok((problems, ready.is_ok()))
}
