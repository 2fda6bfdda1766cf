//! The first phase of a run: its directory, the network, the cluster
//! (not started yet), the nemeses that can run here and their schedule
//! (`schedule.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{timestamp, TestOpts};
use crate::cleanup::Slot;
use crate::cluster::agents::AgentSpec;
use crate::cluster::{Cluster, ClusterConfig, NodeSpec};
use crate::nemesis::{self, Nemesis, NemesisCtx};
use crate::net::Net;
use crate::results::Injections;
use crate::schedule::{self, Step, Timing};
use crate::workload::{self, composed::Composed};

/// What `schedule.json` holds: the fault schedule as generated before the
/// run, with the nemeses left out of it and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFile {
    pub seed: u64,
    /// The nemeses that run (those that cannot run here are not listed).
    pub nemeses: Vec<String>,
    /// Per requested nemesis; only `skipped` is known before the run.
    pub injections: BTreeMap<String, Injections>,
    pub timing: Timing,
    pub time_limit_s: u64,
    pub steps: Vec<Step>,
}

/// What `setup` built.
pub(super) struct Setup {
    pub(super) dir: PathBuf,
    pub(super) workload: Composed,
    pub(super) nemeses: Vec<Box<dyn Nemesis>>,
    /// Indexes into `nemeses` of those that can run here.
    pub(super) active: Vec<usize>,
    pub(super) steps: Vec<Step>,
    pub(super) injections: Arc<Mutex<BTreeMap<String, Injections>>>,
    pub(super) cluster: Arc<Cluster>,
    pub(super) net: Arc<Net>,
}

/// Run directory, network, cluster, nemeses and schedule.
pub(super) fn setup(opts: &TestOpts) -> anyhow::Result<Setup> {
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
    let agent_ids: Vec<u64> = (1..=spec.agents as u64).collect();
    if !agent_ids.is_empty() && opts.binaries.agent.is_none() {
        anyhow::bail!(
            "agents need the real mesoraft binary ({})",
            opts.binaries.describe
        );
    }
    let slot = Slot::acquire()?;
    let net = Net::setup(
        slot.clone(),
        &ids,
        &agent_ids,
        spec.net,
        spec.partition_method,
    )?;
    eprintln!("jepsen: network: {}", net.describe());
    let nodes = NodeSpec::all_on(&net, &ids, &dir.join("data"), &dir.join("nodes"));
    let agents = AgentSpec::all_on(&net, &dir.join("data"), &dir.join("nodes"));
    let cluster = Cluster::new(
        ClusterConfig {
            binaries: opts.binaries.clone(),
            heartbeat_ms: spec.heartbeat_ms,
            election_min_ms: spec.election_min_ms,
            election_max_ms: spec.election_max_ms,
            snapshot_logs: spec.snapshot_logs,
            stale_reads: spec.stale_reads,
            skip_fsync: spec.skip_fsync,
            forget_unreachable_tasks: spec.forget_unreachable_tasks,
            lazyfs: wants_lazyfs(&spec.nemeses),
            agent_health: (!agent_ids.is_empty()).then(crate::cluster::agents::health),
            env: vec![],
        },
        nodes,
        slot,
    )?;
    let cluster = Arc::new(cluster.with_agents(agents));
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
        serde_json::to_string_pretty(&ScheduleFile {
            seed: spec.seed,
            nemeses: active_names,
            injections: injections.clone(),
            timing: spec.timing,
            time_limit_s: spec.time_limit_s,
            steps: steps.clone(),
        })?,
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
