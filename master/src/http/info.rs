//! Endpoints any master answers, leader or not.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::routing::Routed;
use crate::Master;

pub async fn version() -> Json<serde_json::Value> {
    Json(crate::version_json())
}

pub async fn health() -> StatusCode {
    StatusCode::OK
}

/// Mesos's `/master/redirect`: 307 to the leader's base URL.
pub async fn redirect(State(master): State<Arc<Master>>) -> Response {
    match master.require_leader() {
        Ok(_) => {
            // The leader redirects to itself, like Mesos.
            let error = super::ApiError::Redirect {
                leader: master.address.clone(),
            };
            Routed { error, path: "" }.into_response()
        }
        Err(not_leader) => Routed {
            error: not_leader.into(),
            path: "",
        }
        .into_response(),
    }
}

pub fn version_info() -> serde_json::Value {
    json!({ "version_info": crate::version_json() })
}
