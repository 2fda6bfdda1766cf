//! `jepsen bench scheduling`: frameworks launching tasks through offers.
//!
//! Two measurements, each on a fresh group of masters with simulated
//! agents (`mesoraft agent-sim --tasks ...`, [`sim`]) and frameworks
//! speaking the v1 scheduler HTTP API in JSON ([`framework`], [`driver`]):
//!
//! * **launch**: one framework launches N short tasks, many LAUNCH
//!   operations per ACCEPT; every agent answers a launch with
//!   TASK_RUNNING and TASK_FINISHED at once. Figures: launches per second
//!   (tasks RUNNING over the time from the first ACCEPT to the last
//!   RUNNING), ACCEPT -> TASK_RUNNING latency, and the leader's resident
//!   memory gained per task.
//! * **drf**: two frameworks in one role with equal weight, each wanting
//!   as many tasks as fill the whole cluster, launching a few tasks per
//!   offer; tasks keep running. Every second each framework's dominant
//!   share (the tasks it runs over the cluster's totals) is sampled; the
//!   figure is the gap between them after 10 s, and the worst gap from
//!   then on.
//!
//! Figures are computed by the pure functions of [`figures`].

pub mod driver;
pub mod figures;
pub mod framework;
pub mod print;
pub mod sim;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::agents::procfs;
use super::group::MesoGroup;
use super::stats::Summary;
use super::system::{http_client, System};
use super::Ctx;
use driver::{DoneWhen, Holding, Outcome, Work};
use figures::{dominant_share, gap_from, kib_per_task, rate, Amounts, ShareSample};
use framework::{framework_info, Subscription};

/// Goals (issue: the figures the frameworks need).
pub const GOAL_LAUNCHES_PER_S: f64 = 5_000.0;
pub const GOAL_RUNNING_P99_MS: f64 = 50.0;
pub const GOAL_DRF_GAP: f64 = 0.05;
pub const GOAL_DRF_AT_S: f64 = 10.0;
pub const GOAL_KIB_PER_TASK: f64 = 1.0;

/// The most simulated agents, tasks, and tasks in one ACCEPT (about 400
/// bytes of JSON each under the master's 1 MiB body limit).
pub const MAX_AGENTS: usize = 100_000;
pub const MAX_TASKS: u64 = 10_000_000;
pub const MAX_TASKS_PER_ACCEPT: u64 = 2_000;

/// The role every framework of the bench subscribes in.
pub const ROLE: &str = "bench";
/// The agents' resources in the launch measurement (the simulator's
/// default, spelled out for the report).
pub const LAUNCH_AGENT_RESOURCES: &str = "cpus:8;mem:16384;disk:65536;ports:[31000-32000]";
/// How long the leader may take to settle (no task staging or starting)
/// before its memory is read after the launches.
const SETTLE: Duration = Duration::from_secs(30);
const GROUP_UP: Duration = Duration::from_secs(60);
const SUBSCRIBED_WITHIN: Duration = Duration::from_secs(30);

fn registration_limit(agents: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(5 * agents as u64)
}

/// What the launch measurement found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LaunchReport {
    pub agents: usize,
    pub agent_resources: String,
    pub tasks: u64,
    pub task_cpus: f64,
    pub task_mem: f64,
    pub tasks_per_offer: u64,
    pub max_in_flight: u64,
    /// The simulator's `--tasks` (finish, or run to keep them).
    pub task_end: String,
    pub registered_s: Option<f64>,
    pub outcome: Option<Outcome>,
    pub launches_per_s: Option<f64>,
    pub ended_per_s: Option<f64>,
    pub running_ms: Option<Summary>,
    pub leader_rss_before_kib: Option<u64>,
    pub leader_rss_after_kib: Option<u64>,
    pub leader_kib_per_task: Option<f64>,
    pub error: Option<String>,
}

