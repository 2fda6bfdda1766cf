//! Building openraft `StorageError`s that tell an operator what broke,
//! where, and what to do about it.

use std::fmt::Display;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::{NodeId, StorageError};

/// What an operator can do when this node's own Raft data is unreadable.
/// Its log or snapshot cannot be rebuilt locally; the group still has the
/// data, so the node is re-seeded from the leader.
pub const REPAIR_ADVICE: &str = "restore this master's data directory from a backup, or \
     remove this master from the group (`raftctl members remove <id>`), move its data \
     directory aside, restart it and add it back (`raftctl members add`) so it receives \
     a snapshot from the leader";

/// A `StorageError` about `subject` whose message is `what: cause`.
pub fn storage_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    what: impl Display,
    cause: impl Display,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::error(format!("{what}: {cause}"))).into()
}

/// Like [`storage_err`], for data found corrupt on disk: adds the repair
/// advice.
pub fn corrupt_err(
    subject: ErrorSubject<NodeId>,
    what: impl Display,
    cause: impl Display,
) -> StorageError {
    StorageIOError::new(
        subject,
        ErrorVerb::Read,
        AnyError::error(format!("{what}: {cause}. To repair: {REPAIR_ADVICE}")),
    )
    .into()
}
