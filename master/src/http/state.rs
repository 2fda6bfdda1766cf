//! Mesos's v0 read-only endpoints about the cluster: `/master/state`
//! (also `/state`) and `/master/slaves` (also `/slaves`). Served by the
//! leader after a quorum confirmed it; other masters redirect (307) or
//! answer 503, like the operator API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::answer;
use super::routing::{ApiError, Routed};
use crate::agent_views::read::{leader_view, master_part};
use crate::agent_views::v0;
use crate::Master;

fn routed(result: Result<Response, ApiError>, uri: &Uri) -> Response {
    result.unwrap_or_else(|error| {
        Routed {
            error,
            path: uri.path(),
        }
        .into_response()
    })
}

pub async fn slaves(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    let result = async {
        let view = leader_view(&master).await?;
        Ok(answer::document(&v0::slaves(&view)))
    }
    .await;
    routed(result, &uri)
}

pub async fn state(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    let result = async {
        let view = leader_view(&master).await?;
        Ok(answer::document(&v0::state(master_part(&master), &view)))
    }
    .await;
    routed(result, &uri)
}
