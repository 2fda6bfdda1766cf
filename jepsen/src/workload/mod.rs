//! Workloads: concurrent clients that drive the cluster and record every
//! operation in the history, plus the checkers that judge what they
//! recorded. New workloads (agents, tasks) plug in by implementing
//! `Workload` and adding a name to `by_name`.

pub mod agents;
pub mod composed;
pub mod durability;
pub mod election;
pub mod multi_register;
pub mod register;
pub mod sequence;
pub mod tasks;

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

#[derive(Clone)]
pub struct WorkloadCtx {
    pub cluster: Arc<Cluster>,
    pub recorder: Arc<Recorder>,
    pub client: ApiClient,
    /// The client of the last `slow_clients` workers: its timeout exceeds
    /// every pause and the masters' write timeout.
    pub slow_client: ApiClient,
    pub slow_clients: usize,
    pub seed: u64,
    pub concurrency: usize,
    /// End of the main phase.
    pub end: Instant,
    /// This workload's process numbers start here (see [`PROCESS_SPAN`]).
    pub process_base: u64,
}

impl WorkloadCtx {
    /// The history process for this workload's process number `n`.
    pub fn process(&self, n: u64) -> Process {
        Process::Client(self.process_base + n)
    }

    /// The HTTP client worker `worker` uses.
    pub fn client_for(&self, worker: usize) -> &ApiClient {
        if worker + self.slow_clients >= self.concurrency {
            &self.slow_client
        } else {
            &self.client
        }
    }
}

/// Every workload numbers its processes below this span (clients from 0,
/// pollers from [`POLLER_PROCESS`], final operations at [`FINAL_PROCESS`]);
/// in a composed run part `i` adds `i * PROCESS_SPAN`, which is how each
/// part's checkers find their own operations in the shared history.
pub const PROCESS_SPAN: u64 = 10_000_000;
/// Process numbers of status pollers (plus the node id).
pub const POLLER_PROCESS: u64 = 500_000;
/// Process number of the final operations after healing.
pub const FINAL_PROCESS: u64 = 1_000_000;

pub trait Workload: Send + Sync {
    fn name(&self) -> &str;

    /// Issues operations until `ctx.end`.
    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>>;

    /// After the faults are healed and the cluster is ready again: final
    /// operations (e.g. reads that must see every acknowledged write).
    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>>;

    /// The checkers for this workload's operations; `check_budget` bounds
    /// searches (linearizability).
    fn checkers(&self, check_budget: Duration) -> Vec<Box<dyn Checker>>;
}

/// Every workload; durability last (its final kill-all ends the run).
pub const ALL: &[&str] = &[
    "register",
    "multi-register",
    "election",
    "sequence",
    "durability",
];

/// Workloads that need more than the masters (`agents` and `tasks` need
/// `--agents`, which defaults to 3 with them); not part of `all`.
pub const EXTRA: &[&str] = &["agents", "tasks"];

