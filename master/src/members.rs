//! Membership changes of the master group, as the leader runs them:
//! adding a master (learner first, bound to the incarnation answering at
//! its address, promoted once caught up; `replace` gives a slot whose work
//! dir was lost to a new incarnation) and removing one. Answers are domain
//! types ([`ChangeError`]); `http::raft_admin` maps them to status codes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mesoraft_raft::identity::short;
use mesoraft_raft::openraft::{self, ChangeMembers};
use mesoraft_raft::{ClientWriteError, MasterNode, NodeId, RaftError};

use crate::leader::NotLeader;
use crate::replace::{replace_step, ReplaceStep, Slot};
use crate::status::MembershipView;
use crate::Master;

/// An add request, as the operator gave it.
pub struct AddMember {
    pub id: NodeId,
    pub address: String,
    /// How long the whole add may take (learner, binding, catch-up,
    /// promotion).
    pub timeout: Duration,
    /// Remove the slot's current incarnation first (a master that lost or
    /// restored its work dir), then add the master answering at `address`.
    pub replace: bool,
    /// The incarnation the caller saw in the slot when it chose to replace
    /// it: a resent request finds that replace done and changes nothing.
    pub replaces: Option<String>,
}

/// Why a membership change did not (fully) happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request itself is wrong (id 0, a bad address, the last voter).
    #[error("{0}")]
    Invalid(String),
    /// It contradicts the current membership (another address, a healthy
    /// incarnation, an address taken), or openraft refused the change.
    #[error("{0}")]
    Conflict(String),
    /// The master to remove is not a member.
    #[error("{0}")]
    NotAMember(String),
    /// A step did not finish before the deadline; what is done stays done
    /// (e.g. a learner that did not catch up stays a learner).
    #[error("{0}")]
    TimedOut(String),
    /// This master does not lead (any more).
    #[error("{0}")]
    NotLeader(NotLeader),
    /// The Raft core stopped with the change in flight: it may or may not
    /// take effect.
    #[error("{0}")]
    OutcomeUnknown(String),
}

impl ChangeError {
    /// What a failed `change_membership`/`add_learner` means.
    fn from_raft(e: RaftError<ClientWriteError>) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                ChangeError::NotLeader(NotLeader::from_forward(&f))
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ChangeError::Conflict(e.to_string())
            }
            // The change may have been appended and replicated before the
            // core stopped; a new leader can still commit it.
            RaftError::Fatal(e) => ChangeError::OutcomeUnknown(format!(
                "this master's Raft core stopped ({e}); the change may or may not take effect"
            )),
        }
    }
}

/// Learner first, then voter once caught up: a new voter that is far
/// behind would weaken the quorum until it catches up. The learner's slot
/// starts unbound; the leader binds it to the pristine master answering at
/// the address (see `crate::identity`).
pub async fn add(master: &Master, req: AddMember) -> Result<MembershipView, ChangeError> {
    if req.id == 0 {
        return Err(ChangeError::Invalid("master id 0 is reserved".into()));
    }
    crate::config::validate_addr(&req.address).map_err(ChangeError::Invalid)?;
    let deadline = Instant::now() + req.timeout;
    let mut current = master.membership();
    if req.replace {
        let slot = Slot {
            member: current.nodes.contains_key(&req.id),
            voter: current.voters.contains(&req.id),
            address: current.nodes.get(&req.id).map(String::as_str),
            bound: current.incarnations.get(&req.id).map(String::as_str),
            answers_as_bound: answers_as_bound(master, &current, req.id),
        };
        match replace_step(slot, &req.address, req.replaces.as_deref()) {
            ReplaceStep::Add | ReplaceStep::Resume => {}
            ReplaceStep::AlreadyDone => return Ok(current),
            ReplaceStep::RefuseHealthy { bound } => {
                return Err(ChangeError::Conflict(format!(
                    "master {} answers as its member incarnation {}; --replace is for a \
                         master whose work dir was lost or restored. Use `raftctl members \
                         remove {}` to remove a healthy master",
                    req.id,
                    short(&bound),
                    req.id
                )))
            }
            ReplaceStep::RemoveThenAdd => {
                remove(master, req.id).await?;
                tracing::info!(
                    node_id = req.id,
                    "removed the old incarnation; adding the new one"
                );
                current = master.membership();
            }
        }
    }
    if let Some(addr) = current.nodes.get(&req.id) {
        if *addr != req.address {
            return Err(ChangeError::Conflict(format!(
                "master {} is already a member at {addr}; remove it first to move it to {} \
                     (or use --replace)",
                req.id, req.address
            )));
        }
        if let Some(p) = superseded_problem(master, &current, req.id) {
            return Err(ChangeError::Conflict(format!(
                "master {} is a member, but {p}; add it with --replace to give its slot to \
                     the master now answering at {addr}",
                req.id
            )));
        }
        if current.voters.contains(&req.id) {
            return Ok(current);
        }
    } else if let Some((other, _)) = current.nodes.iter().find(|(_, a)| **a == req.address) {
        return Err(ChangeError::Conflict(format!(
            "address {} already belongs to master {other}",
            req.address
        )));
    }

    if !current.nodes.contains_key(&req.id) {
        let node = MasterNode::unbound(req.address.clone());
        retry_membership_change(master, deadline, || {
            master.raft.add_learner(req.id, node.clone(), false)
        })
        .await?;
        tracing::info!(node_id = req.id, address = %req.address,
            "learner added; waiting for it to be bound and to catch up");
    }

    wait_bound(master, req.id, deadline).await?;
    wait_caught_up(master, req.id, deadline).await?;

    let voters = BTreeSet::from([req.id]);
    retry_membership_change(master, deadline, || {
        master
            .raft
            .change_membership(ChangeMembers::AddVoterIds(voters.clone()), false)
    })
    .await?;
    tracing::info!(node_id = req.id, "promoted to voter");
    Ok(master.membership())
}

