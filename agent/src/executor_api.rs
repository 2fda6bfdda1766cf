//! `POST /api/v1/executor`: Mesos's v1 executor HTTP API on the agent's
//! port. This file only maps HTTP to calls and answers to HTTP: the call
//! is read and checked by [`crate::executors::call`], decided by the runtime (the
//! executor table), and answered `202 Accepted`, or `200 OK` with a
//! RecordIO stream of events for SUBSCRIBE (JSON or protobuf, as the
//! `Accept` header allows; a HEARTBEAT event every 30 s keeps it alive).
//! A malformed call is a `400` with the reason; nothing here panics.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use mesoraft_proto::mesos::v1::executor::{event, Event};
use prost::Message;
use tokio::sync::mpsc;

use crate::driver::{AgentHandle, CallReply, Input};
use crate::executors::call::{decode, stream_type, validate, CallError, ContentType, ExecutorCall};
use crate::executors::model::{ExecutorKey, Refusal};
use crate::recordio;

/// The executor API's path.
pub const PATH: &str = "/api/v1/executor";

/// Mesos's `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// The largest call body accepted.
pub const MAX_CALL_BYTES: usize = 16 * 1024 * 1024;

/// The executor API's routes, for the agent's router.
pub fn routes(handle: AgentHandle) -> Router {
    Router::new()
        .route(PATH, post(executor_api))
        .layer(DefaultBodyLimit::max(MAX_CALL_BYTES))
        .with_state(handle)
}

async fn executor_api(
    State(handle): State<AgentHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let call = match decode(header_text(header::CONTENT_TYPE), &body).and_then(validate) {
        Ok(call) => call,
        Err(error) => return call_error(error),
    };
    let stream_as = match &call {
        ExecutorCall::Subscribe { .. } => match stream_type(header_text(header::ACCEPT)) {
            Ok(content_type) => content_type,
            Err(error) => return call_error(error),
        },
        _ => ContentType::Json,
    };
    match handle.call(call).await {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent is shutting down",
        )
            .into_response(),
        Some(Err(refusal)) => refused(refusal),
        Some(Ok(CallReply::Accepted)) => StatusCode::ACCEPTED.into_response(),
        Some(Ok(CallReply::Subscribed {
            executor,
            connection,
            events,
        })) => subscription(handle, executor, connection, events, stream_as),
    }
}

fn call_error(error: CallError) -> Response {
    let status = match error {
        CallError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        CallError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        CallError::Unknown => StatusCode::NOT_IMPLEMENTED,
        CallError::MissingContentType | CallError::Undecodable(_) | CallError::Invalid(_) => {
            StatusCode::BAD_REQUEST
        }
    };
    (status, error.to_string()).into_response()
}

fn refused(refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::UnknownFramework | Refusal::UnknownExecutor => StatusCode::BAD_REQUEST,
        Refusal::NotSubscribed => StatusCode::FORBIDDEN,
    };
    (status, refusal.to_string()).into_response()
}

/// Tells the runtime when the executor's stream ends (the executor hung
/// up, or the runtime closed it).
struct StreamGuard {
    handle: AgentHandle,
    executor: ExecutorKey,
    connection: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.handle.send(Input::StreamClosed {
            executor: self.executor.clone(),
            connection: self.connection,
        });
    }
}

struct StreamState {
    events: mpsc::UnboundedReceiver<Event>,
    heartbeat: tokio::time::Interval,
    content_type: ContentType,
    _guard: StreamGuard,
}

fn subscription(
    handle: AgentHandle,
    executor: ExecutorKey,
    connection: u64,
    events: mpsc::UnboundedReceiver<Event>,
    content_type: ContentType,
) -> Response {
    let start = tokio::time::Instant::now() + HEARTBEAT_INTERVAL;
    let state = StreamState {
        events,
        heartbeat: tokio::time::interval_at(start, HEARTBEAT_INTERVAL),
        content_type,
        _guard: StreamGuard {
            handle,
            executor,
            connection,
        },
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let event = tokio::select! {
            event = state.events.recv() => event?,
            _ = state.heartbeat.tick() => Event {
                r#type: Some(event::Type::Heartbeat as i32),
                ..Default::default()
            },
        };
        let frame = recordio::encode(&encode_event(&event, state.content_type));
        Some((Ok::<_, Infallible>(Bytes::from(frame)), state))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type.media_type())
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn encode_event(event: &Event, content_type: ContentType) -> Vec<u8> {
    match content_type {
        ContentType::Json => mesoraft_proto::json::to_json_string(event).into_bytes(),
        ContentType::Protobuf => event.encode_to_vec(),
    }
}
