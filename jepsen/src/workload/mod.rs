//! Workloads: concurrent clients that drive the cluster and record every
//! operation in the history, plus the checkers that judge what they
//! recorded. New workloads (agents, tasks) plug in by implementing
//! `Workload` and adding a name to `by_name`.

pub mod durability;
pub mod election;
pub mod register;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::checker::Checker;
use crate::client::{ApiClient, Outcome};
use crate::cluster::Cluster;
use crate::history::{OpType, Process, Recorder};

pub struct WorkloadCtx {
    pub cluster: Arc<Cluster>,
    pub recorder: Arc<Recorder>,
    pub client: ApiClient,
    pub seed: u64,
    pub concurrency: usize,
    /// End of the main phase.
    pub end: Instant,
    /// Budget for checkers that search (linearizability).
    pub check_budget: Duration,
}

pub trait Workload: Send + Sync {
    fn name(&self) -> &'static str;

    /// Issues operations until `ctx.end`.
    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>>;

    /// After the faults are healed and the cluster is ready again: final
    /// operations (e.g. reads that must see every acknowledged write).
    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>>;

    fn checkers(&self, ctx: &WorkloadCtx) -> Vec<Box<dyn Checker>>;
}

pub const ALL: &[&str] = &["register", "election", "durability"];

#[derive(Clone, Debug)]
pub struct WorkloadOpts {
    /// Number of registers (roles) for the register workload.
    pub keys: usize,
    /// Fraction of reads in the register workload.
    pub read_ratio: f64,
    /// Mean pause between a client's operations.
    pub think: Duration,
}

impl Default for WorkloadOpts {
    fn default() -> Self {
        Self {
            keys: 3,
            read_ratio: 0.5,
            think: Duration::from_millis(20),
        }
    }
}

pub fn by_name(name: &str, opts: &WorkloadOpts) -> Option<Box<dyn Workload>> {
    Some(match name {
        "register" => Box::new(register::RegisterWorkload::new(opts)),
        "election" => Box::new(election::ElectionWorkload::new(opts)),
        "durability" => Box::new(durability::DurabilityWorkload::new(opts)),
        _ => return None,
    })
}

/// A client's process number. After an `info` the old operation may still
/// be in flight, so the client continues as a new process (Jepsen's rule),
/// keeping "one operation at a time per process" true.
pub struct ProcessNumber {
    current: u64,
    stride: u64,
}

impl ProcessNumber {
    pub fn new(worker: usize, workers: usize) -> Self {
        Self {
            current: worker as u64,
            stride: workers.max(1) as u64,
        }
    }

    pub fn get(&self) -> Process {
        Process::Client(self.current)
    }

    pub fn after(&mut self, kind: OpType) {
        if kind == OpType::Info {
            self.current += self.stride;
        }
    }
}

/// Performs one operator call and records it: invoke, then ok / fail /
/// info. `ok_value` turns a successful answer into the recorded value
/// (None: the answer is unusable, recorded as a failure for reads).
#[allow(clippy::too_many_arguments)]
pub async fn perform(
    ctx: &WorkloadCtx,
    process: Process,
    f: &str,
    key: Option<&str>,
    arg: Value,
    node: &str,
    body: &Value,
    is_write: bool,
    ok_value: impl FnOnce(Value) -> Option<Value>,
) -> (OpType, Option<Value>) {
    let pending = ctx.recorder.invoke(process, f, key, arg);
    let (outcome, reached) = ctx.client.operator(node, body, is_write).await;
    let (kind, value, error) = match outcome {
        Outcome::Ok(v) => match ok_value(v) {
            Some(v) => (OpType::Ok, Some(v), None),
            None if is_write => (OpType::Ok, None, None),
            None => (OpType::Fail, None, Some("unusable answer".to_string())),
        },
        Outcome::Fail(e) => (OpType::Fail, None, Some(e)),
        Outcome::Info(e) => (OpType::Info, None, Some(e)),
    };
    ctx.recorder.complete(
        pending,
        kind,
        value.clone().unwrap_or(Value::Null),
        Some(reached),
        error,
    );
    (kind, value)
}

