//! Which life of a master holds a member slot, and how the group notices a
//! master whose durable state went back in time.
//!
//! Raft's safety rests on every voter keeping what it promised: a vote
//! once granted, an entry once acknowledged. A master that lost its work
//! dir (or runs on a restored copy of an old one) breaks that promise while
//! still answering under its old id, so the group must tell such a master
//! apart from the member it was:
//!
//! * **Incarnation** ([`local`]): a random id created at a master's first
//!   start on an empty work dir and kept in its Raft store. The membership
//!   binds each slot to one incarnation ([`crate::MasterNode`]), every Raft
//!   RPC names the incarnation it is meant for, and every answer says which
//!   incarnation gave it. A wiped master is a new incarnation: it refuses
//!   requests meant for the old one and nobody counts its answers. Only the
//!   leader binds a slot, only to a pristine master, and only while the
//!   slot is unbound in its own log; removing and adding the member again
//!   is the one way to give a bound slot to a new incarnation.
//! * **Runs and promises** ([`claim`], [`ledger`]): each start of an
//!   incarnation is a new run (number + random id, the last few ids kept),
//!   and reports the durable state it started from. Every master keeps a
//!   ledger of what it witnessed from the others (their runs, the newest
//!   vote term and log index they vouched for), gossips it with its
//!   requests and persists it. A restored copy shows up as a second process
//!   claiming a run number the group already saw with another id, as a run
//!   that does not descend from the run the group saw, or as a run that
//!   started from a state older than one it had already vouched for. Such
//!   an incarnation is marked forked: nobody counts its votes or
//!   acknowledgements, and it stops taking part once it hears so.
//! * **Standing** ([`standing`]): this master's own view of whether the
//!   group accepts it, shown by `/raft/status` and `raftctl status`.
//!
//! What is and is not detected is written down in ARCHITECTURE.md
//! ("Member identity").

pub mod claim;
pub mod handle;
pub mod ledger;
pub mod local;
pub mod standing;

pub use claim::{Claim, Promise};
pub use handle::{IdentityHandle, PeerReport};
pub use ledger::{Ledger, Record};
pub use local::{begin_run, IdentityError, LocalIdentity};
pub use standing::Standing;

/// The first characters of an incarnation id, for logs and tables.
pub fn short(incarnation: &str) -> &str {
    incarnation.get(..8).unwrap_or(incarnation)
}