/// What the fairness measurement found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DrfReport {
    pub agents: usize,
    pub agent_resources: String,
    pub frameworks: usize,
    pub tasks_per_framework: u64,
    pub tasks_per_offer: u64,
    pub seconds: f64,
    pub samples: Vec<ShareSample>,
    /// The gap at the first sample at or after [`GOAL_DRF_AT_S`], and the
    /// largest gap from then on.
    pub gap_at_goal: Option<f64>,
    pub worst_gap_after_goal: Option<f64>,
    /// The dominant shares the master shows in `/master/frameworks` at
    /// the end (used plus offered), when it shows them.
    pub master_shares: Option<Vec<f64>>,
    pub outcomes: Vec<Outcome>,
    /// The leader's memory with every framework's tasks running.
    pub leader_rss_before_kib: Option<u64>,
    pub leader_rss_after_kib: Option<u64>,
    pub leader_kib_per_live_task: Option<f64>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SchedulingReport {
    pub launch: Option<LaunchReport>,
    pub drf: Option<DrfReport>,
}

/// Runs the measurements the flags ask for.
pub async fn run(ctx: &Ctx) -> SchedulingReport {
    let mut report = SchedulingReport::default();
    let mut launch = launch_report(ctx);
    if let Err(e) = measure_launch(ctx, &mut launch).await {
        eprintln!("bench: scheduling launch: stopped: {e:#}");
        launch.error = Some(format!("{e:#}"));
    }
    report.launch = Some(launch);
    if !ctx.args.no_drf {
        let mut drf = drf_report(ctx);
        if let Err(e) = measure_drf(ctx, &mut drf).await {
            eprintln!("bench: scheduling drf: stopped: {e:#}");
            drf.error = Some(format!("{e:#}"));
        }
        report.drf = Some(drf);
    }
    report
}

fn launch_report(ctx: &Ctx) -> LaunchReport {
    let a = &ctx.args;
    LaunchReport {
        agents: a.sched_agents,
        agent_resources: LAUNCH_AGENT_RESOURCES.into(),
        tasks: a.sched_tasks,
        task_cpus: a.task_cpus,
        task_mem: a.task_mem,
        tasks_per_offer: a.tasks_per_offer,
        max_in_flight: a.max_in_flight,
        task_end: a.sched_task_end.clone(),
        ..LaunchReport::default()
    }
}

/// Agents just large enough that one framework's tasks fill the cluster
/// by cpus: two frameworks want twice what there is, so the allocator's
/// order decides who gets what.
pub fn drf_agent_resources(tasks: u64, task_cpus: f64, agents: usize) -> String {
    let cpus = (tasks as f64 * task_cpus / agents.max(1) as f64).max(task_cpus);
    // Thousandths, as the master rounds them.
    let cpus = (cpus * 1000.0).round() / 1000.0;
    format!("cpus:{cpus};mem:16384;disk:65536;ports:[31000-32000]")
}

fn drf_report(ctx: &Ctx) -> DrfReport {
    let a = &ctx.args;
    DrfReport {
        agents: a.sched_agents,
        agent_resources: drf_agent_resources(a.sched_tasks, a.task_cpus, a.sched_agents),
        frameworks: 2,
        tasks_per_framework: a.sched_tasks,
        tasks_per_offer: a.drf_tasks_per_offer,
        seconds: a.drf_seconds,
        ..DrfReport::default()
    }
}

/// A group with its leader, and agents registered with it.
struct Cluster {
    group: MesoGroup,
    agents: sim::Agents,
    leader_addr: String,
    leader_pid: i32,
    http: reqwest::Client,
}

async fn start_cluster(
    ctx: &Ctx,
    dir: &Path,
    resources: Option<&str>,
    tasks: &str,
    label: &str,
) -> anyhow::Result<(Cluster, Duration)> {
    let group = MesoGroup::start(&ctx.group, dir)?;
    let agreed = group
        .wait_agreed(None, GROUP_UP)
        .await
        .context("mesoraft group did not come up")?;
    eprintln!("bench: {label}: group up, leader {}", agreed.leader);
    let leader_addr = group.cluster.addr(agreed.leader).to_string();
    let leader_pid = group
        .cluster
        .pids()
        .into_iter()
        .find(|(id, _)| *id == agreed.leader)
        .map(|(_, pid)| pid)
        .context("the leader has no process")?;
    let http = http_client(64)?;
    let mut agents = sim::Agents::spawn(
        &ctx.group.binaries.master,
        &group.cluster.addrs(),
        ctx.args.sched_agents,
        resources,
        tasks,
        &dir.join("sim"),
    )?;
    let took = agents
        .wait_registered(
            &http,
            &leader_addr,
            registration_limit(ctx.args.sched_agents),
        )
        .await?;
    eprintln!(
        "bench: {label}: {} agents registered in {:.1} s",
        agents.count,
        took.as_secs_f64()
    );
    Ok((
        Cluster {
            group,
            agents,
            leader_addr,
            leader_pid,
            http,
        },
        took,
    ))
}

