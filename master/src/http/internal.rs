//! The internal launch path: `POST /master/internal/launch` and
//! `/master/internal/kill` send a task (or a kill) to an agent through the
//! leader's task table, without offers. It exists until frameworks launch
//! through the scheduler API, and needs the cluster secret (when the
//! group has one): whoever may launch here runs commands on agents.
//!
//! Bodies are Mesos JSON: `{"framework": FrameworkInfo, "task": TaskInfo}`
//! or, for a task group, `{"framework": FrameworkInfo, "executor":
//! ExecutorInfo (type DEFAULT), "task_group": TaskGroupInfo}`; and
//! `{"framework_id": {"value": ..}, "task_id": {"value": ..}}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mesoraft_proto::agent::{KillTaskRequest, LaunchTaskRequest};
use mesoraft_proto::json::from_json_slice;

use super::body::LimitedBody;
use super::routing::{ApiError, Routed};
use crate::tasks::launch::{KillError, Launch, LaunchError};
use crate::Master;

pub async fn launch(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
        authorize(&master, &headers)?;
        let request: LaunchTaskRequest = from_json_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid launch request: {e}\n")))?;
        let launch = Launch::from_request(request).map_err(launch_refused)?;
        master.require_leader()?;
        let answer = master.hub.launch(launch).await?;
        answer.map_err(launch_refused)
    }
    .await;
    answer(result, uri.path())
}

pub async fn kill(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let result = async {
        authorize(&master, &headers)?;
        let request: KillTaskRequest = from_json_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid kill request: {e}\n")))?;
        master.require_leader()?;
        let answer = master
            .hub
            .kill(request.framework_id.value, request.task_id.value)
            .await?;
        answer.map_err(kill_refused)
    }
    .await;
    answer(result, uri.path())
}

fn answer(result: Result<(), ApiError>, path: &str) -> Response {
    match result {
        // Accepted: the task's fate arrives as status updates.
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => Routed { error, path }.into_response(),
    }
}

fn authorize(master: &Master, headers: &HeaderMap) -> Result<(), ApiError> {
    if master.security.authorizes(headers) {
        return Ok(());
    }
    Err(ApiError::Status(
        StatusCode::UNAUTHORIZED,
        "the internal launch path needs the cluster secret: send the masters' \
         --cluster-secret-file token in the x-mesoraft-auth header\n"
            .into(),
    ))
}

fn launch_refused(e: LaunchError) -> ApiError {
    let code = match e {
        LaunchError::InvalidTask(_)
        | LaunchError::InvalidTaskGroup(_)
        | LaunchError::NoFrameworkId => StatusCode::BAD_REQUEST,
        LaunchError::DuplicateTaskId { .. } => StatusCode::CONFLICT,
        LaunchError::AgentNotRegistered(_) => StatusCode::CONFLICT,
    };
    ApiError::Status(code, format!("{e}\n"))
}

fn kill_refused(e: KillError) -> ApiError {
    let code = match e {
        KillError::UnknownTask { .. } => StatusCode::NOT_FOUND,
        KillError::Ended { .. } => StatusCode::CONFLICT,
    };
    ApiError::Status(code, format!("{e}\n"))
}