#[derive(Clone, Debug)]
pub struct WorkloadOpts {
    /// Number of registers (roles) for the register and multi-register
    /// workloads.
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

fn single(name: &str, opts: &WorkloadOpts) -> Option<Box<dyn Workload>> {
    Some(match name {
        "register" => Box::new(register::RegisterWorkload::new(opts)),
        "multi-register" => Box::new(multi_register::MultiRegisterWorkload::new(opts)),
        "election" => Box::new(election::ElectionWorkload::new(opts)),
        "sequence" => Box::new(sequence::SequenceWorkload::new(opts)),
        "durability" => Box::new(durability::DurabilityWorkload::new(opts)),
        "agents" => Box::new(agents::AgentsWorkload::new(opts)),
        "tasks" => Box::new(tasks::TasksWorkload::new(opts)),
        _ => return None,
    })
}

/// The workload names in `spec`: one name, a comma-separated list (run
/// together against one cluster), or `all`.
pub fn names(spec: &str) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: Vec<&str> = match part {
            "all" => ALL.to_vec(),
            name if ALL.contains(&name) || EXTRA.contains(&name) => vec![name],
            other => anyhow::bail!(
                "unknown workload {other:?}; known: {}, {}, or all",
                ALL.join(", "),
                EXTRA.join(", ")
            ),
        };
        for name in add {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    if out.is_empty() {
        anyhow::bail!("no workload given; known: {}, or all", ALL.join(", "));
    }
    // A kill-all ends the durability workload: run its final phase last.
    out.sort_by_key(|n| ALL.iter().position(|a| a == n));
    Ok(out)
}

/// The workloads in `spec` (one name, a comma-separated list, or `all`),
/// run together against one cluster (see [`composed`]; one name is a
/// composition of one).
pub fn by_name(spec: &str, opts: &WorkloadOpts) -> anyhow::Result<composed::Composed> {
    let parts = names(spec)?
        .iter()
        .map(|n| single(n, opts).expect("names() returns known workloads"))
        .collect();
    Ok(composed::Composed::new(parts))
}

/// A client's process number. After an `info` the old operation may still
/// be in flight, so the client continues as a new process (Jepsen's rule),
/// keeping "one operation at a time per process" true.
pub struct ProcessNumber {
    current: u64,
    stride: u64,
}

impl ProcessNumber {
    pub fn new(base: u64, worker: usize, workers: usize) -> Self {
        Self {
            current: base + worker as u64,
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

/// What one recorded operation ended with.
pub struct Performed {
    pub kind: OpType,
    pub value: Option<Value>,
    /// The node that finally answered (after redirects).
    pub node: String,
}

/// Performs one operator call and records it: invoke, then ok / fail /
/// info. `ok_value` turns a successful answer into the recorded value
/// (None: the answer is unusable, recorded as a failure for reads).
/// Redirects to a node in `avoid` are not followed.
pub async fn perform(
    ctx: &WorkloadCtx,
    process: Process,
    call: &Call<'_>,
    node: &str,
    avoid: &[String],
    ok_value: impl FnOnce(Value) -> Option<Value>,
) -> Performed {
    perform_with(ctx, &ctx.client, process, call, node, avoid, ok_value).await
}

/// [`perform`] through a given HTTP client (e.g. a slow client's).
pub async fn perform_with(
    ctx: &WorkloadCtx,
    api: &ApiClient,
    process: Process,
    call: &Call<'_>,
    node: &str,
    avoid: &[String],
    ok_value: impl FnOnce(Value) -> Option<Value>,
) -> Performed {
    let pending = ctx
        .recorder
        .invoke(process, call.f, call.key, call.arg.clone());
    let (outcome, reached) = api
        .operator_avoiding(node, call.body, call.is_write, avoid)
        .await;
    let (kind, value, error) = match outcome {
        Outcome::Ok(v) => match ok_value(v) {
            Some(v) => (OpType::Ok, Some(v), None),
            None if call.is_write => (OpType::Ok, None, None),
            None => (OpType::Fail, None, Some("unusable answer".to_string())),
        },
        Outcome::Fail(e) => (OpType::Fail, None, Some(e)),
        Outcome::Info(e) => (OpType::Info, None, Some(e)),
    };
    ctx.recorder.complete(
        pending,
        kind,
        value.clone().unwrap_or(Value::Null),
        Some(reached.clone()),
        error,
    );
    Performed {
        kind,
        value,
        node: reached,
    }
}

/// One operator call, as the history will record it.
pub struct Call<'a> {
    /// `read`, `write`, `final-read`, ...
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub arg: Value,
    pub body: &'a Value,
    /// Writes that time out are `info` (maybe applied); reads are `fail`.
    pub is_write: bool,
}

impl<'a> Call<'a> {
    pub fn read(f: &'a str, body: &'a Value) -> Self {
        Call {
            f,
            key: None,
            arg: Value::Null,
            body,
            is_write: false,
        }
    }

    pub fn write(key: &'a str, arg: Value, body: &'a Value) -> Self {
        Call {
            f: "write",
            key: Some(key),
            arg,
            body,
            is_write: true,
        }
    }
}

/// A random node address.
pub fn any_node(ctx: &WorkloadCtx, rng: &mut StdRng) -> String {
    let addrs = ctx.cluster.addrs();
    addrs[rng.gen_range(0..addrs.len())].clone()
}

/// Picks a random node per operation, but steers clear for a while of a
/// node that an operation timed out on (paused, or a leader cut off from
/// its quorum): otherwise one stuck node eats most of every client's time
/// and faults leave few operations to check. The node blamed is the one
/// that finally answered, so a follower redirecting to a stuck leader is
/// not blamed, and redirects to a node being avoided are not followed.
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

    /// Nodes currently avoided.
    pub fn avoided(&self) -> Vec<String> {
        let now = Instant::now();
        self.avoid
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Called after each operation with the node that answered and how long
    /// the operation took.
    pub fn took(&mut self, op_timeout: Duration, node: &str, elapsed: Duration) {
        if elapsed >= op_timeout.mul_f64(0.9) {
            self.avoid
                .insert(node.to_string(), Instant::now() + Self::AVOID_FOR);
        }
    }
}

/// One closed-loop client of a workload: picks a node per operation,
/// records it, moves to a new process number after an `info`, and thinks
/// before the next.
pub struct Client<'a> {
    ctx: &'a WorkloadCtx,
    api: &'a ApiClient,
    pub rng: StdRng,
    process: ProcessNumber,
    picker: NodePicker,
    think: Duration,
}

impl<'a> Client<'a> {
    pub fn new(ctx: &'a WorkloadCtx, worker: usize, think: Duration) -> Self {
        Self {
            ctx,
            api: ctx.client_for(worker),
            rng: worker_rng(ctx.seed ^ ctx.process_base, worker),
            process: ProcessNumber::new(ctx.process_base, worker, ctx.concurrency),
            picker: NodePicker::new(),
            think,
        }
    }

