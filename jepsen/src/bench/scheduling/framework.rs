//! A framework speaking the Mesos v1 scheduler HTTP API in JSON, as a
//! third-party scheduler would: SUBSCRIBE opens a RecordIO event stream,
//! read chunk by chunk by a task of its own that stamps every event with
//! the instant it arrived (so a busy caller does not stretch the
//! latencies it measures); calls carry the stream's `Mesos-Stream-Id`.
//!
//! Written from the Mesos documentation, like the test suite's scheduler:
//! the bench must not share the master's parsing to measure it.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The longest RecordIO record accepted (an OFFERS event of every agent
/// of a large cluster stays far below).
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Redirects followed to find the leader.
const MAX_REDIRECTS: usize = 3;

/// An event and when it was read off the stream.
#[derive(Debug)]
pub struct Received {
    pub at: Instant,
    pub event: Value,
}

/// Decodes the RecordIO records complete in `buffer`, leaving the rest;
/// a malformed record is an error (the stream cannot be resynchronized).
pub fn take_records(buffer: &mut Vec<u8>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    loop {
        let Some(newline) = buffer.iter().position(|b| *b == b'\n') else {
            if buffer.len() > 20 {
                return Err("a RecordIO length line longer than 20 bytes".into());
            }
            return Ok(out);
        };
        let len: usize = std::str::from_utf8(&buffer[..newline])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "a RecordIO length that is no number: {:?}",
                    String::from_utf8_lossy(&buffer[..newline])
                )
            })?;
        if len > MAX_RECORD_BYTES {
            return Err(format!(
                "a RecordIO record of {len} bytes (limit {MAX_RECORD_BYTES})"
            ));
        }
        if buffer.len() < newline + 1 + len {
            return Ok(out);
        }
        let record: Vec<u8> = buffer
            .drain(..newline + 1 + len)
            .skip(newline + 1)
            .collect();
        let event = serde_json::from_slice(&record)
            .map_err(|e| format!("an event that is no JSON ({e})"))?;
        out.push(event);
    }
}

/// A framework's info in Mesos JSON: one role, no capabilities that
/// change what the master sends.
pub fn framework_info(name: &str, role: &str) -> Value {
    json!({"user": "root", "name": name, "role": role, "failover_timeout": 0.0})
}

/// A subscribed framework.
pub struct Subscription {
    http: reqwest::Client,
    url: String,
    pub framework_id: String,
    stream_id: String,
    /// Events in stream order; an `Err` ends the stream with why.
    pub events: mpsc::UnboundedReceiver<Result<Received, String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `http://host:port/api/v1/scheduler` from a `Location` header
/// (`//host:port/api/v1/scheduler`, Mesos's form, or a full URL).
fn follow_location(location: &str) -> String {
    if location.starts_with("//") {
        format!("http:{location}")
    } else {
        location.to_string()
    }
}

impl Subscription {
    /// SUBSCRIBEs `info` at the master `addr` (following the leader's
    /// redirects) and waits up to `limit` for SUBSCRIBED.
    pub async fn open(
        http: &reqwest::Client,
        addr: &str,
        info: Value,
        limit: Duration,
    ) -> anyhow::Result<Subscription> {
        let deadline = Instant::now() + limit;
        let mut url = format!("http://{addr}/api/v1/scheduler");
        let call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}});
        let mut redirects = 0;
        let response = loop {
            let response = http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(call.to_string())
                .send()
                .await
                .with_context(|| format!("SUBSCRIBE at {url}"))?;
            let code = response.status().as_u16();
            if code == 200 {
                break response;
            }
            let location = response
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok())
                .map(follow_location);
            match location {
                Some(next) if code == 307 && redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    url = next;
                }
                _ => {
                    let body = response.text().await.unwrap_or_default();
                    bail!("SUBSCRIBE at {url} answered {code}: {}", body.trim());
                }
            }
        };
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("SUBSCRIBE at {url}: no Mesos-Stream-Id header"))?
            .to_string();
        let (tx, mut events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stream(response, tx));
        let first = tokio::time::timeout_at(deadline.into(), events.recv())
            .await
            .map_err(|_| anyhow!("no SUBSCRIBED within {limit:?}"))?
            .ok_or_else(|| anyhow!("the event stream ended before SUBSCRIBED"))?
            .map_err(|why| anyhow!("the event stream failed before SUBSCRIBED: {why}"))?;
        if first.event["type"] != "SUBSCRIBED" {
            bail!("the first event is not SUBSCRIBED: {}", first.event);
        }
        let framework_id = first.event["subscribed"]["framework_id"]["value"]
            .as_str()
            .ok_or_else(|| anyhow!("SUBSCRIBED without a framework id: {}", first.event))?
            .to_string();
        Ok(Subscription {
            http: http.clone(),
            url,
            framework_id,
            stream_id,
            events,
            reader,
        })
    }

    /// A call of this framework on its stream, ready to send.
    pub fn call(&self, mut body: Value) -> Call {
        body["framework_id"] = json!({"value": self.framework_id});
        Call {
            http: self.http.clone(),
            url: self.url.clone(),
            stream_id: self.stream_id.clone(),
            body,
        }
    }
}

