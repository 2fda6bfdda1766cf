//! HTTP endpoints (frameworks, operators, tools), served on the same port
//! as the peers' gRPC.

mod body;
mod info;
mod metrics;
mod operator;
mod raft_admin;
mod routing;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::Master;

pub use body::MAX_REQUEST_BODY_BYTES;
pub use routing::ApiError;

pub fn router(master: Arc<Master>) -> Router {
    Router::new()
        .route("/version", get(info::version))
        .route("/health", get(info::health))
        .route("/master/redirect", get(info::redirect))
        .route("/metrics", get(metrics::prometheus))
        .route("/api/v1", post(operator::call))
        .route("/master/api/v1", post(operator::call))
        .route("/raft/status", get(raft_admin::status))
        .route("/raft/members", get(raft_admin::members))
        .route("/raft/members/add", post(raft_admin::add_member))
        .route("/raft/members/remove", post(raft_admin::remove_member))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(master)
}
