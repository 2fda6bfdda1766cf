//! Raft group administration over HTTP: `/raft/status` (any master, local
//! view) and membership changes (leader only; the changes themselves are
//! `crate::members`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesoraft_raft::NodeId;
use serde::Deserialize;
use serde_json::json;

use super::body::LimitedBody;
use super::routing::{ApiError, Routed};
use crate::members::{self, ChangeError};
use crate::status::{committed_index, RaftStatus, RegistryDigestView};
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

impl AddMember {
    fn into_domain(self) -> members::AddMember {
        members::AddMember {
            id: self.id,
            address: self.address,
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(120_000)),
            replace: self.replace,
            replaces: self.replaces,
        }
    }
}

/// A failed membership change, as a status code and `{"error": ...}`.
fn change_error(e: ChangeError) -> ApiError {
    let code = match e {
        ChangeError::NotLeader(n) => return n.into(),
        ChangeError::Invalid(_) => StatusCode::BAD_REQUEST,
        ChangeError::Conflict(_) => StatusCode::CONFLICT,
        ChangeError::NotAMember(_) => StatusCode::NOT_FOUND,
        ChangeError::TimedOut(_) | ChangeError::OutcomeUnknown(_) => StatusCode::GATEWAY_TIMEOUT,
    };
    json_error(code, e.to_string())
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

/// The common frame of a membership change: the secret, a well-formed
/// body, this master leading; then `change`, its answer as JSON.
async fn membership_change<Req, F, Fut>(
    master: Arc<Master>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
    change: F,
) -> Response
where
    Req: serde::de::DeserializeOwned,
    F: FnOnce(Arc<Master>, Req) -> Fut,
    Fut: std::future::Future<Output = Result<crate::status::MembershipView, ChangeError>>,
{
    let result = async {
        authorize(&master, &headers)?;
        let req: Req = serde_json::from_slice(&body)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))?;
        master.require_leader()?;
        let view = change(master, req).await.map_err(change_error)?;
        Ok(Json(view).into_response())
    }
    .await;
    routed(result, &uri)
}

pub async fn add_member(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    membership_change(
        master,
        uri,
        headers,
        body,
        |master, req: AddMember| async move { members::add(&master, req.into_domain()).await },
    )
    .await
}

pub async fn remove_member(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    membership_change(
        master,
        uri,
        headers,
        body,
        |master, req: RemoveMember| async move { members::remove(&master, req.id).await },
    )
    .await
}
