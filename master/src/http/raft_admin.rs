//! Raft group administration: `/raft/status` (any master, local view) and
//! membership changes (leader only).

use mesoraft_raft::openraft;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesoraft_raft::identity::short;
use mesoraft_raft::{MasterNode, NodeId};
use openraft::ChangeMembers;
use serde::Deserialize;
use serde_json::json;

use super::body::LimitedBody;
use super::routing::{write_error, ApiError, Routed};
use crate::replace::{replace_step, ReplaceStep, Slot};
use crate::status::{committed_index, MembershipView, RaftStatus, RegistryDigestView};
use crate::Master;

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    /// Add the registry fingerprint (costs a serialization of the registry).
    #[serde(default)]
    digest: bool,
}

pub async fn status(
    State(master): State<Arc<Master>>,
    Query(query): Query<StatusQuery>,
) -> Json<RaftStatus> {
    let committed = committed_index(&master.raft).await;
    let mut status = RaftStatus::collect(&master, committed);
    if query.digest {
        status.registry_digest = Some(RegistryDigestView::of(&master));
    }
    Json(status)
}

fn routed(result: Result<Response, ApiError>, uri: &Uri) -> Response {
    result.unwrap_or_else(|error| {
        Routed {
            error,
            path: uri.path(),
        }
        .into_response()
    })
}

fn json_error(code: StatusCode, msg: String) -> ApiError {
    ApiError::Status(code, json!({ "error": msg }).to_string())
}

pub async fn members(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    let result = async {
        master.require_leader()?;
        master.confirm_leadership().await?;
        Ok(Json(master.membership()).into_response())
    }
    .await;
    routed(result, &uri)
}

#[derive(Deserialize)]
pub struct AddMember {
    id: NodeId,
    address: String,
    timeout_ms: Option<u64>,
    /// Remove the slot's current incarnation first (a master that lost or
    /// restored its work dir), then add the master answering at `address`.
    #[serde(default)]
    replace: bool,
    /// The incarnation the caller saw in the slot when it chose to replace
    /// it: a resent request finds that replace done and changes nothing.
    #[serde(default)]
    replaces: Option<String>,
}

#[derive(Deserialize)]
pub struct RemoveMember {
    id: NodeId,
}

/// Membership changes need the cluster secret (when the group has one).
fn authorize(master: &Master, headers: &HeaderMap) -> Result<(), ApiError> {
    if master.security.authorizes(headers) {
        return Ok(());
    }
    Err(json_error(
        StatusCode::UNAUTHORIZED,
        "membership changes need the cluster secret: run raftctl with the masters' \
         --cluster-secret-file"
            .into(),
    ))
}

pub async fn add_member(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
        authorize(&master, &headers)?;
        let req: AddMember = serde_json::from_slice(&body)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))?;
        master.require_leader()?;
        add(&master, req).await
    }
    .await;
    routed(result, &uri)
}

pub async fn remove_member(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
        authorize(&master, &headers)?;
        let req: RemoveMember = serde_json::from_slice(&body)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))?;
        master.require_leader()?;
        remove(&master, req.id).await
    }
    .await;
    routed(result, &uri)
}

/// Learner first, then voter once caught up: a new voter that is far
/// behind would weaken the quorum until it catches up. The learner's slot
/// starts unbound; the leader binds it to the pristine master answering at
/// the address (see `crate::identity`).
async fn add(master: &Master, req: AddMember) -> Result<Response, ApiError> {
    if req.id == 0 {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "master id 0 is reserved".into(),
        ));
    }
    crate::config::validate_addr(&req.address)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, e))?;
    let deadline = Instant::now() + Duration::from_millis(req.timeout_ms.unwrap_or(120_000));
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
            ReplaceStep::AlreadyDone => return Ok(Json(current).into_response()),
            ReplaceStep::RefuseHealthy { bound } => {
                return Err(json_error(
                    StatusCode::CONFLICT,
                    format!(
                        "master {} answers as its member incarnation {}; --replace is for a \
                         master whose work dir was lost or restored. Use `raftctl members \
                         remove {}` to remove a healthy master",
                        req.id,
                        short(&bound),
                        req.id
                    ),
                ))
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
            return Err(json_error(
                StatusCode::CONFLICT,
                format!(
                    "master {} is already a member at {addr}; remove it first to move it to {} \
                     (or use --replace)",
                    req.id, req.address
                ),
            ));
        }
        if let Some(p) = superseded_problem(master, &current, req.id) {
            return Err(json_error(
                StatusCode::CONFLICT,
                format!(
                    "master {} is a member, but {p}; add it with --replace to give its slot to \
                     the master now answering at {addr}",
                    req.id
                ),
            ));
        }
        if current.voters.contains(&req.id) {
            return Ok(Json(current).into_response());
        }
    } else if let Some((other, _)) = current.nodes.iter().find(|(_, a)| **a == req.address) {
        return Err(json_error(
            StatusCode::CONFLICT,
            format!("address {} already belongs to master {other}", req.address),
        ));
    }

    if !current.nodes.contains_key(&req.id) {
        let node = MasterNode::unbound(req.address.clone());
        retry_membership_change(deadline, || {
            master.raft.add_learner(req.id, node.clone(), false)
        })
        .await?;
        tracing::info!(node_id = req.id, address = %req.address,
            "learner added; waiting for it to be bound and to catch up");
    }

    wait_bound(master, req.id, deadline).await?;
    wait_caught_up(master, req.id, deadline).await?;

    let voters = BTreeSet::from([req.id]);
    retry_membership_change(deadline, || {
        master
            .raft
            .change_membership(ChangeMembers::AddVoterIds(voters.clone()), false)
    })
    .await?;
    tracing::info!(node_id = req.id, "promoted to voter");
    Ok(Json(master.membership()).into_response())
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
async fn wait_bound(master: &Master, id: NodeId, deadline: Instant) -> Result<(), ApiError> {
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
    Err(json_error(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "master {id} joined as learner but its slot was not bound in time ({why}); \
             it must be a master with an empty work dir (started with --join, or \
             wiped): fix it and retry `members add`, or `members remove {id}`"
        ),
    ))
}

