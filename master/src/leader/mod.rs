//! Leadership: turning Raft's view into "this master acts as leader now",
//! and the gate every leader-only request passes.
//!
//! * [`term`]: when this master may act as leader of a term (the acting
//!   lease, [`effective_leader_term`]) and the term's readiness.
//! * [`watch`]: follows Raft metrics and runs the leader-term task set,
//!   each task with a [`TermContext`] bound to the term.
//! * [`gate`]: the routing decision for leader-only requests
//!   ([`route`], [`NotLeader`]), registry writes ([`Writer`],
//!   [`WriteFailure`]) and a read's leadership confirmation.
//!
//! Only the leader runs master logic. Services consult the gate on every
//! request, never a cached flag; HTTP and gRPC only map its answers to
//! their status codes.

pub mod gate;
pub mod term;
pub mod watch;

pub use gate::{route, NotLeader, WriteFailure, Writer};
pub use term::{effective_leader_term, Leadership};
pub use watch::{watch_leadership, TermContext, TermService};
