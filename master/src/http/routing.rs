//! Leader routing and error answers shared by the leader-only endpoints.
//!
//! SPEC section 1/8: a follower answers `307` with
//! `Location: //<leader-host>:<port><same path>`; with no leader known, or a
//! leader still catching up on its own log, `503`.

use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mesoraft_raft::openraft;
use mesoraft_raft::{ClientWriteError, ForwardToLeader, RaftError};
use mesoraft_registry::{Limit, RegistryError};
use openraft::ServerState;

use crate::status::MembershipView;
use crate::Master;

/// An HTTP answer other than success.
#[derive(Debug)]
pub enum ApiError {
    /// 307 to the leader at this address.
    Redirect { leader: String },
    /// 503: no leader, or not ready; retry later.
    Unavailable(String),
    /// 504: a write was not acknowledged in time; it may still be applied.
    OutcomeUnknown(String),
    /// Any other status with a message.
    Status(StatusCode, String),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, msg.into())
    }
}

/// Carries the request path into the redirect.
pub struct Routed<'a> {
    pub error: ApiError,
    pub path: &'a str,
}

impl IntoResponse for Routed<'_> {
    fn into_response(self) -> Response {
        match self.error {
            ApiError::Redirect { leader } => {
                let location = format!("//{leader}{}", self.path);
                let mut resp = (
                    StatusCode::TEMPORARY_REDIRECT,
                    format!("not the leader; the leader is at {leader}\n"),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                resp
            }
            ApiError::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg).into_response(),
            ApiError::OutcomeUnknown(msg) => (StatusCode::GATEWAY_TIMEOUT, msg).into_response(),
            ApiError::Status(code, msg) => (code, msg).into_response(),
        }
    }
}

impl Master {
    /// Ok when this master is the ready leader; otherwise where to go.
    pub fn require_leader(&self) -> Result<u64, ApiError> {
        let m = self.raft.metrics().borrow().clone();
        if m.state == ServerState::Leader {
            let now = Instant::now();
            if crate::leader::effective_leader_term(&m, self.acting_until(&m, now), now).is_none() {
                return Err(ApiError::Unavailable(
                    "this master lost contact with a quorum and no longer acts as leader; retry \
                     another master\n"
                        .into(),
                ));
            }
            return match self.leadership.ready_term() {
                Some(term) if term == m.current_term => Ok(term),
                _ => Err(ApiError::Unavailable(
                    "this master was just elected and is still catching up; retry shortly\n".into(),
                )),
            };
        }
        let membership = MembershipView::from_metrics(&m);
        Err(match m.current_leader {
            Some(id) if id != self.id => match membership.address_of(id) {
                Some(addr) => ApiError::Redirect {
                    leader: addr.to_string(),
                },
                None => ApiError::Unavailable(format!(
                    "leader {id} is not in this master's membership view yet; retry shortly\n"
                )),
            },
            _ => ApiError::Unavailable("no leader is known right now; retry shortly\n".into()),
        })
    }
}

pub fn forward_error(f: &ForwardToLeader) -> ApiError {
    match &f.leader_node {
        Some(node) => ApiError::Redirect {
            leader: node.addr.clone(),
        },
        None => ApiError::Unavailable("leadership changed; no leader known yet; retry\n".into()),
    }
}

/// Maps a failed proposal. openraft answers ForwardToLeader either before
/// appending, or after the entry was truncated by a newer leader: both mean
/// the command will never apply, so a redirect (or 503) is a definite
/// failure the client may retry.
pub fn write_error(e: RaftError<ClientWriteError>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => forward_error(&f),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ApiError::Status(StatusCode::CONFLICT, format!("{e}\n"))
        }
        // The command may have been appended and replicated before the
        // core stopped; a new leader can still commit it.
        RaftError::Fatal(e) => ApiError::OutcomeUnknown(format!(
            "this master's Raft core stopped ({e}); the write may or may not take effect\n"
        )),
    }
}

/// Maps a command the registry refused, before Raft or when applying it:
/// the request was wrong (400), or the command is too large to log at all
/// (413). The message names the rule or limit.
pub fn refused(e: &RegistryError) -> ApiError {
    match e {
        RegistryError::LimitExceeded {
            limit: Limit::Command,
            ..
        } => ApiError::Status(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")),
        _ => ApiError::bad_request(format!("{e}\n")),
    }
}
