//! Mesos's v0 read-only endpoints about the cluster: `/master/state`
//! (also `/state`), `/master/slaves`, `/master/frameworks` and
//! `/master/tasks` (also without `/master`). Served by the leader after a
//! quorum confirmed it; other masters redirect (307) or answer 503, like
//! the operator API.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::answer;
use super::routing::{ApiError, Routed};
use crate::agent_views::read::{leader_cluster, leader_view, master_part};
use crate::agent_views::v0;
use crate::framework_views::v0 as framework_v0;
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
        let view = leader_cluster(&master).await?;
        let frameworks = framework_v0::frameworks(&view.frameworks, &view.tasks);
        Ok(answer::document(&v0::state(
            master_part(&master),
            &view.agents,
            frameworks,
        )))
    }
    .await;
    routed(result, &uri)
}

pub async fn frameworks(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    let result = async {
        // Tasks are listed under their frameworks: both from one step.
        let view = leader_cluster(&master).await?;
        Ok(answer::document(&framework_v0::frameworks(
            &view.frameworks,
            &view.tasks,
        )))
    }
    .await;
    routed(result, &uri)
}

pub async fn tasks(
    State(master): State<Arc<Master>>,
    uri: Uri,
    query: Result<Query<framework_v0::TasksQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let Query(query) =
            query.map_err(|e| ApiError::bad_request(format!("invalid query: {e}\n")))?;
        let view = crate::agent_views::read::leader_tasks(&master).await?;
        let doc = framework_v0::tasks(&view, &query)
            .map_err(|e| ApiError::bad_request(format!("{e}\n")))?;
        Ok(answer::document(&doc))
    }
    .await;
    routed(result, &uri)
}