/// Why the slot's incarnation is not the master answering for it, per the
/// last answer this leader got (None: it answers as itself, or nothing is
/// known).
fn superseded_problem(master: &Master, current: &MembershipView, id: NodeId) -> Option<String> {
    let bound = current.incarnations.get(&id)?;
    let report = master.identity.reports().remove(&id)?;
    let problem = report.problem?;
    let other = report.incarnation.as_deref().is_some_and(|i| i != bound)
        || master.identity.forked(bound).is_some();
    other.then(|| format!("its answers are not counted: {problem}"))
}

/// The slot is bound and its incarnation answers without a problem.
fn answers_as_bound(master: &Master, current: &MembershipView, id: NodeId) -> bool {
    let Some(bound) = current.incarnations.get(&id) else {
        return false;
    };
    master
        .identity
        .reports()
        .get(&id)
        .is_some_and(|r| r.problem.is_none() && r.incarnation.as_deref() == Some(bound.as_str()))
        && master.identity.forked(bound).is_none()
}

/// Waits until the leader has bound the slot to the master answering at
/// its address (binding is a membership change: the metrics show it).
async fn wait_bound(master: &Master, id: NodeId, deadline: Instant) -> Result<(), ChangeError> {
    let bound = wait_metrics(master, deadline, |m| {
        MembershipView::from_metrics(m)
            .incarnations
            .contains_key(&id)
    })
    .await?;
    if bound {
        return Ok(());
    }
    let why = master
        .identity
        .reports()
        .remove(&id)
        .and_then(|r| r.problem)
        .unwrap_or_else(|| "it did not answer".into());
    Err(ChangeError::TimedOut(format!(
        "master {id} joined as learner but its slot was not bound in time ({why}); \
             it must be a master with an empty work dir (started with --join, or \
             wiped): fix it and retry `members add`, or `members remove {id}`"
    )))
}

pub async fn remove(master: &Master, id: NodeId) -> Result<MembershipView, ChangeError> {
    let current = master.membership();
    if !current.nodes.contains_key(&id) {
        return Err(ChangeError::NotAMember(format!(
            "master {id} is not a member (members: {:?})",
            current.nodes.keys().collect::<Vec<_>>()
        )));
    }
    let ids = BTreeSet::from([id]);
    let change = if current.voters.contains(&id) {
        if current.voters.len() == 1 {
            return Err(ChangeError::Invalid(format!(
                "master {id} is the last voter; the group cannot remove it"
            )));
        }
        ChangeMembers::RemoveVoters(ids)
    } else {
        ChangeMembers::RemoveNodes(ids)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    retry_membership_change(master, deadline, || {
        master.raft.change_membership(change.clone(), false)
    })
    .await?;
    if current.voters.contains(&id) {
        // `retain = false` keeps a removed voter as learner in 0.9 only when
        // asked; make sure it is gone from the node list too.
        let leftover = master.membership();
        if leftover.nodes.contains_key(&id) {
            let ids = BTreeSet::from([id]);
            retry_membership_change(master, deadline, || {
                master
                    .raft
                    .change_membership(ChangeMembers::RemoveNodes(ids.clone()), false)
            })
            .await?;
        }
    }
    tracing::info!(node_id = id, "master removed from the group");
    Ok(master.membership())
}

/// openraft answers `InProgress` while a previous change is uncommitted;
/// retry those until the deadline.
async fn retry_membership_change<F, Fut>(
    master: &Master,
    deadline: Instant,
    mut change: F,
) -> Result<(), ChangeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = Result<
            openraft::raft::ClientWriteResponse<mesoraft_raft::TypeConfig>,
            RaftError<ClientWriteError>,
        >,
    >,
{
    let mut metrics = master.raft.metrics();
    loop {
        // Seen before the attempt, so a commit that lands while it is
        // refused still wakes the wait below.
        metrics.borrow_and_update();
        let left = deadline.saturating_duration_since(Instant::now());
        let result = tokio::time::timeout(left, change()).await;
        match result {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => {
                if !is_in_progress(&e) || Instant::now() >= deadline {
                    return Err(ChangeError::from_raft(e));
                }
                // The change in progress commits with a metrics change:
                // retry then, not after a guessed pause.
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = tokio::time::timeout(left, metrics.changed()).await;
            }
            Err(_) => {
                return Err(ChangeError::TimedOut(
                    "membership change not committed before the deadline".into(),
                ))
            }
        }
    }
}

/// A previous membership change is not committed yet: worth retrying.
fn is_in_progress(e: &RaftError<ClientWriteError>) -> bool {
    matches!(
        e,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            openraft::error::ChangeMembershipError::InProgress(_)
        ))
    )
}

