//! The operator API, `POST /api/v1` (Mesos `mesos.v1.master.Call` in JSON).
//!
//! Bodies follow Mesos's shapes: a `type` plus the lower-case field of that
//! type, e.g. `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":
//! [{"role":"web","weight":2.0}]}}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesoraft_proto::json::from_json;
use mesoraft_proto::mesos::v1::master::Call as MesosCall;
use mesoraft_proto::mesos::v1::WeightInfo;
use mesoraft_registry::Command;
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer;
use super::body::LimitedBody;
use super::routing::{refused, ApiError, Routed};
use crate::agent_views::{
    read::{leader_cluster, leader_frameworks, leader_tasks, leader_view},
    v1,
};
use crate::agents::table::MarkGoneAnswer;
use crate::framework_views;
use crate::Master;

/// Response header of a GET_MASTER answered by the leader: the Raft term
/// it leads.
pub const LEADER_TERM_HEADER: &str = "mesoraft-leader-term";

#[derive(Deserialize)]
struct Call {
    #[serde(rename = "type")]
    kind: String,
    update_weights: Option<UpdateWeightsBody>,
}

#[derive(Deserialize)]
struct UpdateWeightsBody {
    weight_infos: Vec<WeightInfoJson>,
}

#[derive(Deserialize)]
struct WeightInfoJson {
    role: Option<String>,
    weight: NumberOrString,
}

/// Mesos JSON clients send numbers either way.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(f64),
    Text(String),
}

impl NumberOrString {
    fn to_f64(&self) -> Result<f64, String> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("weight {t:?} is not a number")),
        }
    }
}

pub async fn call(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    match handle(&master, &headers, &body).await {
        Ok(resp) => resp,
        Err(error) => Routed {
            error,
            path: uri.path(),
        }
        .into_response(),
    }
}

async fn handle(master: &Master, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    check_content_negotiation(headers)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed operator call: {e}\n")))?;
    let call: Call = serde_json::from_value(value.clone())
        .map_err(|e| ApiError::bad_request(format!("malformed operator call: {e}\n")))?;
    match call.kind.as_str() {
        // Answered by any master, as Mesos does.
        "GET_HEALTH" => Ok(json_answer(json!({
            "type": "GET_HEALTH", "get_health": { "healthy": true }
        }))),
        "GET_VERSION" => Ok(json_answer(json!({
            "type": "GET_VERSION", "get_version": super::info::version_info()
        }))),
        "GET_MASTER" => {
            let term = master.require_leader()?;
            let mut answer = json_answer(
                json!({ "type": "GET_MASTER", "get_master": master.get_master_json() }),
            );
            // Outside the Mesos body, which clients parse strictly: lets a
            // checker order leader answers by term.
            answer
                .headers_mut()
                .insert(LEADER_TERM_HEADER, HeaderValue::from(term));
            Ok(answer)
        }
        "GET_WEIGHTS" => get_weights(master).await,
        "GET_AGENTS" => {
            let view = leader_view(master).await?;
            Ok(answer::proto(&v1::get_agents(&view)))
        }
        "GET_TASKS" => {
            let view = leader_tasks(master).await?;
            Ok(answer::proto(&crate::tasks::render::get_tasks(&view)))
        }
        "GET_FRAMEWORKS" => {
            let view = leader_frameworks(master).await?;
            Ok(answer::proto(&framework_views::v1::get_frameworks(&view)))
        }
        "GET_STATE" => {
            let view = leader_cluster(master).await?;
            Ok(answer::proto(&framework_views::v1::get_state(&view)))
        }
        "SUBSCRIBE" => super::operator_stream::subscribe(master).await,
        "MARK_AGENT_GONE" => mark_agent_gone(master, &value).await,
        "UPDATE_WEIGHTS" => {
            let body = call.update_weights.ok_or_else(|| {
                ApiError::bad_request("UPDATE_WEIGHTS needs an update_weights object\n")
            })?;
            update_weights(master, body).await
        }
        other => Err(ApiError::bad_request(format!(
            "unsupported operator call type {other:?}; supported: GET_HEALTH, GET_VERSION, \
             GET_MASTER, GET_WEIGHTS, UPDATE_WEIGHTS, GET_AGENTS, GET_TASKS, GET_FRAMEWORKS, \
             GET_STATE, SUBSCRIBE, MARK_AGENT_GONE\n"
        ))),
    }
}

