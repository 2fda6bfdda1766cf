//! The agent's own HTTP endpoints: `/health`, `/state` (its id, the
//! master it is registered with, its info), the sandboxes
//! (`/files/browse`, `/files/read`, in [`crate::files`]), the figures
//! (`/metrics/snapshot`, `/metrics`, in [`crate::metrics`]) and Mesos's
//! executor API (`POST /api/v1/executor`, in [`crate::executor_api`]).

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mesoraft_proto::mesos::v1::AgentInfo;

use crate::attributes::format_attribute;
use crate::driver::AgentHandle;
use crate::resources::format_resource;
use crate::session::SessionStatus;

#[derive(Clone)]
pub struct AgentView {
    pub status: Arc<Mutex<SessionStatus>>,
    /// The info the agent started with (its id is in `status`).
    pub info: AgentInfo,
    pub sandboxes: Arc<crate::files::Sandboxes>,
    pub started: std::time::Instant,
}

#[derive(Clone)]
struct HttpState {
    view: AgentView,
    runtime: AgentHandle,
}

/// `GET /state`.
#[derive(Debug, serde::Serialize)]
pub struct AgentStateDoc {
    pub version: &'static str,
    pub id: Option<String>,
    pub hostname: String,
    pub port: i32,
    /// The master the agent is registered with; None while it looks for one.
    pub master: Option<String>,
    pub registered: bool,
    pub registrations: u64,
    pub resources: Vec<String>,
    pub attributes: Vec<String>,
}

pub async fn serve(listener: tokio::net::TcpListener, view: AgentView, runtime: AgentHandle) {
    let app = Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/state", get(state))
        .route("/files/browse", get(browse))
        .route("/files/read", get(read))
        .route("/metrics/snapshot", get(metrics_snapshot))
        .route("/metrics", get(metrics_prometheus))
        .with_state(HttpState {
            view,
            runtime: runtime.clone(),
        })
        .merge(crate::executor_api::routes(runtime));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the agent's HTTP server stopped");
    }
}

#[derive(serde::Deserialize)]
struct FilesQuery {
    path: Option<String>,
    offset: Option<String>,
    length: Option<String>,
}

fn number<T: std::str::FromStr>(
    what: &'static str,
    value: Option<&String>,
) -> Result<Option<T>, crate::files::FilesError> {
    value
        .map(|v| {
            v.parse().map_err(|_| crate::files::FilesError::BadNumber {
                what,
                value: v.clone(),
            })
        })
        .transpose()
}

fn files_error(e: crate::files::FilesError) -> Response {
    use crate::files::FilesError as E;
    let code = match e {
        E::NoPath | E::IsDirectory(_) | E::BadNumber { .. } => StatusCode::BAD_REQUEST,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, format!("{e}\n")).into_response()
}

fn agent_id(view: &AgentView) -> Option<String> {
    view.status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .agent_id
        .clone()
}

async fn browse(State(s): State<HttpState>, Query(q): Query<FilesQuery>) -> Response {
    let Some(path) = q.path else {
        return files_error(crate::files::FilesError::NoPath);
    };
    let id = agent_id(&s.view);
    match s.view.sandboxes.browse(id.as_deref(), &path) {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => files_error(e),
    }
}

async fn read(State(s): State<HttpState>, Query(q): Query<FilesQuery>) -> Response {
    let Some(path) = q.path.clone() else {
        return files_error(crate::files::FilesError::NoPath);
    };
    let numbers = number::<i64>("offset", q.offset.as_ref())
        .and_then(|offset| Ok((offset, number::<u64>("length", q.length.as_ref())?)));
    let (offset, length) = match numbers {
        Ok(n) => n,
        Err(e) => return files_error(e),
    };
    let id = agent_id(&s.view);
    // Mesos reads from the start when no offset is given.
    match s
        .view
        .sandboxes
        .read(id.as_deref(), &path, Some(offset.unwrap_or(0)), length)
    {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => files_error(e),
    }
}

async fn figures(s: &HttpState) -> Vec<crate::metrics::Figure> {
    let tasks = s.runtime.reregistration().await.tasks;
    let registered = s
        .view
        .status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .registered;
    crate::metrics::figures(&crate::metrics::Inputs {
        registered,
        uptime_secs: s.view.started.elapsed().as_secs_f64(),
        resources: &s.view.info.resources,
        tasks: &tasks,
        counters: s.runtime.counters(),
    })
}

async fn metrics_snapshot(State(s): State<HttpState>) -> Response {
    Json(crate::metrics::snapshot(&figures(&s).await)).into_response()
}

async fn metrics_prometheus(State(s): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::prometheus(&figures(&s).await),
    )
        .into_response()
}

async fn state(State(s): State<HttpState>) -> Json<AgentStateDoc> {
    let view = s.view;
    let status = view
        .status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Json(AgentStateDoc {
        version: crate::session::reaction::VERSION,
        id: status.agent_id,
        hostname: view.info.hostname.clone(),
        port: view.info.port.unwrap_or(5051),
        master: status.master,
        registered: status.registered,
        registrations: status.registrations,
        resources: view.info.resources.iter().map(format_resource).collect(),
        attributes: view.info.attributes.iter().map(format_attribute).collect(),
    })
}
