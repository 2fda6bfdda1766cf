//! The leader gate: whether this master may serve a leader-only request
//! now, and if not, where the caller should go. Also the two leader-only
//! operations every service needs: a registry write and a linearizable
//! read's confirmation.
//!
//! The answers are domain types ([`NotLeader`], [`WriteFailure`]); HTTP maps
//! them to 307/503/504, the agents' and frameworks' services to their own
//! status codes. The decision itself is [`route`], a pure function of the
//! Raft metrics, tested without a cluster.

use std::fmt;
use std::time::{Duration, Instant};

use mesoraft_raft::openraft::ServerState;
use mesoraft_raft::proposer::{Proposer, WriteError};
use mesoraft_raft::{CheckIsLeaderError, ForwardToLeader, NodeId, RaftError, RaftMetrics};
use mesoraft_registry::{Command, CommandResult, RegistryError};

use crate::status::MembershipView;
use crate::Master;

/// Why this master cannot serve a leader-only request now.
#[derive(Clone, Debug, PartialEq)]
pub enum NotLeader {
    /// Another master leads, at this address; the caller should go there.
    At(String),
    /// Raft names a leader this master's membership view has no address
    /// for yet (it joined moments ago).
    LeaderNotInView(NodeId),
    /// No leader is known (an election is under way, or this master is cut
    /// off).
    Unknown,
    /// This master leads but has not applied every entry of earlier terms:
    /// its registry may still miss writes.
    CatchingUp,
    /// This master is Raft leader but no quorum accepted its AppendEntries
    /// within the acting lease: another leader may already be elected.
    LostQuorum,
    /// A quorum did not confirm the leadership in time (a read's check).
    Unconfirmed {
        /// Masters that did answer, when a round completed.
        answered: Option<Vec<NodeId>>,
        within: Duration,
    },
    /// The Raft core stopped or failed the check.
    CoreFailed(String),
}

impl NotLeader {
    /// What openraft's "forward to leader" says, in these terms.
    pub fn from_forward(f: &ForwardToLeader) -> Self {
        match &f.leader_node {
            Some(node) => NotLeader::At(node.addr.clone()),
            None => NotLeader::Unknown,
        }
    }
}

impl fmt::Display for NotLeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotLeader::At(address) => write!(f, "not the leader; the leader is at {address}"),
            NotLeader::LeaderNotInView(id) => write!(
                f,
                "leader {id} is not in this master's membership view yet; retry shortly"
            ),
            NotLeader::Unknown => write!(f, "no leader is known right now; retry shortly"),
            NotLeader::CatchingUp => write!(
                f,
                "this master was just elected and is still catching up; retry shortly"
            ),
            NotLeader::LostQuorum => write!(
                f,
                "this master lost contact with a quorum and no longer acts as leader; retry \
                 another master"
            ),
            NotLeader::Unconfirmed {
                answered: Some(answered),
                ..
            } => write!(
                f,
                "leadership not confirmed: only masters {answered:?} answered, no quorum; retry \
                 shortly"
            ),
            NotLeader::Unconfirmed {
                answered: None,
                within,
            } => write!(
                f,
                "no quorum confirmed this master's leadership within {} ms",
                within.as_millis()
            ),
            NotLeader::CoreFailed(why) => write!(f, "cannot confirm leadership: {why}"),
        }
    }
}

/// Why a registry write has no result.
#[derive(Clone, Debug)]
pub enum WriteFailure {
    /// Certainly not applied: this master does not lead.
    NotLeader(NotLeader),
    /// Certainly not applied: the command breaks a registry rule or limit.
    Refused(RegistryError),
    /// Handed to Raft and not acknowledged: it may or may not take effect.
    /// A client must read before it retries.
    OutcomeUnknown(String),
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteFailure::NotLeader(n) => n.fmt(f),
            WriteFailure::Refused(e) => e.fmt(f),
            WriteFailure::OutcomeUnknown(why) => f.write_str(why),
        }
    }
}

impl From<NotLeader> for WriteFailure {
    fn from(n: NotLeader) -> Self {
        WriteFailure::NotLeader(n)
    }
}

/// The routing decision: `Ok(term)` when this master may serve leader-only
/// requests of `term`, else where to go. `acting_term` is
/// [`super::effective_leader_term`] at the moment of use; `ready_term` the
/// term whose earlier entries this master has applied; `address_of` the
/// membership view's address of a master.
pub fn route(
    m: &RaftMetrics,
    own_id: NodeId,
    acting_term: Option<u64>,
    ready_term: Option<u64>,
    address_of: impl Fn(NodeId) -> Option<String>,
) -> Result<u64, NotLeader> {
    if m.state == ServerState::Leader {
        if acting_term.is_none() {
            return Err(NotLeader::LostQuorum);
        }
        return match ready_term {
            Some(term) if term == m.current_term => Ok(term),
            _ => Err(NotLeader::CatchingUp),
        };
    }
    match m.current_leader {
        Some(id) if id != own_id => match address_of(id) {
            Some(address) => Err(NotLeader::At(address)),
            None => Err(NotLeader::LeaderNotInView(id)),
        },
        _ => Err(NotLeader::Unknown),
    }
}

/// Registry writes of a leader: through the proposer (concurrent writes
/// share log entries), bounded by the write timeout. Cheap to clone, so
/// leader-term tasks hold one instead of the whole master.
#[derive(Clone)]
pub struct Writer {
    proposer: Proposer,
    timeout: Duration,
}

