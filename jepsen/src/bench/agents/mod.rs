//! `jepsen bench agents`: the masters at scale. A group of masters and N
//! simulated agents (`mesoraft agent-sim`, each agent with its own session
//! and 10 running tasks); the figures: how fast N agents register, the
//! leader's resident memory per agent, its CPU for health checks at idle,
//! and, per trial, kill -9 of the leader: the time to a new leader and
//! until every agent has re-registered with it (the recovered-agent path),
//! with the rate the new leader took them at.
//!
//! Black-box like the rest of the bench: the masters and the simulators
//! are processes; figures come from `/raft/status`, `/metrics/snapshot`,
//! `/proc` and the simulators' report files ([`sim`]), and are computed
//! by pure functions ([`figures`]).

pub mod figures;
pub mod print;
pub mod procfs;
pub mod sim;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use mesoraft_testkit::master_cmd::AgentHealth;
use serde::Serialize;

use super::group::MesoGroup;
use super::stats::Summary;
use super::system::{http_client, System};
use super::Ctx;
use crate::runner::timestamp;
use figures::{cpu_pct, kib_per_agent, Arrival, UnixNs};
use sim::{SimOpts, Simulators};

/// Goals (issue: the figures to report).
pub const GOAL_REREGISTERED_MS: [(usize, f64); 2] = [(10_000, 3_000.0), (40_000, 12_000.0)];
pub const GOAL_KIB_PER_AGENT: f64 = 4.0;
pub const GOAL_IDLE_CPU_PCT: (usize, f64) = (10_000, 5.0);
/// Mesos 1.5's own failover benchmark (laptop, quorum 1, in-process fake
/// agents, 10 tasks each): 10,000 agents in about 4 s, 40,000 in 19 s.
pub const MESOS_ANCHORS_MS: [(usize, f64); 2] = [(10_000, 4_000.0), (40_000, 19_000.0)];

/// The most agents the bench simulates per count.
pub const MAX_AGENTS: usize = 1_000_000;
/// The masters' default `--agent-ping-timeout`.
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(15);
/// The fast-ping configuration runs for agent counts up to this.
pub const FAST_PING_MAX_AGENTS: usize = 10_000;
/// How long allocations get to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(2);
const GROUP_UP: Duration = Duration::from_secs(60);
const HEAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the leader's CPU is measured before the agents come.
const BASELINE_WINDOW: Duration = Duration::from_secs(10);
/// How often survivors are asked whether one of them leads.
const LEADER_POLL: Duration = Duration::from_millis(10);

fn unix_now_ns() -> UnixNs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Time for `agents` to (re-)register before the bench gives up.
fn arrival_limit(agents: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(5 * agents as u64)
}

/// The masters' memory in KiB, before the agents and once registered.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    pub leader: u64,
    pub leader_rss_before_kib: Option<u64>,
    pub leader_rss_after_kib: Option<u64>,
    pub leader_kib_per_agent: Option<f64>,
    /// After the idle window: the sessions' buffers fill with pings.
    pub leader_rss_after_idle_kib: Option<u64>,
    pub leader_kib_per_agent_after_idle: Option<f64>,
    /// A follower holds the registry (and Raft) but no sessions.
    pub follower_kib_per_agent: Option<f64>,
    /// Per master id: (before, after).
    pub rss_kib: BTreeMap<u64, (Option<u64>, Option<u64>)>,
}

/// CPU over an idle window with every agent registered.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Idle {
    pub window_s: f64,
    pub ping_timeout_s: f64,
    /// The leader before the simulators started (Raft heartbeats only),
    /// over [`BASELINE_WINDOW`] at most.
    pub leader_cpu_pct_without_agents: Option<f64>,
    pub leader_cpu_pct: Option<f64>,
    pub followers_cpu_pct: Option<f64>,
    pub simulators_cpu_pct: Option<f64>,
}

/// One kill of the leader.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentTrial {
    pub killed: u64,
    pub killed_at: String,
    pub term_before: u64,
    pub new_leader: Option<u64>,
    pub term_after: Option<u64>,
    /// kill -> a survivor reports itself leader of a later term.
    pub new_leader_ms: Option<f64>,
    /// The agents' re-registrations, times from the kill.
    pub reregistration: Arrival,
    /// CPU the new leader used from its election until every agent was
    /// back, and the simulators from the kill until then (ms).
    pub new_leader_cpu_ms: Option<f64>,
    pub simulators_cpu_ms: Option<f64>,
    /// Entries the new leader committed from its election until every
    /// agent was back (its own first entries included): a write per
    /// re-registration would show here.
    pub log_entries: Option<u64>,
    /// The new leader's VmRSS once every agent was back (their sessions
    /// now carry re-registrations with tasks), and per agent over its own
    /// RSS before the simulators started.
    pub new_leader_rss_kib: Option<u64>,
    pub new_leader_kib_per_agent: Option<f64>,
    /// What the new leader said once every agent was back.
    pub slaves_active: Option<f64>,
    pub slaves_recovered: Option<f64>,
    pub error: Option<String>,
}

