//! HTTP endpoints (frameworks, operators, tools), served on the same port
//! as the peers' gRPC.

mod answer;
mod body;
mod info;
mod internal;
mod metrics;
mod operator;
mod operator_stream;
mod raft_admin;
mod routing;
mod scheduler;
mod state;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;

use crate::Master;

pub use body::MAX_REQUEST_BODY_BYTES;
pub use routing::ApiError;

/// The endpoints [`router`] serves, as a 404 lists them.
const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/version"),
    ("GET", "/health"),
    ("GET", "/master/redirect"),
    ("GET", "/metrics"),
    ("GET", "/metrics/snapshot"),
    ("GET", "/master/state"),
    ("GET", "/state"),
    ("GET", "/master/slaves"),
    ("GET", "/slaves"),
    ("GET", "/master/frameworks"),
    ("GET", "/frameworks"),
    ("GET", "/master/tasks"),
    ("GET", "/tasks"),
    ("POST", "/api/v1"),
    ("POST", "/master/api/v1"),
    ("POST", "/api/v1/scheduler"),
    ("POST", "/master/api/v1/scheduler"),
    ("GET", "/raft/status"),
    ("GET", "/raft/members"),
    ("POST", "/raft/members/add"),
    ("POST", "/raft/members/remove"),
    ("POST", "/master/internal/launch"),
    ("POST", "/master/internal/kill"),
];

/// The HTTP endpoints. A path not among them is a 404 naming them; a known
/// path with another method, axum's 405 (with `Allow`).
pub fn router(master: Arc<Master>) -> Router {
    Router::new()
        .route("/version", get(info::version))
        .route("/health", get(info::health))
        .route("/master/redirect", get(info::redirect))
        .route("/metrics", get(metrics::prometheus))
        .route("/metrics/snapshot", get(metrics::snapshot))
        .route("/master/state", get(state::state))
        .route("/state", get(state::state))
        .route("/master/slaves", get(state::slaves))
        .route("/slaves", get(state::slaves))
        .route("/master/frameworks", get(state::frameworks))
        .route("/frameworks", get(state::frameworks))
        .route("/master/tasks", get(state::tasks))
        .route("/tasks", get(state::tasks))
        .route("/api/v1", post(operator::call))
        .route("/master/api/v1", post(operator::call))
        .route("/api/v1/scheduler", post(scheduler::call))
        .route("/master/api/v1/scheduler", post(scheduler::call))
        .route("/raft/status", get(raft_admin::status))
        .route("/raft/members", get(raft_admin::members))
        .route("/raft/members/add", post(raft_admin::add_member))
        .route("/raft/members/remove", post(raft_admin::remove_member))
        .route("/master/internal/launch", post(internal::launch))
        .route("/master/internal/kill", post(internal::kill))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(master)
}

async fn not_found(method: Method, uri: Uri) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, not_found_text(&method, uri.path()))
}

fn not_found_text(method: &Method, path: &str) -> String {
    let endpoints: Vec<String> = ENDPOINTS
        .iter()
        .map(|(method, path)| format!("  {method} {path}"))
        .collect();
    format!(
        "no endpoint {method} {path} on this master; it serves:\n{}\n",
        endpoints.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_404_names_the_request_and_every_endpoint() {
        let text = not_found_text(&Method::POST, "/api/v1/nothing");
        assert!(text.contains("POST /api/v1/nothing"), "{text}");
        for (method, path) in ENDPOINTS {
            assert!(text.contains(&format!("{method} {path}\n")), "{text}");
        }
    }
}
