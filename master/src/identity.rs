//! The master's side of member identity (the rules are in
//! `mesoraft_raft::identity`):
//!
//! * upkeep: tell the transport what this master vouches for as leader,
//!   persist the witness ledger when it changed, drop records of
//!   incarnations that left the membership;
//! * binding (leader only): give an unbound slot to the pristine master
//!   that answered for it;
//! * standing: when the group shows this master is not the member it
//!   claims to be, say so loudly and stop campaigning.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use mesoraft_raft::identity::{short, Promise, Standing};
use mesoraft_raft::openraft::{ChangeMembers, ServerState};
use mesoraft_raft::storage::LogStore;
use mesoraft_raft::{MasterNode, NodeId, RaftMetrics};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Master;

/// Name of the ledger record beside the Raft state.
pub const LEDGER_RECORD: &str = "ledger";

/// How often the ledger is persisted (when it changed).
const PERSIST_EVERY: Duration = Duration::from_millis(500);

pub fn spawn_tasks(
    master: Arc<Master>,
    records: LogStore,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(upkeep(master.clone(), records, shutdown.clone())),
        tokio::spawn(bind_offered_slots(master.clone(), shutdown.clone())),
        tokio::spawn(follow_standing(master, shutdown)),
    ]
}

/// What this master vouches for: as leader, its term and the last entry
/// it flushed itself (openraft counts the leader's own progress only once
/// the entry is on its disk).
pub fn vouched(m: &RaftMetrics) -> Option<Promise> {
    if m.state != ServerState::Leader {
        return None;
    }
    let own = m.replication.as_ref()?.get(&m.id)?.as_ref()?;
    Some(Promise::new(m.current_term, own.index))
}

/// Incarnations still named by the membership (bound slots).
fn member_incarnations(m: &RaftMetrics) -> BTreeSet<String> {
    m.membership_config
        .membership()
        .nodes()
        .filter_map(|(_, n)| n.incarnation.clone())
        .collect()
}

async fn upkeep(master: Arc<Master>, records: LogStore, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PERSIST_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let m = master.raft.metrics().borrow().clone();
        master.identity.set_durable(vouched(&m));
        let members = member_incarnations(&m);
        if !members.is_empty() {
            master.identity.retain(|inc| members.contains(inc));
        }
        persist(&master, &records).await;
    }
    persist(&master, &records).await;
}

async fn persist(master: &Master, records: &LogStore) {
    if let Some(ledger) = master.identity.take_dirty_ledger() {
        if let Err(e) = records.write_record(LEDGER_RECORD, &ledger).await {
            tracing::warn!(node_id = master.id, error = %e,
                "cannot persist the witness ledger; it is kept in memory and retried");
        }
    }
}

/// The bindings to propose now: offered slots that are still unbound in
/// the membership, at the address they were offered for.
pub fn bindings_due(
    offers: &BTreeMap<NodeId, String>,
    nodes: &BTreeMap<NodeId, MasterNode>,
) -> BTreeMap<NodeId, MasterNode> {
    offers
        .iter()
        .filter_map(|(id, inc)| {
            let node = nodes.get(id)?;
            node.incarnation
                .is_none()
                .then(|| (*id, MasterNode::bound(node.addr.clone(), inc.clone())))
        })
        .collect()
}

async fn bind_offered_slots(master: Arc<Master>, shutdown: CancellationToken) {
    // An offer wakes it at once; the tick catches a leadership gained
    // after the offer arrived.
    let mut recheck = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = master.identity.offered() => {}
            _ = recheck.tick() => {}
        }
        if master.require_leader().is_err() {
            continue;
        }
        let nodes: BTreeMap<NodeId, MasterNode> = master
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        let offers = master.identity.offers();
        for id in offers
            .keys()
            .filter(|id| nodes.get(id).is_none_or(|n| n.incarnation.is_some()))
        {
            master.identity.forget_offer(*id);
        }
        for (id, node) in bindings_due(&offers, &nodes) {
            let change = ChangeMembers::SetNodes(BTreeMap::from([(id, node.clone())]));
            match master.raft.change_membership(change, false).await {
                Ok(_) => {
                    tracing::info!(node_id = id, incarnation = %node.incarnation.as_deref().unwrap_or(""),
                        "bound the member slot to the pristine master that answered for it");
                    master.identity.forget_offer(id);
                }
                // Another change in progress, or leadership lost: next round.
                Err(e) => tracing::debug!(node_id = id, error = %e, "binding deferred"),
            }
        }
    }
}

async fn follow_standing(master: Arc<Master>, shutdown: CancellationToken) {
    let mut standing = master.identity.watch_standing();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = standing.changed() => if changed.is_err() { return },
        }
        let now = standing.borrow_and_update().clone();
        let mine = master.identity.incarnation().to_string();
        match &now {
            Standing::Member => tracing::info!(node_id = master.id, incarnation = %short(&mine),
                "the group addresses this master as its member again"),
            Standing::Superseded { .. } | Standing::Forked { .. } => {
                let why = now
                    .needs_readding(master.id, &mine)
                    .unwrap_or_default()
                    .replace("ADDRESS", &master.address);
                tracing::error!(node_id = master.id, incarnation = %short(&mine),
                    "this master will not vote or acknowledge entries as master {}: {why}", master.id);
                if now.is_forked() {
                    master.elections.forbid();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unbound_slots_are_bound() {
        let nodes = BTreeMap::from([
            (1, MasterNode::bound("a:1", "aa")),
            (2, MasterNode::unbound("b:1")),
        ]);
        let offers = BTreeMap::from([
            (1, "a1".to_string()),
            (2, "bb".to_string()),
            (3, "cc".to_string()),
        ]);
        let due = bindings_due(&offers, &nodes);
        assert_eq!(due, BTreeMap::from([(2, MasterNode::bound("b:1", "bb"))]));
    }
}