impl Writer {
    pub fn new(proposer: Proposer, timeout: Duration) -> Self {
        Self { proposer, timeout }
    }

    /// Proposes `command` and waits (bounded) for its result. `Ok(Err(_))`
    /// is a command the registry refused when applying it: committed, with
    /// no effect.
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteFailure> {
        match tokio::time::timeout(self.timeout, self.proposer.write(command)).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(WriteError::NotLeader(f))) => {
                Err(WriteFailure::NotLeader(NotLeader::from_forward(&f)))
            }
            Ok(Err(WriteError::Refused(e))) => Err(WriteFailure::Refused(e)),
            Ok(Err(WriteError::OutcomeUnknown(why))) => Err(WriteFailure::OutcomeUnknown(why)),
            Err(_) => Err(WriteFailure::OutcomeUnknown(format!(
                "the write was not acknowledged within {} ms; it may or may not take effect",
                self.timeout.as_millis()
            ))),
        }
    }
}

impl Master {
    /// [`route`] for this master, now.
    pub fn require_leader(&self) -> Result<u64, NotLeader> {
        let m = self.raft.metrics().borrow().clone();
        let now = Instant::now();
        let acting = super::effective_leader_term(&m, self.acting_until(&m, now), now);
        let view = MembershipView::from_metrics(&m);
        route(&m, self.id, acting, self.leadership.ready_term(), |id| {
            view.address_of(id).map(str::to_string)
        })
    }

    /// Proposes a registry command as leader (see [`Writer::write`]).
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteFailure> {
        self.writer().write(command).await
    }

    /// A writer for leader-term tasks.
    pub fn writer(&self) -> Writer {
        Writer::new(self.proposer.clone(), self.args.write_timeout())
    }

    /// Confirms with a quorum that this node still leads and has applied
    /// everything committed, so a local read is linearizable.
    ///
    /// openraft gives each confirmation round one heartbeat interval; on a
    /// loaded machine a round can miss that while the quorum is fine, so a
    /// round without a quorum is retried for as long as this master still
    /// acts as leader. The acting lease ends that within the election
    /// timeout when the quorum is really gone, so a cut-off leader still
    /// answers quickly.
    pub async fn confirm_leadership(&self) -> Result<(), NotLeader> {
        let timeout = self.args.write_timeout();
        let deadline = Instant::now() + timeout;
        let pause = Duration::from_millis(self.args.heartbeat_interval_ms.max(1));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let no_quorum = match tokio::time::timeout(left, self.raft.ensure_linearizable()).await
            {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                    return Err(NotLeader::from_forward(&f))
                }
                Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)))) => q,
                Ok(Err(e)) => return Err(NotLeader::CoreFailed(e.to_string())),
                Err(_) => {
                    return Err(NotLeader::Unconfirmed {
                        answered: None,
                        within: timeout,
                    })
                }
            };
            self.require_leader()?;
            if Instant::now() + pause >= deadline {
                return Err(NotLeader::Unconfirmed {
                    answered: Some(no_quorum.got.iter().copied().collect()),
                    within: timeout,
                });
            }
            tracing::debug!(answered = ?no_quorum.got, "leadership round without quorum; retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_raft::openraft::RaftMetrics as Metrics;

    fn metrics(state: ServerState, leader: Option<NodeId>) -> RaftMetrics {
        let mut m = Metrics::new_initial(1);
        m.state = state;
        m.current_term = 7;
        m.current_leader = leader;
        m
    }

    fn known(id: NodeId) -> Option<String> {
        (id == 2).then(|| "h2:5050".to_string())
    }

    #[test]
    fn a_ready_acting_leader_serves_its_term() {
        let m = metrics(ServerState::Leader, Some(1));
        assert_eq!(route(&m, 1, Some(7), Some(7), known), Ok(7));
    }

    #[test]
    fn a_leader_without_lease_or_not_ready_does_not_serve() {
        let m = metrics(ServerState::Leader, Some(1));
        assert_eq!(
            route(&m, 1, None, Some(7), known),
            Err(NotLeader::LostQuorum)
        );
        assert_eq!(
            route(&m, 1, Some(7), None, known),
            Err(NotLeader::CatchingUp)
        );
        // Ready in an earlier term is not ready in this one.
        assert_eq!(
            route(&m, 1, Some(7), Some(6), known),
            Err(NotLeader::CatchingUp)
        );
    }

    #[test]
    fn a_follower_points_at_the_leader_it_can_address() {
        let m = metrics(ServerState::Follower, Some(2));
        assert_eq!(
            route(&m, 1, None, None, known),
            Err(NotLeader::At("h2:5050".into()))
        );
        let m = metrics(ServerState::Follower, Some(3));
        assert_eq!(
            route(&m, 1, None, None, known),
            Err(NotLeader::LeaderNotInView(3))
        );
    }

    #[test]
    fn without_a_leader_or_naming_itself_while_not_leading_nobody_is_known() {
        for m in [
            metrics(ServerState::Follower, None),
            metrics(ServerState::Candidate, None),
            // Metrics that name this master as leader while it no longer
            // leads (a step-down in progress).
            metrics(ServerState::Follower, Some(1)),
        ] {
            assert_eq!(route(&m, 1, None, None, known), Err(NotLeader::Unknown));
        }
    }
}
