//! The live, in-memory state machine and the read handle the master uses.
//!
//! The state machine task is the only writer; the master reads. A std
//! `RwLock` suits that: critical sections are short, in-memory and never
//! span an `.await`.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use mesoraft_registry::Registry;
use tokio::sync::watch;

use crate::{LogId, StoredMembership};

/// The state machine's contents: the registry as of `last_applied`.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppliedState {
    pub registry: Registry,
    pub last_applied: Option<LogId>,
    pub last_membership: StoredMembership,
}

/// Shared between the state machine store and every [`RegistryHandle`].
pub(crate) struct Live {
    state: RwLock<AppliedState>,
    /// Last applied log id, published after each applied batch.
    applied: watch::Sender<Option<LogId>>,
}

impl Live {
    pub fn new(state: AppliedState) -> Self {
        let (applied, _) = watch::channel(state.last_applied);
        Self {
            state: RwLock::new(state),
            applied,
        }
    }

    // Poisoning is tolerated: a panic inside `Registry::apply` stops the Raft
    // core (the node must restart anyway), and readers meanwhile still get
    // the last state rather than a second panic.
    pub fn read(&self) -> RwLockReadGuard<'_, AppliedState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, AppliedState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn publish_applied(&self, last_applied: Option<LogId>) {
        self.applied.send_replace(last_applied);
    }
}

/// See [`RegistryHandle::digest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryDigest {
    pub applied: Option<LogId>,
    pub crc32: u32,
}

/// A cheap, cloneable read handle on the live registry.
///
/// Reads see the registry as of some applied log index; it is not a
/// linearizable read by itself (use `Raft::ensure_linearizable` first when
/// that matters).
#[derive(Clone)]
pub struct RegistryHandle {
    live: Arc<Live>,
}

impl RegistryHandle {
    pub(crate) fn new(live: Arc<Live>) -> Self {
        Self { live }
    }

    /// Runs `f` on the registry under a read lock. Keep `f` short: applying
    /// new entries waits for it.
    pub fn read<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        f(&self.live.read().registry)
    }

    /// Like [`Self::read`], also passing the log id the registry reflects
    /// (both from the same instant).
    pub fn read_with_applied<T>(&self, f: impl FnOnce(&Registry, Option<LogId>) -> T) -> T {
        let st = self.live.read();
        f(&st.registry, st.last_applied)
    }

    /// A fingerprint of the registry (CRC-32 of its snapshot encoding) and
    /// the log id it reflects, taken under one lock: two masters that
    /// applied the same log id must report the same fingerprint, so a
    /// diverged replica shows. Costs a full serialization: on demand only.
    pub fn digest(&self) -> RegistryDigest {
        let st = self.live.read();
        RegistryDigest {
            applied: st.last_applied,
            crc32: crc32fast::hash(&st.registry.to_snapshot_bytes()),
        }
    }

    /// The last log id applied to the registry.
    pub fn last_applied(&self) -> Option<LogId> {
        self.live.read().last_applied
    }

    /// A receiver that changes whenever the applied log id advances (or is
    /// replaced by an installed snapshot).
    pub fn subscribe_applied(&self) -> watch::Receiver<Option<LogId>> {
        self.live.applied.subscribe()
    }

    /// Waits until the entry at `index` (or a later one) is applied and
    /// returns the last applied log id then. Never returns if the node
    /// stops applying: wrap it in a timeout.
    pub async fn wait_applied(&self, index: u64) -> Option<LogId> {
        let mut rx = self.subscribe_applied();
        // The sender lives in `Live`, which this handle keeps alive, so
        // `wait_for` cannot fail on a closed channel.
        rx.wait_for(|applied| applied.is_some_and(|id| id.index >= index))
            .await
            .ok()
            .and_then(|v| *v)
    }
}

impl std::fmt::Debug for RegistryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryHandle")
            .field("last_applied", &self.last_applied())
            .finish_non_exhaustive()
    }
}