    /// Whether the main phase is still on.
    pub fn running(&self) -> bool {
        Instant::now() < self.ctx.end
    }

    pub async fn call(
        &mut self,
        call: Call<'_>,
        ok_value: impl FnOnce(Value) -> Option<Value>,
    ) -> Performed {
        let node = self.picker.pick(self.ctx, &mut self.rng);
        let avoid = self.picker.avoided();
        let began = Instant::now();
        let done = perform_with(
            self.ctx,
            self.api,
            self.process.get(),
            &call,
            &node,
            &avoid,
            ok_value,
        )
        .await;
        self.picker
            .took(self.api.op_timeout, &done.node, began.elapsed());
        self.process.after(done.kind);
        think(&mut self.rng, self.think, self.ctx.end).await;
        done
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

/// Repeats a final read until it succeeds (bounded in attempts and time),
/// going through every node in turn.
pub async fn final_read(
    ctx: &WorkloadCtx,
    f: &str,
    body: &Value,
    extract: impl Fn(Value) -> Option<Value>,
) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addrs = ctx.cluster.addrs();
    // Reads end ok or fail (never info), so one process number serves all
    // attempts.
    let process = ctx.process(FINAL_PROCESS);
    for attempt in 0..20 {
        let node = &addrs[attempt % addrs.len()];
        let done = perform(ctx, process, &Call::read(f, body), node, &[], &extract).await;
        if done.kind == OpType::Ok {
            return done.value;
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
        let mut p = ProcessNumber::new(0, 2, 5);
        assert_eq!(p.get(), Process::Client(2));
        p.after(OpType::Ok);
        p.after(OpType::Fail);
        assert_eq!(p.get(), Process::Client(2));
        p.after(OpType::Info);
        assert_eq!(p.get(), Process::Client(7));
    }

    #[test]
    fn workloads_by_name() {
        let opts = WorkloadOpts::default();
        for w in ALL.iter().chain(EXTRA) {
            assert_eq!(by_name(w, &opts).unwrap().name(), *w);
        }
        assert_eq!(
            by_name("durability,agents", &opts).unwrap().name(),
            "agents+durability"
        );
        assert!(by_name("nope", &opts).is_err());
        assert!(by_name("register,nope", &opts).is_err());
        assert!(by_name("", &opts).is_err());
        // Durability's kill-all comes last whatever the order given.
        assert_eq!(
            by_name("durability,register", &opts).unwrap().name(),
            "register+durability"
        );
        assert_eq!(by_name("all", &opts).unwrap().name(), ALL.join("+"));
        assert_eq!(names("register,register").unwrap(), vec!["register"]);
    }
}
