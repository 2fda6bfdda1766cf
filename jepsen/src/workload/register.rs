//! Register workload: clients UPDATE_WEIGHTS and GET_WEIGHTS a few roles
//! (each role's weight is one register) through random masters. Each write
//! uses a fresh value for its role (1.0, 2.0, ...) so reads identify the
//! write they observed. One GET_WEIGHTS reads every register at once; a
//! `final-read` after healing must succeed for the run to pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use serde_json::{json, Value};

use super::{final_read, Call, Client, Workload, WorkloadCtx, WorkloadOpts};
use crate::checker::register::RegisterChecker;
use crate::checker::Checker;
use crate::client::{get_weights, parse_weights, update_weights};

pub struct RegisterWorkload {
    keys: Vec<String>,
    next_value: Vec<AtomicU64>,
    read_ratio: f64,
    think: Duration,
}

impl RegisterWorkload {
    pub fn new(opts: &WorkloadOpts) -> Self {
        let n = opts.keys.max(1);
        Self {
            keys: (0..n).map(|i| format!("jr{i}")).collect(),
            next_value: (0..n).map(|_| AtomicU64::new(0)).collect(),
            read_ratio: opts.read_ratio,
            think: opts.think,
        }
    }

    /// `{key: weight | null}` for every key of this workload.
    fn project(&self, answer: Value) -> Option<Value> {
        let weights = parse_weights(&answer)?;
        let map: serde_json::Map<String, Value> = self
            .keys
            .iter()
            .map(|k| (k.clone(), weights.get(k).map_or(Value::Null, |w| json!(w))))
            .collect();
        Some(Value::Object(map))
    }

    async fn worker(&self, ctx: &WorkloadCtx, w: usize) {
        let mut client = Client::new(ctx, w, self.think);
        let read = get_weights();
        while client.running() {
            if client.rng.gen_bool(self.read_ratio) {
                client
                    .call(Call::read("read", &read), |v| self.project(v))
                    .await;
            } else {
                let k = client.rng.gen_range(0..self.keys.len());
                let value = (self.next_value[k].fetch_add(1, Ordering::Relaxed) + 1) as f64;
                let key = &self.keys[k];
                let body = update_weights(&[(key.clone(), value)]);
                client
                    .call(Call::write(key, json!(value), &body), |_| None)
                    .await;
            }
        }
    }
}

impl Workload for RegisterWorkload {
    fn name(&self) -> &str {
        "register"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            futures::future::join_all((0..ctx.concurrency).map(|w| self.worker(ctx, w))).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // One more read of every register after healing: a lost write
            // shows up here even if no read happened after it during the run.
            let got = final_read(ctx, "final-read", &get_weights(), |v| self.project(v)).await;
            if got.is_none() {
                tracing::warn!("final read never succeeded");
            }
            Ok(())
        })
    }

    fn checkers(&self, check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(RegisterChecker {
            time_budget: check_budget,
        })]
    }
}
