//! Following Raft's view: when this master becomes the acting leader of a
//! term, a fresh leader-term task set starts under a cancellation token;
//! the moment Raft reports anything else (follower, candidate, a newer
//! term, a lapsed lease) the token is cancelled and every leader-only task
//! stops at once.

use std::sync::Arc;

use futures::future::BoxFuture;
use std::time::{Duration, Instant};

use mesoraft_raft::storage::RegistryHandle;
use mesoraft_raft::{CheckIsLeaderError, RaftError};
use mesoraft_registry::Command;
use tokio_util::sync::CancellationToken;

use super::gate::{WriteFailure, Writer};
use super::term::effective_leader_term;
use crate::Master;

/// The leader-term task set currently running, if any.
struct LeaderTerm {
    term: u64,
    cancel: CancellationToken,
}

/// Follows Raft metrics until `shutdown`; owns the leader-term task set.
pub async fn watch_leadership(master: Arc<Master>, shutdown: CancellationToken) {
    // The lease runs out without a metrics change: re-check every heartbeat.
    let mut tick = tokio::time::interval(Duration::from_millis(master.args.heartbeat_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut metrics = master.raft.metrics();
    let mut current: Option<LeaderTerm> = None;
    let mut last_term = 0u64;
    let mut last_leader = None;
    loop {
        let m = metrics.borrow_and_update().clone();

        if m.current_term > last_term {
            if last_term > 0 || m.current_term > 0 {
                master.leadership.note_election();
            }
            last_term = m.current_term;
        }
        if m.current_leader.is_some() && m.current_leader != last_leader {
            master.leadership.note_leader_change();
            tracing::info!(term = m.current_term, leader_id = ?m.current_leader, "leader changed");
        }
        last_leader = m.current_leader;
        master.sync_cluster_identity();

        let now = Instant::now();
        let leading_term = effective_leader_term(&m, master.acting_until(&m, now), now);
        if current.as_ref().map(|t| t.term) != leading_term {
            if let Some(old) = current.take() {
                // Stop acting as leader before anything else happens.
                master.leadership.set_ready(None);
                old.cancel.cancel();
                tracing::warn!(
                    term = old.term,
                    "lost leadership: leader-only tasks stopped"
                );
            }
            if let Some(term) = leading_term {
                let cancel = shutdown.child_token();
                tracing::info!(term, "became leader: starting leader-only tasks");
                tokio::spawn(run_leader_term(master.clone(), term, cancel.clone()));
                current = Some(LeaderTerm { term, cancel });
            }
        }

        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { break },
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
    }
    if let Some(old) = current.take() {
        master.leadership.set_ready(None);
        old.cancel.cancel();
    }
}

/// Everything a leader does during one term. Cancelled on leadership loss.
async fn run_leader_term(master: Arc<Master>, term: u64, cancel: CancellationToken) {
    // A new leader first commits a blank entry of its term; until it is
    // applied, the local registry may miss entries of earlier terms. A
    // leader restored from disk (openraft resumes a committed leader vote)
    // may find no quorum yet: keep trying until one answers or the term
    // ends.
    loop {
        let attempt =
            tokio::time::timeout(Duration::from_secs(2), master.raft.ensure_linearizable());
        let retry = tokio::select! {
            _ = cancel.cancelled() => return,
            result = attempt => match result {
                Ok(Ok(_)) => break,
                Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => return,
                Ok(Err(e)) => {
                    tracing::info!(term, error = %e, "leadership not confirmed by a quorum yet; retrying");
                    Duration::from_millis(200)
                }
                Err(_) => {
                    tracing::warn!(term, "no quorum answered within 2s; retrying");
                    Duration::ZERO
                }
            },
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
    if cancel.is_cancelled() {
        return;
    }
    master.leadership.set_ready(Some(term));
    tracing::info!(term, "leader ready");

    let context = TermContext {
        term,
        registry: master.registry.clone(),
        writer: master.writer(),
        cancel,
    };
    ensure_cluster_id(&context).await;

    // Leader-only services, each with a clone of `context`; each returns
    // when the term ends.
    futures::future::join_all(
        master
            .term_services
            .iter()
            .map(|service| service(context.clone())),
    )
    .await;
    context.cancel.cancelled().await;
}

/// A leader-only service (agent sessions; the allocator and framework
/// timers later): started for each term this master leads, it returns when
/// the term's token is cancelled. The master lists them at start-up, so
/// this module knows none of them.
pub type TermService = Arc<dyn Fn(TermContext) -> BoxFuture<'static, ()> + Send + Sync>;

/// What a leader-only task gets for its term: the term, a reader of the
/// registry, a writer, and the token cancelled when the term ends for this
/// master. Not the whole master: a task sees what it may use.
#[derive(Clone)]
pub struct TermContext {
    pub term: u64,
    pub registry: RegistryHandle,
    pub writer: Writer,
    pub cancel: CancellationToken,
}

/// The first leader of a new group names the cluster. Raft orders racing
/// proposals; the registry keeps the first id and ignores repeats, so a
/// write whose outcome is unknown is simply tried again. (The watch loop
/// copies the id into the transport.)
async fn ensure_cluster_id(context: &TermContext) {
    let term = context.term;
    while !context.registry.read(|r| r.cluster_id().is_some()) {
        let cluster_id = uuid::Uuid::new_v4().to_string();
        let write = context.writer.write(Command::InitCluster {
            cluster_id: cluster_id.clone(),
        });
        let failed = tokio::select! {
            _ = context.cancel.cancelled() => return,
            result = write => match result {
                Ok(result) => {
                    tracing::info!(term, cluster_id = %cluster_id, ?result, "cluster id recorded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(term, error = %e, "could not record the cluster id; retrying");
                    e
                }
            },
        };
        if matches!(
            failed,
            WriteFailure::NotLeader(_) | WriteFailure::Refused(_)
        ) {
            return;
        }
        tokio::select! {
            _ = context.cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
