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

use super::membership::{raftctl, RaftctlOutcome};
use super::{Injection, Nemesis, NemesisCtx};

#[derive(Default)]
pub struct WipeNemesis {
    wiped: Mutex<Option<u64>>,
}

/// How long healing tries `members add --replace` (the group may be busy
/// with another fault, or have no leader for a while).
const READD_PATIENCE: Duration = Duration::from_secs(40);

impl Nemesis for WipeNemesis {
    fn name(&self) -> &'static str {
        "wipe"
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        ctx.cluster
            .cfg
            .binaries
            .raftctl
            .is_none()
            .then(|| "needs raftctl (not available with the fake master)".to_string())
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
            let running = ctx.cluster.running();
            let Some(target) = ctx
                .shuffled(seed)
                .into_iter()
                .find(|id| running.contains(id))
            else {
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
            let seen_by = Instant::now() + Duration::from_secs(15);
            while Instant::now() < seen_by {
                match ctx.cluster.status(target).await {
                    Ok(s) if s.needs_readding.is_some() => break,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            let addr = ctx.cluster.addr(target).to_string();
            let deadline = Instant::now() + READD_PATIENCE;
            let mut attempts = Vec::new();
            loop {
                let args = [
                    "members".into(),
                    "add".into(),
                    "--replace".into(),
                    target.to_string(),
                    addr.clone(),
                ];
                match raftctl(ctx, Some(target), &args).await? {
                    RaftctlOutcome::Done(out) => {
                        *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        return Ok(json!({"re_added": target, "raftctl": out,
                                         "failed_attempts": attempts}));
                    }
                    RaftctlOutcome::NotDone(why) => {
                        // A resent call whose first copy finished is refused
                        // as a `--replace` of a healthy member.
                        if is_member_again(ctx, target).await {
                            *self.wiped.lock().unwrap_or_else(|e| e.into_inner()) = None;
                            return Ok(json!({"re_added": target, "raftctl": why,
                                             "failed_attempts": attempts}));
                        }
                        attempts.push(why)
                    }
                }
                if Instant::now() >= deadline {
                    bail!(
                        "could not re-add wiped master {target}: {}",
                        attempts.join(" | ")
                    );
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// The wiped master is a voter and no longer says it needs re-adding.
async fn is_member_again(ctx: &NemesisCtx, id: u64) -> bool {
    match ctx.cluster.status(id).await {
        Ok(s) => s.needs_readding.is_none() && s.membership.voters.contains(&id),
        Err(_) => false,
    }
}