/// Waits until the leader has replicated its whole log (as of now) to `id`.
async fn wait_caught_up(master: &Master, id: NodeId, deadline: Instant) -> Result<(), ChangeError> {
    let target = master.raft.metrics().borrow().last_log_index.unwrap_or(0);
    let matched = |m: &mesoraft_raft::RaftMetrics| {
        m.replication
            .as_ref()
            .and_then(|r| r.get(&id).cloned().flatten())
            .map(|l| l.index)
    };
    if wait_metrics(master, deadline, |m| {
        matched(m).is_some_and(|i| i >= target)
    })
    .await?
    {
        return Ok(());
    }
    let matched = matched(&master.raft.metrics().borrow());
    Err(ChangeError::TimedOut(format!(
        "master {id} joined as learner but did not catch up in time (replicated \
             {matched:?} of {target}); it stays a learner: check that it runs with --join \
             and is reachable, then retry `members add`, or `members remove {id}`"
    )))
}

/// Follows the Raft metrics until `done` holds (true) or `deadline`
/// passes (false), while this master stays Raft leader.
async fn wait_metrics(
    master: &Master,
    deadline: Instant,
    mut done: impl FnMut(&mesoraft_raft::RaftMetrics) -> bool,
) -> Result<bool, ChangeError> {
    let mut metrics = master.raft.metrics();
    loop {
        if done(&metrics.borrow_and_update()) {
            return Ok(true);
        }
        still_raft_leader(master)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        if tokio::time::timeout(left, metrics.changed())
            .await
            .is_ok_and(|r| r.is_err())
        {
            return Err(ChangeError::NotLeader(NotLeader::CoreFailed(
                "Raft core stopped".into(),
            )));
        }
    }
}

/// During a long membership wait only losing Raft leadership ends it: a
/// lease that lapses for a moment on a busy machine does not (the change
/// itself goes through Raft), and ending it would make the operator's
/// tool retry a half-done `--replace`.
fn still_raft_leader(master: &Master) -> Result<(), ChangeError> {
    if master.raft.metrics().borrow().state == openraft::ServerState::Leader {
        return Ok(());
    }
    master
        .require_leader()
        .map(|_| ())
        .map_err(ChangeError::NotLeader)
}

impl Master {
    pub fn membership(&self) -> MembershipView {
        MembershipView::from_metrics(&self.raft.metrics().borrow())
    }
}

#[cfg(test)]
mod tests {
    use mesoraft_raft::openraft::error::{ChangeMembershipError, InProgress, LearnerNotFound};
    use mesoraft_raft::{ClientWriteError, RaftError};

    use super::is_in_progress;

    /// A change while another is uncommitted is retried. The error's text
    /// ("already undergoing a configuration change") says neither "in
    /// progress" nor "InProgress", which an earlier check looked for: it
    /// never retried.
    #[test]
    fn only_a_change_in_progress_is_retried() {
        let busy = InProgress {
            committed: None,
            membership_log_id: None,
        };
        let text = busy.to_string();
        assert!(!text.contains("in progress") && !text.contains("InProgress"));
        let busy = RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(busy),
        ));
        assert!(is_in_progress(&busy));
        let missing = RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::LearnerNotFound(LearnerNotFound { node_id: 4 }),
        ));
        assert!(!is_in_progress(&missing));
    }
}