async fn subscribe(c: &Cluster, name: &str) -> anyhow::Result<Subscription> {
    Subscription::open(
        &c.http,
        &c.leader_addr,
        framework_info(name, ROLE),
        SUBSCRIBED_WITHIN,
    )
    .await
    .with_context(|| format!("framework {name}"))
}

fn launch_limit(tasks: u64) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(tasks)
}

async fn measure_launch(ctx: &Ctx, report: &mut LaunchReport) -> anyhow::Result<()> {
    let a = &ctx.args;
    let label = "scheduling-launch";
    let (mut c, took) = start_cluster(
        ctx,
        &ctx.dir.join(label),
        Some(LAUNCH_AGENT_RESOURCES),
        &a.sched_task_end,
        label,
    )
    .await?;
    report.registered_s = Some(took.as_secs_f64());
    report.leader_rss_before_kib = procfs::rss_kib(c.leader_pid);
    let sub = subscribe(&c, "bench-launch").await?;
    let work = Work {
        prefix: "launch".into(),
        tasks: a.sched_tasks,
        cpus: a.task_cpus,
        mem: a.task_mem,
        per_offer: a.tasks_per_offer,
        max_in_flight: a.max_in_flight,
        done_when: if a.sched_task_end == "run" {
            DoneWhen::AllRunning
        } else {
            DoneWhen::AllEnded
        },
    };
    eprintln!(
        "bench: {label}: launching {} tasks, at most {} per offer",
        work.tasks, work.per_offer
    );
    let (_stop_tx, stop) = watch::channel(false);
    let outcome = driver::run(
        sub,
        work,
        Holding::default(),
        stop,
        launch_limit(a.sched_tasks),
    )
    .await;
    c.agents.check_running()?;
    c.group.check_running()?;
    report.launches_per_s = outcome
        .first_running_window_s
        .and_then(|s| rate(outcome.running, s));
    report.ended_per_s = outcome
        .ended_window_s
        .and_then(|s| rate(outcome.finished, s));
    report.running_ms = Summary::of(&outcome.running_ms);
    let failed = outcome.error.clone();
    eprintln!(
        "bench: {label}: {} launched, {} running, {} finished in {:.2} s",
        outcome.launched,
        outcome.running,
        outcome.finished,
        outcome.ended_window_s.unwrap_or(f64::NAN)
    );
    report.outcome = Some(outcome);
    settled(&c, SETTLE).await;
    report.leader_rss_after_kib = procfs::rss_kib(c.leader_pid);
    report.leader_kib_per_task = match (report.leader_rss_before_kib, report.leader_rss_after_kib) {
        (Some(b), Some(after)) => kib_per_task(b, after, a.sched_tasks),
        _ => None,
    };
    if let Some(why) = failed {
        bail!("{why}");
    }
    Ok(())
}

/// Waits (at most `limit`) until the leader has no task staging or
/// starting: every launch has been answered, so what it holds is what
/// the tasks cost.
async fn settled(c: &Cluster, limit: Duration) {
    let settled = crate::wait::until(
        Instant::now() + limit,
        Duration::from_millis(100),
        || async {
            let figures = super::master_json(
                &c.http,
                &c.leader_addr,
                "/metrics/snapshot",
                Duration::from_secs(2),
            )
            .await?;
            let pending = ["master/tasks_staging", "master/tasks_starting"]
                .iter()
                .map(|name| figures.get(*name).and_then(Value::as_f64))
                .sum::<Option<f64>>()?;
            (pending == 0.0).then_some(())
        },
    )
    .await;
    if settled.is_none() {
        eprintln!("bench: the leader still has tasks staging or starting after {limit:?}");
    }
}