/// A random node address.
pub fn any_node(ctx: &WorkloadCtx, rng: &mut StdRng) -> String {
    let addrs = ctx.cluster.addrs();
    addrs[rng.gen_range(0..addrs.len())].clone()
}

/// Picks a random node per operation, but steers clear for a while of a
/// node whose last operation ran into the time-out (paused, or a leader cut
/// off from its quorum): otherwise one stuck node eats most of every
/// client's time and faults leave few operations to check.
pub struct NodePicker {
    avoid: std::collections::HashMap<String, Instant>,
}

impl Default for NodePicker {
    fn default() -> Self {
        Self::new()
    }
}

impl NodePicker {
    const AVOID_FOR: Duration = Duration::from_secs(2);

    pub fn new() -> Self {
        Self {
            avoid: Default::default(),
        }
    }

    pub fn pick(&mut self, ctx: &WorkloadCtx, rng: &mut StdRng) -> String {
        let now = Instant::now();
        self.avoid.retain(|_, until| *until > now);
        let addrs: Vec<String> = ctx
            .cluster
            .addrs()
            .into_iter()
            .filter(|a| !self.avoid.contains_key(a))
            .collect();
        if addrs.is_empty() {
            return any_node(ctx, rng);
        }
        addrs[rng.gen_range(0..addrs.len())].clone()
    }

    /// Call after each operation with how long it took.
    pub fn took(&mut self, ctx: &WorkloadCtx, node: &str, elapsed: Duration) {
        if elapsed >= ctx.client.op_timeout.mul_f64(0.9) {
            self.avoid
                .insert(node.to_string(), Instant::now() + Self::AVOID_FOR);
        }
    }
}

/// Sleeps a random think time (0..2*mean) unless that passes `end`.
pub async fn think(rng: &mut StdRng, mean: Duration, end: Instant) {
    let ms = mean.as_millis() as u64;
    let pause = Duration::from_millis(if ms == 0 {
        0
    } else {
        rng.gen_range(0..=2 * ms)
    });
    let until = (Instant::now() + pause).min(end);
    tokio::time::sleep_until(until.into()).await;
}

pub fn worker_rng(seed: u64, worker: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (0x5851_f42d_4c95_7f2d_u64.wrapping_mul(worker as u64 + 1)))
}

/// Repeats a final operation until it succeeds (bounded in attempts and
/// time); final reads go through every node in turn.
pub async fn final_op(
    ctx: &WorkloadCtx,
    process: Process,
    f: &str,
    body: &Value,
    extract: impl Fn(Value) -> Option<Value>,
) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addrs = ctx.cluster.addrs();
    // Reads end ok or fail (never info), so one process number serves all
    // attempts.
    let process = match process {
        Process::Client(n) => Process::Client(n),
        Process::Nemesis => Process::Client(1_000_000),
    };
    for attempt in 0..20 {
        let node = &addrs[attempt % addrs.len()];
        let (kind, value) = perform(
            ctx,
            process,
            f,
            None,
            Value::Null,
            node,
            body,
            false,
            &extract,
        )
        .await;
        if kind == OpType::Ok {
            return value;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_moves_a_client_to_a_new_process() {
        let mut p = ProcessNumber::new(2, 5);
        assert_eq!(p.get(), Process::Client(2));
        p.after(OpType::Ok);
        p.after(OpType::Fail);
        assert_eq!(p.get(), Process::Client(2));
        p.after(OpType::Info);
        assert_eq!(p.get(), Process::Client(7));
    }

    #[test]
    fn workloads_by_name() {
        for w in ALL {
            assert_eq!(by_name(w, &WorkloadOpts::default()).unwrap().name(), *w);
        }
        assert!(by_name("nope", &WorkloadOpts::default()).is_none());
    }
}
