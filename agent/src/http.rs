//! The agent's own HTTP endpoints: `/health`, `/state` (its id, the
//! master it is registered with, its info) and Mesos's executor API
//! (`POST /api/v1/executor`, in [`crate::executors::api`]).

use std::sync::{Arc, Mutex};

use axum::extract::State;
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
        .with_state(view)
        .merge(crate::executors::api::routes(runtime));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the agent's HTTP server stopped");
    }
}

async fn state(State(view): State<AgentView>) -> Json<AgentStateDoc> {
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
