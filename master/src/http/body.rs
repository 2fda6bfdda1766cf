//! Request bodies: bounded, with an answer that names the bound.
//!
//! Every handler that reads a body takes [`LimitedBody`]; the router sets
//! axum's `DefaultBodyLimit` to [`MAX_REQUEST_BODY_BYTES`]. A larger body is
//! answered `413 Payload Too Large` saying the limit, before any of it is
//! parsed.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use super::routing::Routed;
use super::ApiError;

/// Largest request body a master reads. The largest valid operator call
/// (UPDATE_WEIGHTS with the most roles, each with the longest name) is
/// about 300 KiB of JSON.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// A request body of at most [`MAX_REQUEST_BODY_BYTES`].
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = Routed<'static>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(LimitedBody)
            .map_err(|rejection| Routed {
                error: body_error(&rejection),
                path: "",
            })
    }
}

fn body_error(rejection: &BytesRejection) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than the limit of {MAX_REQUEST_BODY_BYTES} bytes\n"
                ),
            )
        }
        other => ApiError::Status(
            other.status(),
            format!("cannot read the request body: {}\n", other.body_text()),
        ),
    }
}
