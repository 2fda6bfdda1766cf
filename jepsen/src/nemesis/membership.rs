//! Membership change under load: remove a master from the Raft group with
//! `raftctl members remove`, stop it, wipe its disk and start it again as a
//! brand-new master (`--join`), then add it back with `raftctl members add`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Nemesis, NemesisCtx};

#[derive(Default)]
pub struct MembershipNemesis {
    removed: Mutex<Option<u64>>,
}

const RAFTCTL_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `raftctl --masters <all but skip> ARGS` with a time limit.
pub async fn raftctl(
    ctx: &NemesisCtx,
    skip: Option<u64>,
    args: &[String],
) -> anyhow::Result<String> {
    let Some(program) = ctx.cluster.cfg.binaries.raftctl.clone() else {
        bail!("no raftctl binary");
    };
    let masters: Vec<String> = ctx
        .cluster
        .ids()
        .into_iter()
        .filter(|id| Some(*id) != skip)
        .map(|id| ctx.cluster.addr(id).to_string())
        .collect();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.arg("--masters")
        .arg(masters.join(","))
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .kill_on_drop(true);
    let out = tokio::time::timeout(RAFTCTL_TIMEOUT, cmd.output())
        .await
        .with_context(|| {
            format!(
                "raftctl {} timed out after {RAFTCTL_TIMEOUT:?}",
                args.join(" ")
            )
        })?
        .context("running raftctl")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "raftctl {} failed ({}): {}",
            args.join(" "),
            out.status,
            text.trim()
        );
    }
    Ok(text.trim().to_string())
}

impl Nemesis for MembershipNemesis {
    fn name(&self) -> &'static str {
        "membership"
    }

    fn unsupported(&self, ctx: &NemesisCtx) -> Option<String> {
        ctx.cluster
            .cfg
            .binaries
            .raftctl
            .is_none()
            .then(|| "needs raftctl (not available with the fake master)".to_string())
    }

    fn start<'a>(&'a self, ctx: &'a NemesisCtx, seed: u64) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            if let Some(id) = *self.removed.lock().unwrap_or_else(|e| e.into_inner()) {
                bail!("master {id} is still out of the group");
            }
            let target = ctx.shuffled(seed)[0];
            let out = raftctl(
                ctx,
                None,
                &["members".into(), "remove".into(), target.to_string()],
            )
            .await?;
            *self.removed.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
            // A removed master is retired like a decommissioned machine; it
            // comes back as a new one with an empty disk.
            ctx.cluster.kill(target);
            ctx.cluster.wipe(target)?;
            ctx.cluster.set_join_mode(target);
            ctx.cluster.start(target)?;
            Ok(
                json!({"removed": target, "wiped": [target], "raftctl": out, "restarted_with": "--join, empty disk"}),
            )
        })
    }

    fn stop<'a>(&'a self, ctx: &'a NemesisCtx) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let Some(target) = *self.removed.lock().unwrap_or_else(|e| e.into_inner()) else {
                return Ok(json!({"nothing_to_do": true}));
            };
            // The joining node must be up before it can be added.
            ctx.cluster.start(target)?;
            let _ = ctx
                .cluster
                .wait_healthy(&[target], Duration::from_secs(10))
                .await;
            let addr = ctx.cluster.addr(target).to_string();
            let deadline = Instant::now() + Duration::from_secs(40);
            let mut attempts = Vec::new();
            loop {
                let args = [
                    "members".into(),
                    "add".into(),
                    target.to_string(),
                    addr.clone(),
                ];
                match raftctl(ctx, Some(target), &args).await {
                    Ok(out) => {
                        *self.removed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        return Ok(
                            json!({"added": target, "raftctl": out, "failed_attempts": attempts}),
                        );
                    }
                    Err(e) => attempts.push(e.to_string()),
                }
                if Instant::now() >= deadline || attempts.len() >= 4 {
                    bail!("could not re-add master {target}: {}", attempts.join(" | "));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