/// Everything measured for one agent count and ping timeout.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentsReport {
    pub agents: usize,
    pub ping_timeout_s: f64,
    pub agents_per_connection: usize,
    pub tasks_per_agent: usize,
    pub simulators: usize,
    pub connect_rate: usize,
    pub registration_backoff_factor_ms: u64,
    /// The simulators' `--reconnect` (None: the agent's own policy).
    pub sim_reconnect: Option<String>,
    /// The masters' `--snapshot-logs` (None: their default).
    pub snapshot_logs: Option<u64>,
    /// `/proc/loadavg` when the measurement started and ended: other work
    /// on the machine shows here.
    pub load_average: Vec<String>,
    /// The first registration of every agent, times from the
    /// simulators' start.
    pub registration: Option<Arrival>,
    pub memory: Option<Memory>,
    pub idle: Option<Idle>,
    pub trials_requested: usize,
    pub trials: Vec<AgentTrial>,
    pub new_leader_ms: Option<Summary>,
    pub all_reregistered_ms: Option<Summary>,
    pub half_reregistered_ms: Option<Summary>,
    pub peak_rate_per_s: Option<Summary>,
    pub mean_rate_per_s: Option<Summary>,
    /// Why the measurement stopped early, if it did.
    pub aborted: Option<String>,
}

impl AgentsReport {
    pub fn ok_trials(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.reregistration.all_ms.is_some())
            .count()
    }

    fn summarize(&mut self) {
        let ok: Vec<&AgentTrial> = self
            .trials
            .iter()
            .filter(|t| t.reregistration.all_ms.is_some())
            .collect();
        let of = |f: &dyn Fn(&AgentTrial) -> Option<f64>| {
            Summary::of(&ok.iter().filter_map(|t| f(t)).collect::<Vec<_>>())
        };
        self.new_leader_ms = of(&|t| t.new_leader_ms);
        self.all_reregistered_ms = of(&|t| t.reregistration.all_ms);
        self.half_reregistered_ms = of(&|t| t.reregistration.half_ms);
        self.peak_rate_per_s = of(&|t| t.reregistration.peak_rate_per_s);
        self.mean_rate_per_s = of(&|t| t.reregistration.mean_rate_per_s);
    }
}

/// One configuration to measure.
struct Plan {
    agents: usize,
    /// None: the masters' default ping timeout.
    ping_timeout: Option<Duration>,
    trials: usize,
}

fn plans(ctx: &Ctx) -> Vec<Plan> {
    let a = &ctx.args;
    let fast = (a.fast_ping_timeout_ms > 0).then(|| Duration::from_millis(a.fast_ping_timeout_ms));
    let mut plans = Vec::new();
    for &agents in &a.agents {
        plans.push(Plan {
            agents,
            ping_timeout: None,
            trials: a.trials,
        });
        if let Some(fast) = fast.filter(|_| agents <= FAST_PING_MAX_AGENTS) {
            plans.push(Plan {
                agents,
                ping_timeout: Some(fast),
                trials: 0,
            });
        }
    }
    plans
}

/// Measures every `--agents` count (and the fast-ping idle figures).
pub async fn run(ctx: &Ctx) -> Vec<AgentsReport> {
    let a = &ctx.args;
    let most = a.agents.iter().copied().max().unwrap_or(0);
    // One socket per connection on each side, plus the masters' own.
    let needed = (most / a.agents_per_connection.max(1)) as u64 * 3 + 4096;
    match procfs::ensure_open_files(needed) {
        Ok(limit) if limit < needed => eprintln!(
            "bench: open files limited to {limit} (wanted {needed}); run as root or raise ulimit -n"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("bench: cannot raise the open files limit: {e}"),
    }
    let mut reports = Vec::new();
    for plan in plans(ctx) {
        let mut report = AgentsReport {
            agents: plan.agents,
            ping_timeout_s: plan
                .ping_timeout
                .unwrap_or(DEFAULT_PING_TIMEOUT)
                .as_secs_f64(),
            agents_per_connection: a.agents_per_connection,
            tasks_per_agent: a.tasks_per_agent,
            simulators: a.sim_processes,
            connect_rate: a.connect_rate,
            registration_backoff_factor_ms: a.registration_backoff_factor_ms,
            sim_reconnect: a.sim_reconnect.clone(),
            snapshot_logs: a.snapshot_logs,
            trials_requested: plan.trials,
            ..AgentsReport::default()
        };
        report.load_average.push(load_average());
        if let Err(e) = measure(ctx, &plan, &mut report).await {
            eprintln!("bench: agents {}: stopped: {e:#}", plan.agents);
            report.aborted = Some(format!("{e:#}"));
        }
        report.load_average.push(load_average());
        report.summarize();
        reports.push(report);
    }
    reports
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn pid_of(group: &MesoGroup, id: u64) -> Option<i32> {
    group
        .cluster
        .pids()
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, pid)| pid)
}

