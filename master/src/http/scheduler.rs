//! `POST /api/v1/scheduler` (and `/master/api/v1/scheduler`): the Mesos v1
//! scheduler API (SPEC 8). This file only maps HTTP to the domain and
//! back: routing to the leader, media types, the `Mesos-Stream-Id`
//! header, the RecordIO stream of a SUBSCRIBE; the calls themselves are
//! read by `scheduler::call` and carried out by the leader's driver.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use mesoraft_proto::mesos::v1::scheduler::Event;
use tokio::sync::mpsc;

use super::body::LimitedBody;
use super::routing::{ApiError, Routed};
use crate::driver::{CallRefusal, Subscription};
use crate::frameworks::StreamId;
use crate::scheduler::call::{self, CallError, Format, SchedulerCall};
use crate::Master;

/// The header naming a framework's stream.
pub const STREAM_ID_HEADER: &str = "mesos-stream-id";
/// Events that may wait for a framework that reads slowly before its
/// stream is closed (it re-subscribes; offers come back, updates are
/// resent by the agents). A framework that launches 10,000 tasks at once
/// gets two updates each in a burst: 4,096 closed such a stream (and, with
/// no failover timeout, removed the framework), measured with
/// `jepsen bench scheduling`. At a few hundred bytes an event, a stuck
/// framework holds at most some tens of MiB before it is cut off.
const STREAM_QUEUE: usize = 65_536;

pub async fn call(
    State(master): State<Arc<Master>>,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    match handle(&master, &headers, &body).await {
        Ok(response) => response,
        Err(error) => Routed {
            error,
            path: uri.path(),
        }
        .into_response(),
    }
}

async fn handle(
    master: &Arc<Master>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    master.require_leader()?;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let request_format = call::request_format(text(header::CONTENT_TYPE)).map_err(call_error)?;
    let response_format = call::response_format(text(header::ACCEPT)).map_err(call_error)?;
    let valid = call::decode(body, request_format)
        .and_then(call::validate)
        .map_err(call_error)?;
    let stream_id = headers
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match valid.call {
        SchedulerCall::Subscribe {
            info,
            suppressed_roles,
        } => {
            if stream_id.is_some() {
                return Err(ApiError::bad_request(
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header\n",
                ));
            }
            subscribe(master, info, suppressed_roles, response_format).await
        }
        other => {
            let Some(stream_id) = stream_id else {
                return Err(ApiError::bad_request(
                    "All non-subscribe calls should include the 'Mesos-Stream-Id' header\n",
                ));
            };
            let framework_id = valid.framework_id.unwrap_or_default();
            master
                .hub
                .call(framework_id, stream_id, other)
                .await?
                .map_err(refusal)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

async fn subscribe(
    master: &Arc<Master>,
    info: mesoraft_proto::mesos::v1::FrameworkInfo,
    suppressed_roles: Vec<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let (events, receiver) = mpsc::channel(STREAM_QUEUE);
    let stream = master.hub.new_stream_id();
    let opened = master
        .hub
        .subscribe(Subscription {
            stream,
            info,
            suppressed_roles,
            master_info: master.master_info(),
            events,
        })
        .await?;
    let body = EventStream {
        receiver,
        format,
        stream,
        master: master.clone(),
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&opened.stream_id) {
        headers.insert(STREAM_ID_HEADER, value);
    }
    Ok(response)
}

fn call_error(error: CallError) -> ApiError {
    match error {
        CallError::UnsupportedMediaType(m) => {
            ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, m)
        }
        CallError::NotAcceptable(m) => ApiError::Status(StatusCode::NOT_ACCEPTABLE, m),
        CallError::Invalid(m) => ApiError::bad_request(m),
    }
}

fn refusal(refusal: CallRefusal) -> ApiError {
    let status = match refusal {
        CallRefusal::NotSubscribed(_) => StatusCode::FORBIDDEN,
        CallRefusal::WrongStream(_) | CallRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    let mut message = refusal.to_string();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    ApiError::Status(status, message)
}

/// A subscription's response body: the driver's events as RecordIO
/// records. Dropped when the framework goes away (or the driver ends the
/// stream); the driver is then told, which starts the failover timer.
struct EventStream {
    receiver: mpsc::Receiver<Event>,
    format: Format,
    stream: StreamId,
    master: Arc<Master>,
}

impl Stream for EventStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let format = self.format;
        self.receiver.poll_recv(cx).map(|event| {
            event.map(|e| Ok(Bytes::from(crate::scheduler::events::record(&e, format))))
        })
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.master.hub.stream_ended(self.stream);
    }
}
