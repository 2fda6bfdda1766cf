//! Election workload: every master's Raft state is polled continuously
//! (`/raft/status`), while clients write roles that are each written once
//! (`el-<n>` = n) and sometimes read them all. The checker looks for two
//! leaders in one term and for acknowledged writes missing from later reads.
//!
//! Every master is also asked GET_MASTER every few milliseconds, without
//! following redirects, by a quick poller (short timeout) and a patient one
//! (its request may sit in a paused master and be answered after it
//! resumes): `checker::leadership` fails the run if two masters ever
//! answered as leader at overlapping times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rand::Rng;
use serde_json::{json, Value};

use super::{final_read, Call, Client, Workload, WorkloadCtx, WorkloadOpts, POLLER_PROCESS};
use crate::checker::election::ElectionChecker;
use crate::checker::leadership::{LeadershipChecker, GET_MASTER};
use crate::checker::Checker;
use crate::client::{get_weights, parse_weights, update_weights, MasterAnswer};
use crate::history::OpType;

pub struct ElectionWorkload {
    next: AtomicU64,
    think: Duration,
}

const POLL_EVERY: Duration = Duration::from_millis(100);
const POLL_TIMEOUT: Duration = Duration::from_millis(400);
/// GET_MASTER polls: every 20 ms per master, by a quick and a patient
/// poller (process numbers after the status pollers').
const LEADER_POLL_EVERY: Duration = Duration::from_millis(20);
const LEADER_POLL_QUICK: (u64, Duration) = (1_000, Duration::from_millis(300));
const LEADER_POLL_PATIENT: (u64, Duration) = (2_000, Duration::from_secs(5));

impl ElectionWorkload {
    pub fn new(opts: &WorkloadOpts) -> Self {
        Self {
            next: AtomicU64::new(0),
            think: opts.think,
        }
    }

    fn project(answer: Value) -> Option<Value> {
        let weights = parse_weights(&answer)?;
        Some(Value::Object(
            weights
                .into_iter()
                .filter(|(k, _)| k.starts_with("el-"))
                .map(|(k, w)| (k, json!(w)))
                .collect(),
        ))
    }

    async fn poll(ctx: &WorkloadCtx, id: u64, until: Instant) {
        // Polls of one node are sequential and always end ok or fail, so
        // one process number per node suffices.
        let process = ctx.process(POLLER_PROCESS + id);
        while Instant::now() < until {
            let pending = ctx.recorder.invoke(process, "status", None, Value::Null);
            let addr = ctx.cluster.addr(id).to_string();
            match ctx.cluster.probe.status(&addr, POLL_TIMEOUT).await {
                Ok(s) => ctx.recorder.complete(
                    pending,
                    OpType::Ok,
                    crate::client::status_summary(&s),
                    Some(addr),
                    None,
                ),
                Err(e) => {
                    // A status read has no effect; a new process number keeps
                    // the history well-formed either way.
                    ctx.recorder
                        .complete(pending, OpType::Fail, Value::Null, Some(addr), Some(e));
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Asks master `id` GET_MASTER until `until`; records whether it
    /// answered as leader.
    async fn poll_leader(ctx: &WorkloadCtx, id: u64, until: Instant, poller: (u64, Duration)) {
        let (offset, timeout) = poller;
        // Reads with no effect: they end ok or fail, one process suffices.
        let process = ctx.process(POLLER_PROCESS + offset + id);
        let addr = ctx.cluster.addr(id).to_string();
        while Instant::now() < until {
            let pending = ctx.recorder.invoke(process, GET_MASTER, None, Value::Null);
            match ctx.cluster.probe.answers_as_leader(&addr, timeout).await {
                Ok(answer) => ctx.recorder.complete(
                    pending,
                    OpType::Ok,
                    match answer {
                        MasterAnswer::Leader { term } => json!({ "leader": true, "term": term }),
                        MasterAnswer::NotLeader => json!({ "leader": false }),
                    },
                    Some(addr.clone()),
                    None,
                ),
                Err(e) => ctx.recorder.complete(
                    pending,
                    OpType::Fail,
                    Value::Null,
                    Some(addr.clone()),
                    Some(e),
                ),
            }
            tokio::time::sleep(LEADER_POLL_EVERY).await;
        }
    }

    async fn writer(&self, ctx: &WorkloadCtx, w: usize) {
        let mut client = Client::new(ctx, w, self.think);
        let read = get_weights();
        while client.running() {
            if client.rng.gen_bool(0.25) {
                client.call(Call::read("read", &read), Self::project).await;
            } else {
                let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
                let role = format!("el-{n}");
                let body = update_weights(&[(role.clone(), n as f64)]);
                client
                    .call(Call::write(&role, json!(n as f64), &body), |_| None)
                    .await;
            }
        }
    }
}

impl Workload for ElectionWorkload {
    fn name(&self) -> &str {
        "election"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let pollers = ctx
                .cluster
                .ids()
                .into_iter()
                .map(|id| Self::poll(ctx, id, ctx.end));
            let leader_pollers = ctx.cluster.ids().into_iter().flat_map(|id| {
                [LEADER_POLL_QUICK, LEADER_POLL_PATIENT]
                    .map(|poller| Self::poll_leader(ctx, id, ctx.end, poller))
            });
            let writers = (0..ctx.concurrency).map(|w| self.writer(ctx, w));
            futures::future::join3(
                futures::future::join_all(pollers),
                futures::future::join_all(leader_pollers),
                futures::future::join_all(writers),
            )
            .await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // The final read happens after healing, in a later term than most
            // writes; then one more round of status polls.
            let got = final_read(ctx, "final-read", &get_weights(), Self::project).await;
            if got.is_none() {
                tracing::warn!("final read never succeeded");
            }
            let until = Instant::now() + POLL_EVERY * 3;
            futures::future::join_all(
                ctx.cluster
                    .ids()
                    .into_iter()
                    .map(|id| Self::poll(ctx, id, until)),
            )
            .await;
            Ok(())
        })
    }

    fn checkers(&self, _check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(ElectionChecker), Box::new(LeadershipChecker)]
    }
}
