//! Sequence workload: clients resend a write after a definite failure, as
//! Mesos frameworks resend a call answered 503 or redirected. A command the
//! masters called failed but that still commits (e.g. an entry truncated on
//! a deposed leader and later committed by a third leader that held a
//! copy) is then applied twice: the late copy lands after newer writes and
//! the value goes back, which `checker::sequence` catches.
//!
//! Each client owns a register `sq-<w>-<e>` and writes 1, 2, 3, ... to it,
//! one at a time: s+1 only after s was acknowledged. A definite failure is
//! resent with the same value until it is acknowledged; an unknown outcome
//! (`info`) retires the register (epoch e+1 starts a new one), because the
//! unknown write may legally take effect at any later time. Clients also
//! read every register (one GET_WEIGHTS).

use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use serde_json::{json, Value};

use super::{final_read, Call, Client, Workload, WorkloadCtx, WorkloadOpts};
use crate::checker::sequence::{SequenceChecker, PREFIX};
use crate::checker::Checker;
use crate::client::{get_weights, parse_weights, update_weights};
use crate::history::OpType;

pub struct SequenceWorkload {
    read_ratio: f64,
    think: Duration,
}

impl SequenceWorkload {
    pub fn new(opts: &WorkloadOpts) -> Self {
        Self {
            read_ratio: opts.read_ratio.clamp(0.1, 0.9),
            think: opts.think,
        }
    }

    fn project(answer: Value) -> Option<Value> {
        let weights = parse_weights(&answer)?;
        Some(Value::Object(
            weights
                .into_iter()
                .filter(|(k, _)| k.starts_with(PREFIX))
                .map(|(k, w)| (k, json!(w)))
                .collect(),
        ))
    }

    async fn worker(&self, ctx: &WorkloadCtx, w: usize) {
        let mut client = Client::new(ctx, w, self.think);
        let read = get_weights();
        let (mut epoch, mut next) = (0u64, 1u64);
        while client.running() {
            if client.rng.gen_bool(self.read_ratio) {
                client.call(Call::read("read", &read), Self::project).await;
                continue;
            }
            let key = format!("{PREFIX}{w}-{epoch}");
            let body = update_weights(&[(key.clone(), next as f64)]);
            let done = client
                .call(Call::write(&key, json!(next), &body), |_| None)
                .await;
            match done.kind {
                OpType::Ok => next += 1,
                // Resend the same write.
                OpType::Fail => {}
                // It may still land: leave this register to it.
                OpType::Info | OpType::Invoke => {
                    epoch += 1;
                    next = 1;
                }
            }
        }
    }
}

impl Workload for SequenceWorkload {
    fn name(&self) -> &str {
        "sequence"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            futures::future::join_all((0..ctx.concurrency).map(|w| self.worker(ctx, w))).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let got = final_read(ctx, "final-read", &get_weights(), Self::project).await;
            if got.is_none() {
                tracing::warn!("final read never succeeded");
            }
            Ok(())
        })
    }

    fn checkers(&self, _check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(SequenceChecker)]
    }
}