async fn remove(master: &Master, id: NodeId) -> Result<Response, ApiError> {
    let current = master.membership();
    if !current.nodes.contains_key(&id) {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            format!(
                "master {id} is not a member (members: {:?})",
                current.nodes.keys().collect::<Vec<_>>()
            ),
        ));
    }
    let ids = BTreeSet::from([id]);
    let change = if current.voters.contains(&id) {
        if current.voters.len() == 1 {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                format!("master {id} is the last voter; the group cannot remove it"),
            ));
        }
        ChangeMembers::RemoveVoters(ids)
    } else {
        ChangeMembers::RemoveNodes(ids)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    retry_membership_change(deadline, || {
        master.raft.change_membership(change.clone(), false)
    })
    .await?;
    if current.voters.contains(&id) {
        // `retain = false` keeps a removed voter as learner in 0.9 only when
        // asked; make sure it is gone from the node list too.
        let leftover = master.membership();
        if leftover.nodes.contains_key(&id) {
            let ids = BTreeSet::from([id]);
            retry_membership_change(deadline, || {
                master
                    .raft
                    .change_membership(ChangeMembers::RemoveNodes(ids.clone()), false)
            })
            .await?;
        }
    }
    tracing::info!(node_id = id, "master removed from the group");
    Ok(Json(master.membership()).into_response())
}

/// openraft answers `InProgress` while a previous change is uncommitted;
/// retry those until the deadline.
async fn retry_membership_change<F, Fut>(deadline: Instant, mut change: F) -> Result<(), ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = Result<
            openraft::raft::ClientWriteResponse<mesoraft_raft::TypeConfig>,
            mesoraft_raft::RaftError<mesoraft_raft::ClientWriteError>,
        >,
    >,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = tokio::time::timeout(left, change()).await;
        match result {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => {
                if !is_in_progress(&e) || Instant::now() >= deadline {
                    return Err(write_error(e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => {
                return Err(json_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "membership change not committed before the deadline".into(),
                ))
            }
        }
    }
}

/// A previous membership change is not committed yet: worth retrying.
fn is_in_progress(e: &mesoraft_raft::RaftError<mesoraft_raft::ClientWriteError>) -> bool {
    matches!(
        e,
        mesoraft_raft::RaftError::APIError(mesoraft_raft::ClientWriteError::ChangeMembershipError(
            openraft::error::ChangeMembershipError::InProgress(_)
        ))
    )
}

/// Waits until the leader has replicated its whole log (as of now) to `id`.
async fn wait_caught_up(master: &Master, id: NodeId, deadline: Instant) -> Result<(), ApiError> {
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
    Err(json_error(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "master {id} joined as learner but did not catch up in time (replicated \
             {matched:?} of {target}); it stays a learner: check that it runs with --join \
             and is reachable, then retry `members add`, or `members remove {id}`"
        ),
    ))
}

/// Follows the Raft metrics until `done` holds (true) or `deadline`
/// passes (false), while this master stays Raft leader.
async fn wait_metrics(
    master: &Master,
    deadline: Instant,
    mut done: impl FnMut(&mesoraft_raft::RaftMetrics) -> bool,
) -> Result<bool, ApiError> {
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
            return Err(ApiError::Unavailable("Raft core stopped\n".into()));
        }
    }
}

/// During a long membership wait only losing Raft leadership ends it: a
/// lease that lapses for a moment on a busy machine does not (the change
/// itself goes through Raft), and ending it would make the operator's
/// tool retry a half-done `--replace`.
fn still_raft_leader(master: &Master) -> Result<(), ApiError> {
    if master.raft.metrics().borrow().state == openraft::ServerState::Leader {
        return Ok(());
    }
    master.require_leader().map(|_| ())
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
