//! The timer around [`super::policy`]: every few ms, read the node's Raft
//! metrics and leader contact, ask the policy, and trigger an election
//! when it says so. openraft's own election timer stays off for the whole
//! life of the node (`enable_elect: false`), so this is the only thing
//! that starts elections (besides the group's `initialize`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::{rank, Decision, ElectionPolicy, ElectionTiming, Observation};
use crate::network::LeaderContact;
use crate::{NodeId, Raft};
use openraft::ServerState;

/// Whether this node may campaign. Off at start (a restarted master must
/// not campaign before it has had a chance to hear the leader) and for a
/// superseded incarnation.
#[derive(Clone, Debug, Default)]
pub struct ElectionSwitch(Arc<AtomicBool>);

impl ElectionSwitch {
    pub fn allow(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn forbid(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    pub fn allowed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// When a voter last refused this node's vote because the voter's log is
/// newer. Such a node cannot win while that voter is around; campaigning
/// anyway only raises the term again and again and keeps the nodes that
/// could win busy (openraft 0.9 has no pre-vote). Recorded by the
/// transport from vote answers.
pub type NewerLogSeen = crate::last_seen::LastSeen;

/// How often the policy is asked: fine enough that the margin after the
/// lease is what decides when a campaign starts, not the tick.
fn tick_period(timing: &ElectionTiming) -> Duration {
    (timing.margin / 2).clamp(Duration::from_millis(1), Duration::from_millis(10))
}

/// Runs until `shutdown` resolves.
pub async fn run(
    raft: Raft,
    id: NodeId,
    contact: LeaderContact,
    newer_logs: NewerLogSeen,
    switch: ElectionSwitch,
    timing: ElectionTiming,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut policy = ElectionPolicy::new(timing);
    let mut ticks = tokio::time::interval(tick_period(&timing));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let metrics = raft.metrics();
    // Silence counts from when campaigning was allowed if no leader was
    // ever heard.
    let mut allowed_since: Option<Instant> = None;
    // The last leader this node knew, kept after the vote moves on so a
    // failed campaign does not reshuffle the ranks.
    let mut last_leader: Option<NodeId> = None;
    // When this node last granted its vote to another node or adopted
    // another leader's vote: as in Raft, that restarts its wait (the
    // candidate it voted for needs a moment to win and to send its first
    // AppendEntries, which counts as contact only after a log sync).
    let mut vote_seen: Option<(crate::Vote, Instant)> = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        let allowed = switch.allowed();
        if !allowed {
            allowed_since = None;
        } else if allowed_since.is_none() {
            allowed_since = Some(now);
        }
        let observation = {
            let m = metrics.borrow();
            if let Some(l) = m.current_leader {
                last_leader = Some(l);
            }
            let membership = m.membership_config.membership();
            let voters: Vec<NodeId> = membership.voter_ids().collect();
            if vote_seen.as_ref().is_none_or(|(v, _)| *v != m.vote) {
                vote_seen = Some((m.vote, now));
            }
            let since_vote_for_other = vote_seen
                .as_ref()
                .filter(|(v, _)| v.leader_id().voted_for() != Some(id))
                .map(|(_, at)| now - *at);
            let heard = match contact.millis_since() {
                Some(ms) => Duration::from_millis(ms),
                None => allowed_since.map_or(Duration::ZERO, |t| now - t),
            };
            let silence = since_vote_for_other.map_or(heard, |v| v.min(heard));
            Observation {
                now,
                allowed,
                voter: voters.contains(&id),
                leader: m.state == ServerState::Leader,
                sole_voter: voters == [id],
                silence,
                rank: rank(id, voters.iter().copied(), last_leader),
                newer_log_seen: newer_logs.since(),
            }
        };
        if policy.decide(&observation, rand::random::<f64>()) == Decision::Campaign {
            tracing::info!(
                node_id = id,
                silence_ms = observation.silence.as_millis() as u64,
                rank = observation.rank,
                last_leader = ?last_leader,
                "no leader heard beyond the lease; campaigning"
            );
            if let Err(e) = raft.trigger().elect().await {
                tracing::warn!(node_id = id, error = %e, "could not start an election");
            }
        }
    }
}
