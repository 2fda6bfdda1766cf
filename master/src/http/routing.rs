//! Leader routing and error answers shared by the leader-only endpoints.
//!
//! SPEC section 1/8: a follower answers `307` with
//! `Location: //<leader-host>:<port><same path>`; with no leader known, or a
//! leader still catching up on its own log, `503`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mesoraft_registry::{Limit, RegistryError};

use crate::agent_views::read::ViewUnavailable;
use crate::leader::{NotLeader, WriteFailure};

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

impl From<NotLeader> for ApiError {
    /// 307 to a known leader; anything else is 503 (retry later).
    fn from(n: NotLeader) -> Self {
        match n {
            NotLeader::At(leader) => ApiError::Redirect { leader },
            other => ApiError::Unavailable(format!("{other}\n")),
        }
    }
}

impl From<ViewUnavailable> for ApiError {
    fn from(v: ViewUnavailable) -> Self {
        match v {
            ViewUnavailable::NotLeader(n) => n.into(),
            other => ApiError::Unavailable(format!("{other}\n")),
        }
    }
}

/// The hub answers no call: this master leads but its agent sessions are
/// not open (yet, or any more).
impl From<crate::driver::NotAttached> for ApiError {
    fn from(_: crate::driver::NotAttached) -> Self {
        ViewUnavailable::SessionsNotOpen.into()
    }
}

impl From<WriteFailure> for ApiError {
    fn from(f: WriteFailure) -> Self {
        match f {
            WriteFailure::NotLeader(n) => n.into(),
            WriteFailure::Refused(e) => refused(&e),
            WriteFailure::OutcomeUnknown(why) => ApiError::OutcomeUnknown(format!("{why}\n")),
        }
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
