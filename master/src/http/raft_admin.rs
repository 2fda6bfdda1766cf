//! Raft group administration: `/raft/status` (any master, local view) and
//! membership changes (leader only).

use mesoraft_raft::openraft;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesoraft_raft::{BasicNode, NodeId};
use openraft::ChangeMembers;
use serde::Deserialize;
use serde_json::json;

use super::body::LimitedBody;
use super::routing::{write_error, ApiError, Routed};
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
}

#[derive(Deserialize)]
pub struct RemoveMember {
    id: NodeId,
}

pub async fn add_member(
    State(master): State<Arc<Master>>,
    uri: Uri,
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
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
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
        let req: RemoveMember = serde_json::from_slice(&body)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))?;
        master.require_leader()?;
        remove(&master, req.id).await
    }
    .await;
    routed(result, &uri)
}

/// Learner first, then voter once caught up: a new voter that is far
/// behind would weaken the quorum until it catches up.
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
    let current = master.membership();
    if let Some(addr) = current.nodes.get(&req.id) {
        if *addr != req.address {
            return Err(json_error(
                StatusCode::CONFLICT,
                format!(
                    "master {} is already a member at {addr}; remove it first to move it to {}",
                    req.id, req.address
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

    let node = BasicNode {
        addr: req.address.clone(),
    };
    retry_membership_change(deadline, || {
        master.raft.add_learner(req.id, node.clone(), false)
    })
    .await?;
    tracing::info!(node_id = req.id, address = %req.address, "learner added; waiting for it to catch up");

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
                let error = write_error(e);
                let in_progress = matches!(&error, ApiError::Status(StatusCode::CONFLICT, msg) if msg.contains("in progress") || msg.contains("InProgress"));
                if !in_progress || Instant::now() >= deadline {
                    return Err(error);
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

/// Waits until the leader has replicated its whole log (as of now) to `id`.
async fn wait_caught_up(master: &Master, id: NodeId, deadline: Instant) -> Result<(), ApiError> {
    let mut metrics = master.raft.metrics();
    let target = metrics.borrow().last_log_index.unwrap_or(0);
    loop {
        let matched = {
            let m = metrics.borrow_and_update();
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map(|l| l.index)
        };
        if matched.is_some_and(|i| i >= target) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(json_error(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "master {id} joined as learner but did not catch up in time (replicated \
                     {matched:?} of {target}); it stays a learner: check that it runs with --join \
                     and is reachable, then retry `members add`, or `members remove {id}`"
                ),
            ));
        }
        if tokio::time::timeout(left, metrics.changed())
            .await
            .is_ok_and(|r| r.is_err())
        {
            return Err(ApiError::Unavailable("Raft core stopped\n".into()));
        }
        master.require_leader()?;
    }
}

impl Master {
    pub fn membership(&self) -> MembershipView {
        MembershipView::from_metrics(&self.raft.metrics().borrow())
    }
}
