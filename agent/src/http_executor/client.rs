//! The executor side of the v1 executor HTTP API: `POST` calls as JSON to
//! `http://<MESOS_AGENT_ENDPOINT>/api/v1/executor`; a SUBSCRIBE answers
//! `200 OK` with a RecordIO stream of JSON events, the other calls
//! `202 Accepted`.

use std::collections::VecDeque;
use std::time::Duration;

use mesoraft_proto::json::{from_json_slice, to_json_string};
use mesoraft_proto::mesos::v1::executor::{Call, Event};

use crate::recordio::Decoder;

pub const APPLICATION_JSON: &str = "application/json";

/// The largest event accepted (a LAUNCH carries a whole TaskInfo).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A non-subscribe call the agent does not answer within this is lost
/// (the update it carried is resent on the next subscription).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    url: String,
}

impl AgentClient {
    pub fn new(url: String) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(AgentClient { http, url })
    }

    /// Opens a subscription: the events the agent sends from now on.
    pub async fn subscribe(&self, call: &Call) -> Result<EventStream, String> {
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, APPLICATION_JSON)
            .header(reqwest::header::ACCEPT, APPLICATION_JSON)
            .body(to_json_string(call))
            .send()
            .await
            .map_err(|e| format!("cannot reach the agent at {}: {e}", self.url))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            return Err(format!(
                "the agent refused the subscription: {status} {body}"
            ));
        }
        Ok(EventStream {
            response,
            decoder: Decoder::new(MAX_EVENT_BYTES),
            ready: VecDeque::new(),
        })
    }

    /// Sends a call that is not a SUBSCRIBE.
    pub async fn send(&self, call: &Call) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .timeout(CALL_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, APPLICATION_JSON)
            .body(to_json_string(call))
            .send()
            .await
            .map_err(|e| format!("cannot reach the agent at {}: {e}", self.url))?;
        let status = response.status();
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(format!("the agent refused the call: {status} {body}"))
    }
}

/// The events of one subscription.
pub struct EventStream {
    response: reqwest::Response,
    decoder: Decoder,
    ready: VecDeque<Event>,
}

impl EventStream {
    /// The next event; `Err` when the stream ended or broke (the agent
    /// went away), or carried something that is not an event.
    pub async fn next(&mut self) -> Result<Event, String> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| format!("the event stream broke: {e}"))?
                .ok_or_else(|| "the agent closed the event stream".to_string())?;
            for record in self.decoder.feed(&chunk).map_err(|e| e.to_string())? {
                let event: Event = from_json_slice(&record)
                    .map_err(|e| format!("the agent sent an event that is not one: {e}"))?;
                self.ready.push_back(event);
            }
        }
    }
}
