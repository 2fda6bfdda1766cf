//! Multi-register workload: each write is one UPDATE_WEIGHTS of several
//! roles at once, each read one GET_WEIGHTS of all of them, and the
//! checker judges whole-map snapshots (`checker::map`): a read must show
//! the map as of one instant, never half of a write.
//!
//! A write sets a random subset of 2..=all of the workload's roles
//! (`jm0`, `jm1`, ...) to one value that no other write uses (1.0, 2.0,
//! ...), so every value a read shows names the write it came from. The
//! history records a write as `write` with no key and value
//! `{role: weight, ...}`, reads as `read` / `final-read` with value
//! `{role: weight | null}` for every role.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::{final_read, Call, Client, Workload, WorkloadCtx, WorkloadOpts};
use crate::checker::map::MapChecker;
use crate::checker::Checker;
use crate::client::{get_weights, parse_weights, update_weights};

pub struct MultiRegisterWorkload {
    keys: Vec<String>,
    next_value: AtomicU64,
    read_ratio: f64,
    think: Duration,
}

impl MultiRegisterWorkload {
    /// `opts.keys` roles, at least 2 (a write sets two or more).
    pub fn new(opts: &WorkloadOpts) -> Self {
        Self {
            keys: (0..opts.keys.max(2)).map(|i| format!("jm{i}")).collect(),
            next_value: AtomicU64::new(0),
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
                continue;
            }
            let n = client.rng.gen_range(2..=self.keys.len());
            let value = (self.next_value.fetch_add(1, Ordering::Relaxed) + 1) as f64;
            let sets: Vec<(String, f64)> = self
                .keys
                .choose_multiple(&mut client.rng, n)
                .map(|k| (k.clone(), value))
                .collect();
            let body = update_weights(&sets);
            let arg = Value::Object(sets.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
            let call = Call {
                f: "write",
                key: None,
                arg,
                body: &body,
                is_write: true,
            };
            client.call(call, |_| None).await;
        }
    }
}

impl Workload for MultiRegisterWorkload {
    fn name(&self) -> &str {
        "multi-register"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            futures::future::join_all((0..ctx.concurrency).map(|w| self.worker(ctx, w))).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let got = final_read(ctx, "final-read", &get_weights(), |v| self.project(v)).await;
            if got.is_none() {
                tracing::warn!(workload = "multi-register", "final read never succeeded");
            }
            Ok(())
        })
    }

    fn checkers(&self, check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(MapChecker {
            time_budget: check_budget,
        })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_its_own_and_at_least_two() {
        let w = MultiRegisterWorkload::new(&WorkloadOpts {
            keys: 1,
            ..WorkloadOpts::default()
        });
        assert_eq!(w.keys, ["jm0", "jm1"]);
        let answer = json!({"get_weights": {"weight_infos": [
            {"role": "jm1", "weight": 3.0}, {"role": "jr0", "weight": 1.0}]}});
        assert_eq!(w.project(answer), Some(json!({"jm0": null, "jm1": 3.0})));
    }
}
