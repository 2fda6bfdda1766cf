//! `mesoraft agent`: start-up (checkpoint, boot id, the recovery decision),
//! the runtime (executors, tasks, status updates), the agent's HTTP
//! endpoints, then following the leader until a master orders a shutdown
//! or the agent is stopped.

use crate::checkpoint::{self, current_boot_id, WorkDir};
use crate::flags::AgentArgs;
use crate::recovery::{decide, NewAgentReason, Startup};
use crate::session::{follow_leader, AgentState, FollowEnd};

pub use crate::error::AgentError;

/// How the agent ended without an error.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentExit {
    /// Stopped from outside (a signal); executors of checkpointing
    /// frameworks keep running for the next start.
    Stopped,
    /// A master ordered it to shut down, saying why. Its identity was
    /// dropped from the work dir: a restart registers a new agent.
    ShutDownByMaster(String),
    /// `--recover=cleanup` finished.
    CleanedUp,
}

/// Runs the agent until a master stops it.
pub async fn run(args: AgentArgs) -> Result<AgentExit, AgentError> {
    run_until(args, std::future::pending()).await
}

/// Runs the agent until a master stops it or `stop` completes.
pub async fn run_until(
    args: AgentArgs,
    stop: impl std::future::Future<Output = ()>,
) -> Result<AgentExit, AgentError> {
    let config = args.config()?;
    let work_dir = WorkDir::new(&config.work_dir);
    let found = checkpoint::load(&work_dir)?;
    let boot_id = current_boot_id(config.boot_id_file.as_deref())?;
    let startup = decide(
        &found,
        &config.info,
        &boot_id,
        config.recover,
        config.reconfiguration_policy,
    )
    .map_err(|refused| AgentError::Incompatible(refused.in_work_dir(&config.work_dir)))?;
    let (info, recovery) = match startup {
        Startup::Cleanup => {
            if let Some(previous) = &found.agent {
                let killed = crate::startup::kill_executors(&work_dir, &previous.agent_id.value)?;
                tracing::info!(agent_id = %previous.agent_id.value, killed, "--recover=cleanup: killed the executors left running");
            }
            forget_identity(&work_dir)?;
            return Ok(AgentExit::CleanedUp);
        }
        Startup::RegisterNew { reason } => {
            match reason {
                NewAgentReason::NoCheckpoint => {
                    tracing::info!("no agent checkpointed here: registering as a new agent")
                }
                NewAgentReason::RebootedWithOtherInfo { refused } => tracing::warn!(
                    differences = %refused,
                    "the host rebooted and the agent info changed: registering as a new agent"
                ),
            }
            (config.info.clone(), crate::startup::Recovery::default())
        }
        Startup::Reregister {
            agent_id,
            info,
            rebooted,
            changes,
        } => {
            tracing::info!(
                agent_id = %agent_id.value,
                rebooted,
                changes = changes.len(),
                "recovered the checkpointed agent: re-registering under its id"
            );
            let recovery = crate::startup::recovery(&work_dir, &agent_id.value, rebooted)?;
            (info, recovery)
        }
    };
    checkpoint::save_boot_id(&work_dir, &boot_id)?;
    let access = crate::session::MasterAccess::load(
        config.cluster_secret_file.as_deref(),
        config.tls.as_ref(),
    )?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| AgentError::Listen {
            addr: config.listen,
            source,
        })?;
    let (handle, mut runtime) = crate::startup::runtime(&config, &info, &work_dir, recovery)?;
    let mut agent = AgentState::new(info, work_dir.clone(), handle.clone());
    let http = tokio::spawn(crate::http::serve(
        listener,
        crate::http::AgentView {
            status: agent.status(),
            info: agent.info.clone(),
            sandboxes: std::sync::Arc::new(crate::files::Sandboxes::new(&config.work_dir)),
            started: std::time::Instant::now(),
        },
        handle.clone(),
    ));
    let end = tokio::select! {
        end = follow_leader(
            config.masters.clone(),
            config.registration_backoff_factor,
            access,
            &mut agent,
        ) => end,
        failed = &mut runtime => {
            http.abort();
            let why = match failed {
                Ok(Ok(())) => "the runtime stopped".to_string(),
                Ok(Err(failure)) => failure.0,
                Err(e) => format!("the runtime failed: {e}"),
            };
            return Err(AgentError::Fatal(why));
        }
        () = stop => {
            handle.stop(false).await;
            http.abort();
            return Ok(AgentExit::Stopped);
        }
    };
    // A master's shutdown ends this agent for good: nothing of it stays.
    handle.stop(matches!(end, FollowEnd::Shutdown(_))).await;
    http.abort();
    match end {
        FollowEnd::Shutdown(why) => {
            // A master-ordered shutdown ends this agent's identity (e.g.
            // marked gone): a restart must register a new agent.
            forget_identity(&work_dir)?;
            Ok(AgentExit::ShutDownByMaster(why))
        }
        FollowEnd::Unauthorized(why) => Err(AgentError::Unauthorized(why)),
        FollowEnd::Fatal(why) => Err(AgentError::Fatal(why)),
    }
}

/// Removes `meta/agents/latest`, so the next start registers anew.
fn forget_identity(work_dir: &WorkDir) -> Result<(), AgentError> {
    let latest = work_dir.latest_path();
    match std::fs::remove_file(&latest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AgentError::Cleanup {
            path: latest,
            source,
        }),
    }
}