fn rss_all(group: &MesoGroup) -> BTreeMap<u64, Option<u64>> {
    group
        .cluster
        .pids()
        .into_iter()
        .map(|(id, pid)| (id, procfs::rss_kib(pid)))
        .collect()
}

/// `master/slaves_active` and `master/slaves_recovered` of the master at
/// `addr`.
async fn agent_counts(http: &reqwest::Client, addr: &str) -> Option<(f64, f64)> {
    let figures =
        super::master_json(http, addr, "/metrics/snapshot", Duration::from_secs(2)).await?;
    Some((
        figures.get("master/slaves_active")?.as_f64()?,
        figures.get("master/slaves_recovered")?.as_f64()?,
    ))
}

/// Waits until the leader at `addr` counts `agents` active agents and no
/// recovered one; the last counts either way.
async fn wait_counted(
    http: &reqwest::Client,
    addr: &str,
    agents: usize,
    limit: Duration,
) -> Option<(f64, f64)> {
    let deadline = Instant::now() + limit;
    loop {
        let counts = agent_counts(http, addr).await;
        if counts.is_some_and(|(active, recovered)| active >= agents as f64 && recovered == 0.0)
            || Instant::now() >= deadline
        {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn measure(ctx: &Ctx, plan: &Plan, report: &mut AgentsReport) -> anyhow::Result<()> {
    let a = &ctx.args;
    let label = match plan.ping_timeout {
        None => format!("agents-{}", plan.agents),
        Some(p) => format!("agents-{}-ping-{}ms", plan.agents, p.as_millis()),
    };
    let dir = ctx.dir.join(&label);
    let mut opts = ctx.group.clone();
    opts.agent_health = plan.ping_timeout.map(|ping_timeout| AgentHealth {
        ping_timeout,
        max_ping_timeouts: 5,
        reregister_timeout: Duration::from_secs(600),
        removal_rate_limit: None,
        recovery_removal_limit: None,
    });
    let group = MesoGroup::start(&opts, &dir)?;
    let agreed = group
        .wait_agreed(None, GROUP_UP)
        .await
        .context("mesoraft group did not come up")?;
    eprintln!("bench: {label}: group up, leader {}", agreed.leader);
    let http = http_client(4)?;
    let leader = agreed.leader;
    let leader_addr = group.cluster.addr(leader).to_string();
    let leader_pid = pid_of(&group, leader).context("the leader has no process")?;
    let before = rss_all(&group);
    let ping = plan.ping_timeout.unwrap_or(DEFAULT_PING_TIMEOUT);
    let window = if plan.ping_timeout.is_some() {
        Duration::from_secs_f64(a.fast_idle_seconds)
    } else {
        Duration::from_secs_f64(a.idle_seconds)
    };
    let baseline = {
        let t0 = Instant::now();
        let start = procfs::cpu_seconds(leader_pid);
        tokio::time::sleep(window.min(BASELINE_WINDOW)).await;
        match (start, procfs::cpu_seconds(leader_pid)) {
            (Some(s), Some(e)) => cpu_pct(s, e, t0.elapsed().as_secs_f64()),
            _ => None,
        }
    };

    let sim_opts = SimOpts {
        processes: a.sim_processes,
        agents_per_connection: a.agents_per_connection,
        connect_rate: a.connect_rate,
        tasks_per_agent: a.tasks_per_agent,
        registration_backoff_factor: Duration::from_millis(a.registration_backoff_factor_ms),
        reconnect: a.sim_reconnect.clone(),
    };
    let start_ns = unix_now_ns();
    let mut sims = Simulators::spawn(
        &ctx.group.binaries.master,
        &group.cluster.addrs(),
        plan.agents,
        &sim_opts,
        &dir.join("sim"),
    )?;
    let registration = sims
        .wait_arrival(start_ns, Some(&leader_addr), arrival_limit(plan.agents))
        .await?;
    report.registration = Some(registration.clone());
    if registration.arrived < plan.agents {
        bail!(
            "only {} of {} agents registered within {:?}; simulator logs in {}",
            registration.arrived,
            plan.agents,
            arrival_limit(plan.agents),
            dir.join("sim").display()
        );
    }
    eprintln!(
        "bench: {label}: {} agents registered in {:.1} s",
        plan.agents,
        registration.all_ms.unwrap_or(0.0) / 1000.0
    );
    let counted = wait_counted(&http, &leader_addr, plan.agents, Duration::from_secs(30)).await;
    if !counted.is_some_and(|(active, _)| active >= plan.agents as f64) {
        bail!(
            "the leader counts {counted:?} (active, recovered) agents, not {}",
            plan.agents
        );
    }
    tokio::time::sleep(SETTLE).await;
    let after = rss_all(&group);
    report.memory = Some(memory(leader, &before, &after, plan.agents));

    let mut measured = idle(&group, &sims, leader, leader_pid, ping, window).await;
    measured.leader_cpu_pct_without_agents = baseline;
    report.idle = Some(measured);
    if let Some(memory) = &mut report.memory {
        memory.leader_rss_after_idle_kib = procfs::rss_kib(leader_pid);
        memory.leader_kib_per_agent_after_idle = match (
            memory.leader_rss_before_kib,
            memory.leader_rss_after_idle_kib,
        ) {
            (Some(b), Some(a)) => kib_per_agent(b, a, plan.agents),
            _ => None,
        };
    }
    if let Some(idle) = &report.idle {
        eprintln!(
            "bench: {label}: idle {:.0} s: leader CPU {:.2} % of a core",
            idle.window_s,
            idle.leader_cpu_pct.unwrap_or(f64::NAN)
        );
    }

    let mut restarted = None;
    for n in 1..=plan.trials {
        let mut trial = trial(&group, &mut sims, &http, plan.agents, restarted).await?;
        let rss_before = |id: u64| before.get(&id).copied().flatten();
        trial.new_leader_kib_per_agent = match (
            trial.new_leader.and_then(rss_before),
            trial.new_leader_rss_kib,
        ) {
            (Some(b), Some(a)) => kib_per_agent(b, a, plan.agents),
            _ => None,
        };
        eprintln!(
            "bench: {label}: failover {n}/{}: killed {}, new leader {:?} after {} ms, all {} agents back after {} ms (half after {} ms), peak {:.0}/s",
            plan.trials,
            trial.killed,
            trial.new_leader,
            trial.new_leader_ms.map_or("?".into(), |v| format!("{v:.0}")),
            plan.agents,
            trial.reregistration.all_ms.map_or("-".into(), |v| format!("{v:.0}")),
            trial.reregistration.half_ms.map_or("-".into(), |v| format!("{v:.0}")),
            trial.reregistration.peak_rate_per_s.unwrap_or(0.0),
        );
        restarted = Some(trial.killed);
        let failed = trial.error.clone();
        report.trials.push(trial);
        if let Some(why) = failed {
            bail!("trial {n} failed: {why}");
        }
        group.restart(restarted.unwrap_or_default())?;
    }
    if restarted.is_some() {
        group.wait_agreed(restarted, HEAL_TIMEOUT).await?;
    }
    drop(sims);
    Ok(())
}

fn memory(
    leader: u64,
    before: &BTreeMap<u64, Option<u64>>,
    after: &BTreeMap<u64, Option<u64>>,
    agents: usize,
) -> Memory {
    let pair = |id: u64| {
        (
            before.get(&id).copied().flatten(),
            after.get(&id).copied().flatten(),
        )
    };
    let per_agent = |id: u64| match pair(id) {
        (Some(b), Some(a)) => kib_per_agent(b, a, agents),
        _ => None,
    };
    let followers: Vec<f64> = before
        .keys()
        .filter(|id| **id != leader)
        .filter_map(|id| per_agent(*id))
        .collect();
    Memory {
        leader,
        leader_rss_before_kib: pair(leader).0,
        leader_rss_after_kib: pair(leader).1,
        leader_kib_per_agent: per_agent(leader),
        follower_kib_per_agent: (!followers.is_empty())
            .then(|| followers.iter().sum::<f64>() / followers.len() as f64),
        rss_kib: before.keys().map(|id| (*id, pair(*id))).collect(),
        ..Memory::default()
    }
}

async fn idle(
    group: &MesoGroup,
    sims: &Simulators,
    leader: u64,
    leader_pid: i32,
    ping: Duration,
    window: Duration,
) -> Idle {
    let follower_pids: Vec<i32> = group
        .cluster
        .pids()
        .into_iter()
        .filter(|(id, _)| *id != leader)
        .map(|(_, pid)| pid)
        .collect();
    let read = || {
        (
            procfs::cpu_seconds(leader_pid),
            crate::bench::throughput::cpu_seconds(&follower_pids),
            sims.cpu_seconds(),
        )
    };
    let t0 = Instant::now();
    let start = read();
    tokio::time::sleep(window).await;
    let end = read();
    let wall = t0.elapsed().as_secs_f64();
    let pct = |s: Option<f64>, e: Option<f64>| cpu_pct(s?, e?, wall);
    Idle {
        window_s: wall,
        ping_timeout_s: ping.as_secs_f64(),
        leader_cpu_pct_without_agents: None,
        leader_cpu_pct: pct(start.0, end.0),
        followers_cpu_pct: pct(start.1, end.1).map(|p| p / follower_pids.len().max(1) as f64),
        simulators_cpu_pct: pct(start.2, end.2),
    }
}

/// Polls the survivors until one leads a term after `term_before`.
async fn new_leader(
    group: &MesoGroup,
    killed: u64,
    term_before: u64,
    limit: Duration,
) -> Option<(u64, u64, Option<u64>)> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        for (id, status) in group.cluster.statuses().await {
            if id == killed {
                continue;
            }
            if let Ok(s) = status {
                if s.is_leader() && s.term > term_before && s.cluster_id.is_some() {
                    return Some((id, s.term, s.committed_index));
                }
            }
        }
        tokio::time::sleep(LEADER_POLL).await;
    }
    None
}

async fn trial(
    group: &MesoGroup,
    sims: &mut Simulators,
    http: &reqwest::Client,
    agents: usize,
    restarted: Option<u64>,
) -> anyhow::Result<AgentTrial> {
    let agreed = group.wait_agreed(restarted, HEAL_TIMEOUT).await?;
    let leader = agreed.leader;
    let leader_addr = group.cluster.addr(leader).to_string();
    // Every agent is registered with this leader before it is killed.
    let counted = wait_counted(http, &leader_addr, agents, arrival_limit(agents)).await;
    if !counted.is_some_and(|(active, recovered)| active >= agents as f64 && recovered == 0.0) {
        bail!("before the kill the leader counts {counted:?} (active, recovered) agents, not {agents}");
    }
    let mut trial = AgentTrial {
        killed: leader,
        term_before: agreed.term,
        ..AgentTrial::default()
    };
    let sim_cpu_before = sims.cpu_seconds();
    trial.killed_at = timestamp(SystemTime::now());
    let kill_ns = unix_now_ns();
    let t0 = Instant::now();
    group.kill(leader);
    let Some((elected, term, committed_at_election)) =
        new_leader(group, leader, agreed.term, HEAL_TIMEOUT).await
    else {
        trial.error = Some(format!("no new leader within {HEAL_TIMEOUT:?}"));
        return Ok(trial);
    };
    trial.new_leader_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
    trial.new_leader = Some(elected);
    trial.term_after = Some(term);
    let elected_pid = pid_of(group, elected);
    let elected_cpu = elected_pid.and_then(procfs::cpu_seconds);
    let elected_addr = group.cluster.addr(elected).to_string();
    trial.reregistration = sims
        .wait_arrival(kill_ns, Some(&elected_addr), arrival_limit(agents))
        .await?;
    trial.new_leader_cpu_ms = match (elected_cpu, elected_pid.and_then(procfs::cpu_seconds)) {
        (Some(s), Some(e)) => Some((e - s) * 1000.0),
        _ => None,
    };
    trial.simulators_cpu_ms = match (sim_cpu_before, sims.cpu_seconds()) {
        (Some(s), Some(e)) => Some((e - s) * 1000.0),
        _ => None,
    };
    if let Ok(status) = group.cluster.status(elected).await {
        trial.log_entries = match (committed_at_election, status.committed_index) {
            (Some(s), Some(e)) => Some(e.saturating_sub(s)),
            _ => None,
        };
    }
    let counts = wait_counted(http, &elected_addr, agents, Duration::from_secs(10)).await;
    trial.new_leader_rss_kib = elected_pid.and_then(procfs::rss_kib);
    trial.slaves_active = counts.map(|c| c.0);
    trial.slaves_recovered = counts.map(|c| c.1);
    if trial.reregistration.all_ms.is_none() {
        trial.error = Some(format!(
            "only {} of {agents} agents re-registered within {:?} of the kill",
            trial.reregistration.arrived,
            arrival_limit(agents)
        ));
    }
    Ok(trial)
}
