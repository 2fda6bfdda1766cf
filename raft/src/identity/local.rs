//! This master's own identity: its incarnation, created at the first start
//! on an empty work dir, and the run that begins at every start.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::claim::{Claim, Promise, RUN_HISTORY};
use crate::storage::{KvStore, LogStore};
use crate::{NodeId, StorageError};

const RECORD: &str = "identity";

/// As stored beside the Raft state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StoredIdentity {
    node: NodeId,
    incarnation: String,
    run: u64,
    runs: Vec<String>,
}

/// This master's identity for the life of this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalIdentity {
    pub node: NodeId,
    pub incarnation: String,
    pub run: u64,
    pub runs: Vec<String>,
    /// The durable state this run started from.
    pub start: Promise,
    /// The Raft state was empty at start: this incarnation has promised
    /// nothing to anyone yet.
    pub pristine: bool,
}

impl LocalIdentity {
    pub fn claim(&self, durable: Option<Promise>) -> Claim {
        Claim {
            incarnation: self.incarnation.clone(),
            node: self.node,
            run: self.run,
            runs: self.runs.clone(),
            start: self.start,
            durable,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "the Raft state in this work dir has no incarnation record (it was written by an older \
         mesoraft); remove the master from the group, empty its work dir and add it again"
    )]
    NoIdentity,
    #[error(
        "the Raft state in this work dir belongs to master {stored}, not {given}; use that id or \
         another work dir"
    )]
    OtherMaster { stored: NodeId, given: NodeId },
    #[error(transparent)]
    Storage(Box<StorageError>),
}

impl From<StorageError> for IdentityError {
    fn from(e: StorageError) -> Self {
        Self::Storage(Box::new(e))
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the identity record becomes at this start (pure: ids are given).
fn next_identity(
    stored: Option<StoredIdentity>,
    node: NodeId,
    pristine: bool,
    new_incarnation: String,
    new_run_id: String,
) -> Result<StoredIdentity, IdentityError> {
    match stored {
        None if !pristine => Err(IdentityError::NoIdentity),
        None => Ok(StoredIdentity {
            node,
            incarnation: new_incarnation,
            run: 1,
            runs: vec![new_run_id],
        }),
        Some(s) if s.node != node => Err(IdentityError::OtherMaster {
            stored: s.node,
            given: node,
        }),
        Some(mut s) => {
            s.run += 1;
            s.runs.push(new_run_id);
            let excess = s.runs.len().saturating_sub(RUN_HISTORY);
            s.runs.drain(..excess);
            Ok(s)
        }
    }
}

/// Begins a run: creates the incarnation on a pristine store, or counts a
/// new run of the existing one, and makes that durable before anything is
/// sent under it. `has_snapshot`: the state machine holds a snapshot (a
/// store with one is not pristine even if its log is empty).
pub async fn begin_run<K: KvStore>(
    store: &LogStore<K>,
    node: NodeId,
    has_snapshot: bool,
) -> Result<LocalIdentity, IdentityError> {
    let (vote, last) = store.durable_position()?;
    let pristine = vote.is_none() && last.is_none() && !has_snapshot;
    let start = Promise::new(
        vote.map(|v| v.leader_id().get_term()).unwrap_or(0),
        last.map(|l| l.index).unwrap_or(0),
    );
    let stored = store.read_record::<StoredIdentity>(RECORD)?;
    let next = next_identity(stored, node, pristine, random_hex(16), random_hex(8))?;
    store.write_record(RECORD, &next).await?;
    Ok(LocalIdentity {
        node,
        incarnation: next.incarnation,
        run: next.run,
        runs: next.runs,
        start,
        pristine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_an_incarnation_and_restarts_count_runs() {
        let s = next_identity(None, 3, true, "inc".into(), "r1".into()).unwrap();
        assert_eq!((s.run, s.runs.clone()), (1, vec!["r1".to_string()]));
        let mut s = Some(s);
        for i in 2..=12 {
            s = Some(next_identity(s, 3, false, "other".into(), format!("r{i}")).unwrap());
        }
        let s = s.unwrap();
        assert_eq!(s.incarnation, "inc", "a restart keeps the incarnation");
        assert_eq!(s.run, 12);
        assert_eq!(s.runs.len(), RUN_HISTORY);
        assert_eq!(s.runs.last().unwrap(), "r12");
    }

    #[test]
    fn refuses_state_without_identity_and_other_masters_state() {
        assert!(matches!(
            next_identity(None, 1, false, "i".into(), "r".into()),
            Err(IdentityError::NoIdentity)
        ));
        let s = next_identity(None, 1, true, "i".into(), "r".into()).unwrap();
        assert!(matches!(
            next_identity(Some(s), 2, false, "i".into(), "r".into()),
            Err(IdentityError::OtherMaster {
                stored: 1,
                given: 2
            })
        ));
    }
}
