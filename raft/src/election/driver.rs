//! The timer around [`super::policy`]: every few ms, read the node's Raft
//! metrics and leader contact, ask the policy, and trigger an election
//! when it says so. openraft's own election timer stays off for the whole
//! life of the node (`enable_elect: false`), so this is the only thing
//! that starts elections (besides the group's `initialize`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::{rank, Decision, ElectionPolicy, ElectionTiming, Observation};
use super::silence::{Reading, SilenceClock};
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

pub use crate::last_seen::NewerLogSeen;

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
    let mut silence_clock = SilenceClock::new(id);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        let allowed = switch.allowed();
        let observation = {
            let m = metrics.borrow();
            let silence = silence_clock.observe(&Reading {
                now,
                allowed,
                vote: m.vote,
                leader_contact: contact.millis_since().map(Duration::from_millis),
                current_leader: m.current_leader,
            });
            let membership = m.membership_config.membership();
            let voters: Vec<NodeId> = membership.voter_ids().collect();
            Observation {
                now,
                allowed,
                voter: voters.contains(&id),
                leader: m.state == ServerState::Leader,
                sole_voter: voters == [id],
                silence,
                rank: rank(id, voters.iter().copied(), silence_clock.last_leader()),
                newer_log_seen: newer_logs.since(),
            }
        };
        if policy.decide(&observation, rand::random::<f64>()) == Decision::Campaign {
            tracing::info!(
                node_id = id,
                silence_ms = observation.silence.as_millis() as u64,
                rank = observation.rank,
                last_leader = ?silence_clock.last_leader(),
                "no leader heard beyond the lease; campaigning"
            );
            if let Err(e) = raft.trigger().elect().await {
                tracing::warn!(node_id = id, error = %e, "could not start an election");
            }
        }
    }
}
