//! Durability workload: each client writes a numbered record and its
//! counter in one UPDATE_WEIGHTS (`du-<w>-<s>` = s, `du-<w>` = s), one at a
//! time. At the end every master is killed with SIGKILL and restarted; a
//! final read must show every acknowledged record, in order.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{final_read, Call, Client, Workload, WorkloadCtx, WorkloadOpts};
use crate::checker::durability::DurabilityChecker;
use crate::checker::Checker;
use crate::client::{get_weights, parse_weights, update_weights};
use crate::nemesis_record::NemesisRecord;

pub struct DurabilityWorkload {
    think: Duration,
}

impl DurabilityWorkload {
    pub fn new(opts: &WorkloadOpts) -> Self {
        Self { think: opts.think }
    }

    fn project(answer: Value) -> Option<Value> {
        let weights = parse_weights(&answer)?;
        Some(Value::Object(
            weights
                .into_iter()
                .filter(|(k, _)| k.starts_with("du-"))
                .map(|(k, w)| (k, json!(w)))
                .collect(),
        ))
    }

    async fn writer(&self, ctx: &WorkloadCtx, w: usize) {
        let mut client = Client::new(ctx, w, self.think);
        let counter = format!("du-{w}");
        let mut seq = 0u64;
        while client.running() {
            seq += 1;
            let body = update_weights(&[
                (format!("du-{w}-{seq}"), seq as f64),
                (counter.clone(), seq as f64),
            ]);
            client
                .call(Call::write(&counter, json!(seq), &body), |_| None)
                .await;
        }
    }
}

impl Workload for DurabilityWorkload {
    fn name(&self) -> &str {
        "durability"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            futures::future::join_all((0..ctx.concurrency).map(|w| self.writer(ctx, w))).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let ids = ctx.cluster.ids();
            ctx.recorder.nemesis(
                "start",
                &NemesisRecord::new("kill-all")
                    .final_phase()
                    .with_value(json!({"killed": ids})),
                None,
            );
            // On lazyfs the masters also lose every write they had not
            // fsynced, as in a power loss of the whole group.
            let dropped = ctx.cluster.crash_all();
            if !dropped.is_empty() {
                tracing::info!(?dropped, "final kill-all dropped unsynced writes");
            }
            ctx.cluster.start_all()?;
            let ready = ctx.cluster.wait_ready(Duration::from_secs(60)).await;
            ctx.recorder.nemesis(
                "stop",
                &NemesisRecord::new("kill-all")
                    .final_phase()
                    .with_value(json!({"restarted": ids, "ready": ready.as_ref().is_ok()})),
                ready.as_ref().err().map(|e| e.to_string()),
            );
            ready?;
            let got = final_read(ctx, "final-read", &get_weights(), Self::project).await;
            if got.is_none() {
                tracing::warn!("final read after the restart never succeeded");
            }
            Ok(())
        })
    }

    fn checkers(&self, _check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(DurabilityChecker)]
    }
}
