//! The identity state shared by the transport (both directions) and the
//! master: this master's claim, its ledger, its standing, and what peers
//! answered.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::claim::{Claim, Promise};
use super::ledger::{judge_own_claim, Ledger, Record};
use super::local::LocalIdentity;
use super::standing::Standing;
use crate::NodeId;

/// The last thing a peer's incarnation check said (kept for status and for
/// `members add --replace`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerReport {
    /// The incarnation that answered, if it said.
    pub incarnation: Option<String>,
    /// Why its answers are not counted; None when they are.
    pub problem: Option<String>,
}

#[derive(Default)]
struct LedgerState {
    ledger: Ledger,
    /// Changed since last persisted.
    dirty: bool,
}

struct Inner {
    local: LocalIdentity,
    durable: Mutex<Option<Promise>>,
    ledger: Mutex<LedgerState>,
    standing: watch::Sender<Standing>,
    /// Pristine masters that answered an unbound slot: id -> incarnation.
    offers: Mutex<BTreeMap<NodeId, String>>,
    offered: Notify,
    reports: Mutex<BTreeMap<NodeId, PeerReport>>,
}

/// Cheap to clone; every clone is the same state.
#[derive(Clone)]
pub struct IdentityHandle(Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IdentityHandle {
    pub fn new(local: LocalIdentity, ledger: Ledger) -> Self {
        Self(Arc::new(Inner {
            local,
            durable: Mutex::new(None),
            ledger: Mutex::new(LedgerState {
                ledger,
                dirty: false,
            }),
            standing: watch::channel(Standing::Member).0,
            offers: Mutex::default(),
            offered: Notify::new(),
            reports: Mutex::default(),
        }))
    }

    pub fn local(&self) -> &LocalIdentity {
        &self.0.local
    }

    pub fn incarnation(&self) -> &str {
        &self.0.local.incarnation
    }

    /// What this master says about itself right now.
    pub fn claim(&self) -> Claim {
        self.0.local.claim(*lock(&self.0.durable))
    }

    /// The durable state this master vouches for (as leader: its term and
    /// last flushed entry).
    pub fn set_durable(&self, durable: Option<Promise>) {
        *lock(&self.0.durable) = durable;
    }

    /// Records a peer's live claim plus what its message proves; Err with
    /// the reason if that incarnation is forked.
    pub fn observe(&self, claim: &Claim, witnessed: Promise) -> Result<(), String> {
        let mut st = lock(&self.0.ledger);
        let (forked, changed) = st.ledger.observe_quick(claim, witnessed);
        st.dirty |= changed;
        match forked {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Why the ledger refuses this incarnation, if it does.
    pub fn forked(&self, incarnation: &str) -> Option<String> {
        lock(&self.0.ledger)
            .ledger
            .forked(incarnation)
            .map(str::to_string)
    }

    /// Merges a peer's gossip, and checks what it says about this master
    /// against this master's own claim.
    pub fn absorb(&self, gossip: &BTreeMap<String, Record>) {
        let me = self.claim();
        {
            let mut st = lock(&self.0.ledger);
            let changed = st.ledger.absorb(gossip, &me.incarnation);
            st.dirty |= changed;
        }
        if let Some(about_me) = gossip.get(&me.incarnation) {
            if let Some(why) = judge_own_claim(about_me, &me) {
                self.set_forked(why);
            }
        }
    }

    /// The records to gossip.
    pub fn gossip(&self) -> BTreeMap<String, Record> {
        lock(&self.0.ledger).ledger.records().clone()
    }

    /// The ledger if it changed since the last call (for persisting it).
    pub fn take_dirty_ledger(&self) -> Option<Ledger> {
        let mut st = lock(&self.0.ledger);
        if !st.dirty {
            return None;
        }
        st.dirty = false;
        Some(st.ledger.clone())
    }

    /// Drops records of incarnations `keep` does not approve.
    pub fn retain(&self, keep: impl FnMut(&str) -> bool) {
        let mut st = lock(&self.0.ledger);
        let changed = st.ledger.retain(keep);
        st.dirty |= changed;
    }

    pub fn standing(&self) -> Standing {
        self.0.standing.borrow().clone()
    }

    pub fn watch_standing(&self) -> watch::Receiver<Standing> {
        self.0.standing.subscribe()
    }

    /// Forked is final for this process.
    pub fn set_forked(&self, reason: String) {
        self.0.standing.send_if_modified(|s| {
            if s.is_forked() {
                return false;
            }
            *s = Standing::Forked { reason };
            true
        });
    }

    pub fn set_superseded(&self, known_as: &str, reported_by: NodeId) {
        self.0.standing.send_if_modified(|s| {
            let next = Standing::Superseded {
                known_as: known_as.to_string(),
                reported_by,
            };
            if s.is_forked()
                || matches!(s, Standing::Superseded { known_as: k, .. } if k == known_as)
            {
                return false;
            }
            *s = next;
            true
        });
    }

    /// A request addressed to this very incarnation arrived: the group
    /// holds the slot for it (again).
    pub fn confirm_member(&self) {
        self.0.standing.send_if_modified(|s| {
            if !matches!(s, Standing::Superseded { .. }) {
                return false;
            }
            *s = Standing::Member;
            true
        });
    }

    /// A pristine master answered for an unbound slot.
    pub fn offer(&self, node: NodeId, incarnation: String) {
        let fresh = lock(&self.0.offers).insert(node, incarnation.clone()) != Some(incarnation);
        if fresh {
            self.0.offered.notify_waiters();
        }
    }

    /// Slots offered so far (the leader binds them).
    pub fn offers(&self) -> BTreeMap<NodeId, String> {
        lock(&self.0.offers).clone()
    }

    pub fn forget_offer(&self, node: NodeId) {
        lock(&self.0.offers).remove(&node);
    }

    /// Resolves at the next new offer.
    pub async fn offered(&self) {
        self.0.offered.notified().await
    }

    /// Keeps a peer's latest report; returns the one it replaces.
    pub fn report(&self, node: NodeId, report: PeerReport) -> Option<PeerReport> {
        let mut reports = lock(&self.0.reports);
        match reports.get(&node) {
            Some(old) if *old == report => Some(report),
            _ => reports.insert(node, report),
        }
    }

    pub fn reports(&self) -> BTreeMap<NodeId, PeerReport> {
        lock(&self.0.reports).clone()
    }
}