/// `used_resources` plus `offered_resources` of each framework in
/// `/master/frameworks`, as dominant shares of `total`, in the order of
/// `ids`; None if the master does not show them.
async fn master_shares(c: &Cluster, ids: &[String], total: Amounts) -> Option<Vec<f64>> {
    let v = super::master_json(
        &c.http,
        &c.leader_addr,
        "/master/frameworks",
        Duration::from_secs(10),
    )
    .await?;
    let frameworks = v["frameworks"].as_array()?;
    let amounts = |model: &Value| {
        Amounts::new(
            model["cpus"].as_f64().unwrap_or(0.0),
            model["mem"].as_f64().unwrap_or(0.0),
            model["disk"].as_f64().unwrap_or(0.0),
        )
    };
    ids.iter()
        .map(|id| {
            let f = frameworks.iter().find(|f| f["id"] == id.as_str())?;
            f.get("used_resources")?;
            let held = amounts(&f["used_resources"]).plus(amounts(&f["offered_resources"]));
            Some(dominant_share(held, total))
        })
        .collect()
}

async fn measure_drf(ctx: &Ctx, report: &mut DrfReport) -> anyhow::Result<()> {
    let a = &ctx.args;
    let label = "scheduling-drf";
    let (mut c, _) = start_cluster(
        ctx,
        &ctx.dir.join(label),
        Some(&report.agent_resources),
        "run",
        label,
    )
    .await?;
    let per_agent_cpus = a.sched_tasks as f64 * a.task_cpus / a.sched_agents.max(1) as f64;
    let total = Amounts::new(per_agent_cpus.max(a.task_cpus), 16384.0, 65536.0)
        .times(a.sched_agents as i64);
    report.leader_rss_before_kib = procfs::rss_kib(c.leader_pid);
    let mut subs = Vec::new();
    for name in ["bench-drf-a", "bench-drf-b"] {
        subs.push(subscribe(&c, name).await?);
    }
    let ids: Vec<String> = subs.iter().map(|s| s.framework_id.clone()).collect();
    let (stop_tx, stop) = watch::channel(false);
    let mut holdings = Vec::new();
    let mut runs = Vec::new();
    for (n, sub) in subs.into_iter().enumerate() {
        let holding = Holding::default();
        holdings.push(holding.clone());
        let work = Work {
            prefix: format!("drf{n}"),
            tasks: a.sched_tasks,
            cpus: a.task_cpus,
            mem: a.task_mem,
            per_offer: a.drf_tasks_per_offer,
            max_in_flight: a.max_in_flight,
            done_when: DoneWhen::Stopped,
        };
        let limit = Duration::from_secs_f64(a.drf_seconds) + Duration::from_secs(60);
        runs.push(tokio::spawn(driver::run(
            sub,
            work,
            holding,
            stop.clone(),
            limit,
        )));
    }
    eprintln!(
        "bench: {label}: two frameworks, {} tasks each wanted, {} per offer; sampling shares for {} s",
        a.sched_tasks, a.drf_tasks_per_offer, a.drf_seconds
    );
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while start.elapsed().as_secs_f64() < a.drf_seconds {
        tick.tick().await;
        c.agents.check_running()?;
        let shares: Vec<f64> = holdings
            .iter()
            .map(|h| dominant_share(h.get(), total))
            .collect();
        report.samples.push(ShareSample {
            at_s: start.elapsed().as_secs_f64(),
            shares,
        });
        if runs.iter().any(|r| r.is_finished()) {
            break;
        }
    }
    report.master_shares = master_shares(&c, &ids, total).await;
    report.leader_rss_after_kib = procfs::rss_kib(c.leader_pid);
    let _ = stop_tx.send(true);
    for run in runs {
        match run.await {
            Ok(outcome) => report.outcomes.push(outcome),
            Err(e) => bail!("a framework's task failed: {e}"),
        }
    }
    let live: u64 = report
        .outcomes
        .iter()
        .map(|o| {
            let ended: u64 = o.ended_otherwise.values().sum();
            o.launched.saturating_sub(o.finished + ended)
        })
        .sum();
    report.leader_kib_per_live_task =
        match (report.leader_rss_before_kib, report.leader_rss_after_kib) {
            (Some(b), Some(after)) => kib_per_task(b, after, live),
            _ => None,
        };
    if let Some((at, worst)) = gap_from(&report.samples, GOAL_DRF_AT_S) {
        report.gap_at_goal = Some(at);
        report.worst_gap_after_goal = Some(worst);
    }
    c.group.check_running()?;
    if let Some(why) = report.outcomes.iter().find_map(|o| o.error.clone()) {
        bail!("{why}");
    }
    Ok(())
}
