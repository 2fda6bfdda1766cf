//! Membership change under load: remove a master from the Raft group with
//! `raftctl members remove`, stop it, wipe its disk and start it again as a
//! brand-new master (`--join`), then add it back with `raftctl members add`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Injection, Nemesis, NemesisCtx};

#[derive(Default)]
pub struct MembershipNemesis {
    removed: Mutex<Option<u64>>,
}

const RAFTCTL_TIMEOUT: Duration = Duration::from_secs(20);

/// How a raftctl membership command ended.
#[derive(Debug)]
pub enum RaftctlOutcome {
    Done(String),
    /// raftctl ran and said the change was not made (exit 1: no leader
    /// reachable, refused), or gave up: the group may or may not have
    /// applied it.
    NotDone(String),
}

/// Runs `raftctl --masters <all but skip> ARGS` with a time limit. An
/// `Err` is a harness problem (no binary, bad command line).
pub async fn raftctl(
    ctx: &NemesisCtx,
    skip: Option<u64>,
    args: &[String],
) -> anyhow::Result<RaftctlOutcome> {
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
    let what = format!("raftctl {}", args.join(" "));
    let out = match tokio::time::timeout(RAFTCTL_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Ok(RaftctlOutcome::NotDone(format!(
                "{what} timed out after {RAFTCTL_TIMEOUT:?}"
            )))
        }
        Ok(out) => out.with_context(|| format!("running {}", program.display()))?,
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(RaftctlOutcome::Done(text.trim().to_string())),
        Some(1) => Ok(RaftctlOutcome::NotDone(format!(
            "{what} failed: {}",
            text.trim()
        ))),
        _ => bail!("{what} failed ({}): {}", out.status, text.trim()),
    }
}

/// How long healing tries `raftctl members add` (the group may be busy
/// with another fault, or have no leader for a while).
const ADD_PATIENCE: Duration = Duration::from_secs(40);

/// `raftctl members add [FLAGS] ID ADDR` until it succeeds (at most
/// `max_attempts` tries within [`ADD_PATIENCE`]), or until the master is a
/// working member anyway: a call raftctl resent after its first copy
/// finished is refused, although what it asked for is done.
pub async fn add_back(
    ctx: &NemesisCtx,
    target: u64,
    flags: &[&str],
    max_attempts: usize,
) -> anyhow::Result<Value> {
    let mut args: Vec<String> = vec!["members".into(), "add".into()];
    args.extend(flags.iter().map(|f| f.to_string()));
    args.extend([target.to_string(), ctx.cluster.addr(target).to_string()]);
    let deadline = Instant::now() + ADD_PATIENCE;
    let mut attempts = Vec::new();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    loop {
        retry.tick().await;
        match raftctl(ctx, Some(target), &args).await? {
            RaftctlOutcome::Done(out) => {
                return Ok(json!({"added": target, "raftctl": out, "failed_attempts": attempts}))
            }
            RaftctlOutcome::NotDone(why) if is_member_again(ctx, target).await => {
                return Ok(json!({"added": target, "raftctl": why, "failed_attempts": attempts}))
            }
            RaftctlOutcome::NotDone(why) => attempts.push(why),
        }
        if Instant::now() >= deadline || attempts.len() >= max_attempts {
            bail!("could not re-add master {target}: {}", attempts.join(" | "));
        }
    }
}

/// The master itself says it is a voter and not in need of re-adding.
async fn is_member_again(ctx: &NemesisCtx, id: u64) -> bool {
    match ctx.cluster.status(id).await {
        Ok(s) => s.needs_readding.is_none() && s.membership.voters.contains(&id),
        Err(_) => false,
    }
}

/// Whether the current leader's membership still lists `id` as a voter
/// (None: no leader answered within a few seconds).
async fn is_voter(ctx: &NemesisCtx, id: u64) -> Option<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leader = ctx
            .cluster
            .statuses()
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .filter(|s| s.is_leader())
            .max_by_key(|s| s.term);
        if let Some(s) = leader {
            return Some(s.membership.voters.contains(&id));
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Nemesis for MembershipNemesis {
    fn name(&self) -> &'static str {
        "membership"
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
            if let Some(id) = *self.removed.lock().unwrap_or_else(|e| e.into_inner()) {
                bail!("master {id} is still out of the group");
            }
            let Some(&target) = ctx.running_shuffled(seed).first() else {
                return Ok(Injection::not("no running master", json!({})));
            };
            let args = ["members".into(), "remove".into(), target.to_string()];
            let said = match raftctl(ctx, None, &args).await? {
                RaftctlOutcome::Done(out) => out,
                // The change may have been applied although raftctl could
                // not tell: the leader's membership decides.
                RaftctlOutcome::NotDone(why) => match is_voter(ctx, target).await {
                    Some(false) => why,
                    Some(true) => {
                        return Ok(Injection::not(
                            "the group did not remove the master",
                            json!({"target": target, "raftctl": why}),
                        ))
                    }
                    None => bail!(
                        "could not tell whether master {target} was removed: {why}; \
                         no leader answered afterwards"
                    ),
                },
            };
            *self.removed.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
            // A removed master is retired like a decommissioned machine; it
            // comes back as a new one with an empty disk.
            ctx.cluster.kill(target);
            ctx.cluster.wipe(target)?;
            ctx.cluster.set_join_mode(target);
            ctx.cluster.start(target)?;
            Ok(Injection::Injected(json!({
                "removed": target, "wiped": [target], "raftctl": said,
                "restarted_with": "--join, empty disk",
            })))
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
            let added = add_back(ctx, target, &[], 4).await?;
            *self.removed.lock().unwrap_or_else(|e| e.into_inner()) = None;
            Ok(added)
        })
    }
}
