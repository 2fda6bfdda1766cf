//! A fake master for the scheduler's tests: an axum server on a free
//! loopback port that redirects, refuses, or leads. Leading, it answers
//! SUBSCRIBE with a RecordIO stream the test writes events into, records
//! every call with its headers, and checks `Mesos-Stream-Id` as the real
//! master does. Tests wait for what it recorded with a deadline.

#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use mesoraft_client::recordio::frame;
use mesoraft_proto::json::from_json_slice;
use mesoraft_proto::mesos::v1::scheduler::{call, Call};
use tokio::sync::mpsc;

/// How the master answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Lead,
    /// 307 to this `host:port`.
    RedirectTo(String),
    Unavailable,
    /// This status and body for everything.
    Refuse(u16, String),
}

/// One request, as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub call: Call,
    pub stream_id: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub auth: Option<String>,
}

impl Recorded {
    pub fn kind(&self) -> call::Type {
        self.call.r#type()
    }
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    calls: Vec<Recorded>,
    streams: u32,
    /// The open stream's writer and id.
    stream: Option<(mpsc::UnboundedSender<Bytes>, String)>,
}

#[derive(Clone)]
pub struct FakeMaster {
    pub addr: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeMaster {
    pub async fn start(mode: Mode) -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let inner = Arc::new(Mutex::new(Inner {
            mode: Some(mode),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v1/scheduler", post(scheduler))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMaster { addr, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = Some(mode);
    }

    /// Writes one event (JSON) on the open stream, framed.
    pub fn send(&self, json: &str) {
        let inner = self.lock();
        let (tx, _) = inner.stream.as_ref().expect("no open stream to send on");
        tx.send(Bytes::from(frame(json.as_bytes()))).unwrap();
    }

    /// Writes raw bytes on the open stream (to split records anywhere).
    pub fn send_raw(&self, bytes: &[u8]) {
        let inner = self.lock();
        let (tx, _) = inner.stream.as_ref().expect("no open stream to send on");
        tx.send(Bytes::copy_from_slice(bytes)).unwrap();
    }

    /// Ends the open stream (the response body ends).
    pub fn cut_stream(&self) {
        self.lock().stream = None;
    }

    pub fn stream_id(&self) -> Option<String> {
        self.lock().stream.as_ref().map(|(_, id)| id.clone())
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.lock().calls.clone()
    }

    pub fn calls_of(&self, kind: call::Type) -> Vec<Recorded> {
        self.calls()
            .into_iter()
            .filter(|c| c.kind() == kind)
            .collect()
    }

    /// Waits until `count` calls of `kind` arrived; returns them.
    pub async fn wait_calls(&self, kind: call::Type, count: usize) -> Vec<Recorded> {
        wait_for(
            &format!("{count} {kind:?} call(s) at {}", self.addr),
            || {
                let calls = self.calls_of(kind);
                (calls.len() >= count).then_some(calls)
            },
        )
        .await
    }
}

/// Polls `probe` until it yields, failing the test after 10 s.
pub async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn scheduler(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mode = inner.lock().unwrap().mode.clone().unwrap();
    match mode {
        Mode::RedirectTo(to) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [("Location", format!("//{to}/api/v1/scheduler"))],
            )
                .into_response()
        }
        Mode::Unavailable => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Refuse(code, text) => {
            return (StatusCode::from_u16(code).unwrap(), text).into_response()
        }
        Mode::Lead => {}
    }
    let call: Call = match from_json_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let recorded = Recorded {
        call: call.clone(),
        stream_id: header(&headers, "mesos-stream-id"),
        content_type: header(&headers, "content-type"),
        accept: header(&headers, "accept"),
        auth: header(&headers, mesoraft_proto::auth::AUTH_HEADER),
    };
    let mut inner = inner.lock().unwrap();
    inner.calls.push(recorded.clone());
    if call.r#type() != call::Type::Subscribe {
        let current = inner.stream.as_ref().map(|(_, id)| id.clone());
        if recorded.stream_id.is_none() || recorded.stream_id != current {
            return (StatusCode::BAD_REQUEST, "wrong or missing Mesos-Stream-Id").into_response();
        }
        return StatusCode::ACCEPTED.into_response();
    }
    inner.streams += 1;
    let id = format!("stream-{}", inner.streams);
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    inner.stream = Some((tx, id.clone()));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [
            ("Mesos-Stream-Id", id),
            ("Content-Type", "application/json".into()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

pub fn subscribed(framework_id: &str, heartbeat_seconds: f64) -> String {
    format!(
        r#"{{"type":"SUBSCRIBED","subscribed":{{"framework_id":{{"value":"{framework_id}"}},"heartbeat_interval_seconds":{heartbeat_seconds}}}}}"#
    )
}

pub fn offer(offer_id: &str, agent_id: &str) -> String {
    format!(
        r#"{{"type":"OFFERS","offers":{{"offers":[{{"id":{{"value":"{offer_id}"}},"framework_id":{{"value":"f1"}},"agent_id":{{"value":"{agent_id}"}},"hostname":"h","resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":2}}}},{{"name":"mem","type":"SCALAR","scalar":{{"value":512}}}}]}}]}}}}"#
    )
}

/// An UPDATE; `uuid` base64 (None: a reconciliation answer).
pub fn update(task: &str, agent: &str, state: &str, uuid: Option<&str>) -> String {
    let uuid = uuid
        .map(|u| format!(r#","uuid":"{u}""#))
        .unwrap_or_default();
    format!(
        r#"{{"type":"UPDATE","update":{{"status":{{"task_id":{{"value":"{task}"}},"agent_id":{{"value":"{agent}"}},"state":"{state}"{uuid}}}}}}}"#
    )
}
