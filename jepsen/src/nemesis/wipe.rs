//! Disk loss: `kill -9` a master, delete its work dir and start it again
//! with the same flags, as an operator replacing a failed disk would. The
//! wiped master must not vote or acknowledge as the member it was (it no
//! longer holds what that member promised); it waits, saying it needs
//! re-adding. Healing is the operator's way back: `raftctl members add
//! --replace`, which removes the old incarnation's slot and adds the new one.
//! No acknowledged write may be lost meanwhile.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::membership::add_back;
use super::{Injection, Nemesis, NemesisCtx};

#[derive(Default)]
pub struct WipeNemesis {
    wiped: Mutex<Option<u64>>,
}

impl Nemesis for WipeNemesis {
    fn name(&self) -> &'static str {
        "wipe"
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        ctx.needs_raftctl()
    }

    fn start<'a>(
        &'a self,
        ctx: &'a NemesisCtx,
        seed: u64,
    ) -> BoxFuture<'a, anyhow::Result<Injection>> {
        Box::pin(async move {
            if let Some(id) = *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) {
                bail!("master {id} was wiped and is not re-added yet");
            }
            let Some(&target) = ctx.running_shuffled(seed).first() else {
                return Ok(Injection::not("no running master", json!({})));
            };
            ctx.cluster.kill(target);
            ctx.cluster.wipe(target)?;
            // The same flags as before: the master must find out by itself
            // that it is a new incarnation.
            ctx.cluster.start(target)?;
            *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
            Ok(Injection::Injected(json!({
                "wiped": [target], "restarted_with": "the same flags, empty work dir",
            })))
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let Some(target) = *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) else {
                return Ok(json!({"nothing_to_do": true}));
            };
            // The new incarnation must answer before its slot can be bound,
            // and the leader must have seen that it is a new one (before
            // that it still takes the slot for healthy), as an operator
            // sees it in `raftctl status`.
            ctx.cluster.start(target)?;
            let seen = crate::wait::until(
                Instant::now() + Duration::from_secs(15),
                Duration::from_millis(200),
                || async {
                    let s = ctx.cluster.status(target).await.ok()?;
                    s.needs_readding.is_some().then_some(())
                },
            )
            .await;
            let mut added = add_back(ctx, target, &["--replace"], usize::MAX).await?;
            added["seen_as_new"] = json!(seen.is_some());
            *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) = None;
            Ok(added)
        })
    }
}
