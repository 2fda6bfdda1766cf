//! HTTP to the masters: the one POST every exchange is, the headers the
//! API wants, and how an answer to a call is classified.
//!
//! Redirects are followed by hand (the client never follows them): the
//! masters' `Location` is scheme-relative, the POST must be sent again
//! with its body, and the scheduler must learn where the leader is.

use std::time::Duration;

use mesoraft_ctl::client::host_port;
use mesoraft_ctl::security::ClientSecurity;
use mesoraft_proto::json::to_json_string;
use mesoraft_proto::mesos::v1::scheduler::Call;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};

use crate::config::Timeouts;
use crate::error::{CallError, ConfigError};

/// The scheduler API's path on every master.
pub const API_PATH: &str = "/api/v1/scheduler";
/// The header naming the SUBSCRIBE stream a call belongs to.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";
/// Error bodies are read this far (they are messages, not documents).
const MAX_ERROR_BODY: usize = 64 << 10;

/// Where calls go while subscribed: the leader that answered SUBSCRIBE,
/// and the stream it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `host:port` of the leader.
    pub master: String,
    pub url: Url,
    pub stream_id: String,
    pub framework_id: mesoraft_proto::mesos::v1::FrameworkId,
}

/// Why no answer came.
#[derive(Debug)]
pub enum SendError {
    /// No connection was made: the request was not delivered.
    Connect(String),
    /// After connecting (timeout, reset): it may have been delivered.
    Other(String),
}

pub struct Transport {
    http: reqwest::Client,
    security: ClientSecurity,
    pub timeouts: Timeouts,
}

impl Transport {
    pub fn new(security: ClientSecurity, timeouts: Timeouts) -> Result<Self, ConfigError> {
        let http = security
            .http_builder(timeouts.connect)
            .user_agent(concat!("mesoraft-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Transport {
            http,
            security,
            timeouts,
        })
    }

    /// The scheduler API's URL on `addr`.
    pub fn url(&self, addr: &str) -> Result<Url, String> {
        Url::parse(&format!("{}://{addr}{API_PATH}", self.security.scheme()))
            .map_err(|e| format!("bad master address {addr:?}: {e}"))
    }

    pub fn scheme(&self) -> &'static str {
        self.security.scheme()
    }

    /// POSTs `call` as JSON. `timeout` bounds the whole exchange; None
    /// leaves the body unbounded (the event stream), the caller bounding
    /// the wait for the headers.
    pub async fn post(
        &self,
        url: Url,
        call: &Call,
        stream_id: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, SendError> {
        let mut req = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(to_json_string(call));
        if let Some(id) = stream_id {
            req = req.header(STREAM_ID_HEADER, id);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let req = self.security.authorize(req);
        req.send().await.map_err(|e| {
            if e.is_connect() {
                SendError::Connect(describe(&e))
            } else {
                SendError::Other(describe(&e))
            }
        })
    }

    /// Sends a call on `session`, stamped with its framework id; Ok on
    /// any 2xx (202 normally).
    pub async fn call(&self, session: &Session, mut call: Call) -> Result<(), CallError> {
        call.framework_id = Some(session.framework_id.clone());
        let master = session.master.clone();
        let answer = self
            .post(
                session.url.clone(),
                &call,
                Some(&session.stream_id),
                Some(self.timeouts.request),
            )
            .await;
        let resp = match answer {
            Ok(r) => r,
            Err(SendError::Connect(reason)) => return Err(CallError::NotSent { master, reason }),
            Err(SendError::Other(reason)) => return Err(CallError::MaybeSent { master, reason }),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let location = location(&resp);
        let body = error_text(resp).await;
        Err(classify_refusal(master, status, location, body))
    }
}

/// A non-2xx answer to a call, as a [`CallError`].
pub fn classify_refusal(
    master: String,
    status: StatusCode,
    location: Option<String>,
    body: String,
) -> CallError {
    if status.is_redirection() {
        let detail = match location {
            Some(l) => format!("redirected to {l}"),
            None => format!("HTTP {}", status.as_u16()),
        };
        return CallError::NotLeader { master, detail };
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let detail = if body.is_empty() {
            "HTTP 503: no leader".to_string()
        } else {
            format!("HTTP 503: {body}")
        };
        return CallError::NotLeader { master, detail };
    }
    if status.is_client_error() {
        return CallError::Refused {
            master,
            status: status.as_u16(),
            body,
        };
    }
    // A 5xx: the master may have started on it (504: a write whose outcome
    // it does not know).
    CallError::MaybeSent {
        master,
        reason: format!("HTTP {}: {body}", status.as_u16()),
    }
}

/// The `Location` header, if readable.
pub fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An error answer's message, bounded (JSON `{"error": ...}` or text).
pub async fn error_text(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    mesoraft_ctl::wire::error_message(&body)
}

/// `host:port` of `url`, for messages and the master list.
pub fn addr_of(url: &Url) -> String {
    host_port(url)
}

/// A short reason: the innermost cause ("connection refused"), not
/// reqwest's chain repeating the URL.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".to_string();
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(src) = inner.source() {
        inner = src;
    }
    let msg = inner.to_string();
    match msg.find(" (os error") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, location: Option<&str>, body: &str) -> CallError {
        classify_refusal(
            "m:1".into(),
            StatusCode::from_u16(status).unwrap(),
            location.map(str::to_string),
            body.into(),
        )
    }

    #[test]
    fn answers_are_classified_by_what_the_master_did() {
        let e = refusal(307, Some("//n:2/api/v1/scheduler"), "");
        assert!(matches!(e, CallError::NotLeader { .. }), "{e}");
        assert!(e.certainly_not_acted_on());
        assert!(matches!(
            refusal(503, None, ""),
            CallError::NotLeader { .. }
        ));
        let e = refusal(400, None, "Failed to validate: bad task");
        assert_eq!(
            e.to_string(),
            "m:1 refused the call with HTTP 400: Failed to validate: bad task"
        );
        assert!(e.certainly_not_acted_on());
        let e = refusal(504, None, "timed out");
        assert!(matches!(e, CallError::MaybeSent { .. }));
        assert!(!e.certainly_not_acted_on());
    }
}