/// 415 for bodies that are not JSON, 406 when the client accepts no JSON.
fn check_content_negotiation(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "operator calls must be sent as Content-Type: application/json (got {content_type:?})\n"
            ),
        ));
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let ok = accept.split(',').any(|item| {
            let media = item.split(';').next().unwrap_or("").trim();
            matches!(media, "application/json" | "application/*" | "*/*" | "")
        });
        if !ok {
            return Err(ApiError::Status(
                StatusCode::NOT_ACCEPTABLE,
                format!("answers are application/json, which Accept: {accept:?} excludes\n"),
            ));
        }
    }
    Ok(())
}

fn json_answer(value: Value) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

async fn get_weights(master: &Master) -> Result<Response, ApiError> {
    if !master.args.debug_unsafe_stale_reads {
        master.require_leader()?;
        master.confirm_leadership().await?;
    }
    let weight_infos: Vec<Value> = master.registry.read(|r| {
        r.weights()
            .iter()
            .map(|(role, weight)| json!({ "weight": weight, "role": role }))
            .collect()
    });
    Ok(json_answer(json!({
        "type": "GET_WEIGHTS",
        "get_weights": { "weight_infos": weight_infos }
    })))
}

async fn update_weights(master: &Master, body: UpdateWeightsBody) -> Result<Response, ApiError> {
    let mut weights = Vec::with_capacity(body.weight_infos.len());
    for info in body.weight_infos {
        let weight = info
            .weight
            .to_f64()
            .map_err(|e| ApiError::bad_request(e + "\n"))?;
        weights.push(WeightInfo {
            weight,
            role: info.role,
        });
    }
    if weights.is_empty() {
        return Err(ApiError::bad_request(
            "UPDATE_WEIGHTS lists no weight_infos\n",
        ));
    }
    master.require_leader()?;
    let result = master.write(Command::UpdateWeights { weights }).await?;
    match result {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(e) => Err(refused(&e)),
    }
}

/// MARK_AGENT_GONE, read by Mesos's rules (the agent id is required), and
/// the session table's answer as a status code.
async fn mark_agent_gone(master: &Master, call: &Value) -> Result<Response, ApiError> {
    let call: MesosCall = from_json(call)
        .map_err(|e| ApiError::bad_request(format!("invalid MARK_AGENT_GONE call: {e}\n")))?;
    let agent_id = call
        .mark_agent_gone
        .ok_or_else(|| ApiError::bad_request("MARK_AGENT_GONE needs a mark_agent_gone object\n"))?
        .agent_id
        .value;
    master.require_leader()?;
    let answer = master.hub.mark_gone(agent_id.clone()).await?;
    match answer {
        MarkGoneAnswer::Done | MarkGoneAnswer::AlreadyGone => Ok(StatusCode::OK.into_response()),
        MarkGoneAnswer::Unknown => Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            format!("no agent {agent_id:?} is admitted, unreachable or gone\n"),
        )),
        MarkGoneAnswer::Busy => Err(ApiError::Unavailable(format!(
            "another change to agent {agent_id:?} is being written; retry shortly\n"
        ))),
        MarkGoneAnswer::OutcomeUnknown => Err(ApiError::OutcomeUnknown(format!(
            "marking agent {agent_id:?} gone was not acknowledged in time; it may or may not \
             take effect: read GET_AGENTS before retrying\n"
        ))),
    }
}