/// Reads the stream into `tx` until it ends, fails, or nobody listens.
async fn read_stream(
    mut response: reqwest::Response,
    tx: mpsc::UnboundedSender<Result<Received, String>>,
) {
    let mut buffer = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                let _ = tx.send(Err("the master closed the event stream".into()));
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(format!("the event stream broke: {e}")));
                return;
            }
        };
        let at = Instant::now();
        buffer.extend_from_slice(&chunk);
        match take_records(&mut buffer) {
            Ok(events) => {
                for event in events {
                    if tx.send(Ok(Received { at, event })).is_err() {
                        return;
                    }
                }
            }
            Err(why) => {
                let _ = tx.send(Err(why));
                return;
            }
        }
    }
}

/// One call, sendable from another task.
pub struct Call {
    http: reqwest::Client,
    url: String,
    stream_id: String,
    body: Value,
}

impl Call {
    /// Sends the call; anything but 202 is an error naming the call.
    pub async fn send(self) -> anyhow::Result<()> {
        let kind = self.body["type"].as_str().unwrap_or("?").to_string();
        let response = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &self.stream_id)
            .timeout(Duration::from_secs(30))
            .body(self.body.to_string())
            .send()
            .await
            .with_context(|| format!("{kind} to {}", self.url))?;
        let code = response.status().as_u16();
        if code != 202 {
            let body = response.text().await.unwrap_or_default();
            bail!("{kind} answered {code}: {}", body.trim());
        }
        Ok(())
    }
}

/// A command task in Mesos JSON on `agent_id` (the offer's JSON value).
pub fn task_info(task_id: &str, agent_id: &Value, cpus: f64, mem: f64) -> Value {
    json!({
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": agent_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
        ],
        "command": {"shell": true, "value": "true"},
    })
}

/// ACCEPT of `offer_id` with one LAUNCH operation per task; what the
/// tasks leave of the offer comes back at once (`refuse_seconds` 0).
pub fn accept(offer_id: &Value, tasks: Vec<Value>) -> Value {
    let operations: Vec<Value> = tasks
        .into_iter()
        .map(|t| json!({"type": "LAUNCH", "launch": {"task_infos": [t]}}))
        .collect();
    json!({
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [offer_id],
            "operations": operations,
            "filters": {"refuse_seconds": 0.0}
        }
    })
}

pub fn decline(offer_id: &Value, refuse_seconds: f64) -> Value {
    json!({
        "type": "DECLINE",
        "decline": {"offer_ids": [offer_id], "filters": {"refuse_seconds": refuse_seconds}}
    })
}

/// ACKNOWLEDGE of an UPDATE's status, if it carries a uuid (updates
/// without one need none).
pub fn acknowledge(status: &Value) -> Option<Value> {
    let uuid = status.get("uuid")?;
    Some(json!({
        "type": "ACKNOWLEDGE",
        "acknowledge": {
            "agent_id": status["agent_id"],
            "task_id": status["task_id"],
            "uuid": uuid
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_at_their_lengths_and_bad_ones_are_errors() {
        let a = r#"{"type":"HEARTBEAT"}"#;
        let b = r#"{"type":"OFFERS","offers":{"offers":[]}}"#;
        let mut buffer = format!("{}\n{a}{}\n{}", a.len(), b.len(), &b[..5]).into_bytes();
        let events = take_records(&mut buffer).unwrap();
        assert_eq!(events, [json!({"type": "HEARTBEAT"})]);
        buffer.extend_from_slice(&b.as_bytes()[5..]);
        let events = take_records(&mut buffer).unwrap();
        assert_eq!(events[0]["type"], "OFFERS");
        assert!(buffer.is_empty());
        assert!(take_records(&mut b"x\n{}".to_vec()).is_err());
        assert!(take_records(&mut b"2\n{]".to_vec()).is_err());
        assert!(take_records(&mut b"99999999999\n".to_vec()).is_err());
        assert!(take_records(&mut vec![b'1'; 64]).is_err());
    }

    #[test]
    fn calls_are_mesos_json() {
        let offer = json!({"value": "o1"});
        let agent = json!({"value": "c-S1"});
        let call = accept(&offer, vec![task_info("t1", &agent, 0.01, 1.0)]);
        assert_eq!(call["accept"]["operations"][0]["type"], "LAUNCH");
        let task = &call["accept"]["operations"][0]["launch"]["task_infos"][0];
        assert_eq!(task["agent_id"]["value"], "c-S1");
        assert_eq!(task["resources"][0]["scalar"]["value"], 0.01);
        assert_eq!(
            decline(&offer, 5.0)["decline"]["filters"]["refuse_seconds"],
            5.0
        );
        let status = json!({"task_id": {"value": "t1"}, "agent_id": agent, "uuid": "AAEC"});
        assert_eq!(acknowledge(&status).unwrap()["acknowledge"]["uuid"], "AAEC");
        assert!(acknowledge(&json!({"task_id": {"value": "t1"}})).is_none());
        assert_eq!(
            follow_location("//10.0.0.2:5050/api/v1/scheduler"),
            "http://10.0.0.2:5050/api/v1/scheduler"
        );
    }
}
