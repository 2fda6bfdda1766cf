//! Test support: a scheduler speaking the Mesos v1 scheduler HTTP API as a
//! third-party framework would (JSON over `POST /api/v1/scheduler`, the
//! RecordIO event stream read chunk by chunk), written from the Mesos
//! documentation rather than from the master's code.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::records::EventStream;
use super::{wait_for, Cluster};

/// The answer of a call.
pub struct Answer {
    pub code: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A subscribed scheduler: its stream is read by a task into `events`.
pub struct TestScheduler {
    pub http: reqwest::Client,
    pub url: String,
    pub framework_id: String,
    pub stream_id: String,
    events: EventStream,
}

/// A framework's info in Mesos JSON.
pub fn framework_info(name: &str, partition_aware: bool) -> Value {
    let capabilities = if partition_aware {
        json!([{"type": "PARTITION_AWARE"}])
    } else {
        json!([])
    };
    json!({"user": "root", "name": name, "checkpoint": true, "capabilities": capabilities})
}

impl TestScheduler {
    /// SUBSCRIBEs `info` at the master `addr` (the leader) and waits for
    /// SUBSCRIBED. A `503` is retried until `limit`, as Mesos's scheduler
    /// library does: a master that has just been elected answers it until
    /// it has taken over the agents' sessions.
    pub async fn subscribe(c: &Cluster, addr: &str, info: Value, limit: Duration) -> TestScheduler {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = c.url(addr, "/api/v1/scheduler");
        let mut call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}});
        if let Some(id) = info.get("id") {
            call["framework_id"] = id.clone();
        }
        let response = wait_for("SUBSCRIBE answered other than 503", limit, || async {
            let response = http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(call.to_string())
                .send()
                .await
                .expect("the master answers SUBSCRIBE");
            (response.status().as_u16() != 503).then_some(response)
        })
        .await;
        let code = response.status().as_u16();
        assert_eq!(code, 200, "SUBSCRIBE answered {code}");
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .expect("Mesos-Stream-Id header")
            .to_string();
        let mut scheduler = TestScheduler {
            http,
            url,
            framework_id: String::new(),
            stream_id,
            events: EventStream::read("scheduler", response),
        };
        let subscribed = scheduler.next_event("SUBSCRIBED", limit).await;
        scheduler.framework_id = subscribed["subscribed"]["framework_id"]["value"]
            .as_str()
            .expect("framework id in SUBSCRIBED")
            .to_string();
        scheduler
    }

    /// The next event of type `kind` (earlier events of other types are
    /// kept for later); panics after `limit`.
    pub async fn next_event(&mut self, kind: &str, limit: Duration) -> Value {
        self.next_matching(kind, limit, |_| true).await
    }

    /// The next event of type `kind` that `pred` accepts.
    pub async fn next_matching(
        &mut self,
        kind: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.events.next_matching(kind, limit, pred).await
    }

    /// Whether an event of `kind` arrives within `within`.
    pub async fn sees(&mut self, kind: &str, within: Duration) -> bool {
        self.events.sees(kind, within).await
    }

    /// Whether the event stream has ended (the master closed it).
    pub async fn stream_ends(&mut self, within: Duration) -> bool {
        self.events.ends(within).await
    }

    /// Sends a call of this framework on its stream.
    pub async fn call(&self, mut body: Value) -> Answer {
        body["framework_id"] = json!({"value": self.framework_id});
        self.call_raw(&body, Some(&self.stream_id)).await
    }

    /// Sends `body` as is, with `stream_id` as Mesos-Stream-Id if given.
    pub async fn call_raw(&self, body: &Value, stream_id: Option<&str>) -> Answer {
        self.call_at(&self.url, body, stream_id).await
    }

    /// Like [`Self::call_raw`], to another master's `url`.
    pub async fn call_at(&self, url: &str, body: &Value, stream_id: Option<&str>) -> Answer {
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(id) = stream_id {
            request = request.header("Mesos-Stream-Id", id);
        }
        let response = request.send().await.expect("the master answers the call");
        let code = response.status().as_u16();
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.unwrap_or_default();
        Answer {
            code,
            location,
            body,
        }
    }

    /// ACCEPTs `offer` with one LAUNCH of `tasks`.
    pub async fn launch(&self, offer: &Value, tasks: Vec<Value>, refuse_seconds: f64) -> Answer {
        self.call(json!({
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                "filters": {"refuse_seconds": refuse_seconds}
            }
        }))
        .await
    }

    /// ACKNOWLEDGEs an UPDATE event's status.
    pub async fn acknowledge(&self, update: &Value) -> Answer {
        let status = &update["update"]["status"];
        self.call(json!({
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"]
            }
        }))
        .await
    }

    /// Waits for the UPDATE of `task_id` in `state`, acknowledging
    /// every update with a uuid on the way, as a framework must (the
    /// agent sends a task's next update only after the previous one is
    /// acknowledged).
    pub async fn wait_state(&mut self, task_id: &str, state: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let update = self.next_matching("UPDATE", left, |_| true).await;
            let status = &update["update"]["status"];
            if status.get("uuid").is_some() {
                let answer = self.acknowledge(&update).await;
                assert_eq!(
                    answer.code, 202,
                    "ACKNOWLEDGE answered {}: {}",
                    answer.code, answer.body
                );
            }
            if status["task_id"]["value"] == task_id && status["state"] == state {
                return update;
            }
        }
    }
}

/// What SUBSCRIBE with `info` (which names its id) gets at `addr`: the
/// whole body of a stream the master ends.
pub async fn refused_subscription(c: &Cluster, addr: &str, info: &Value) -> String {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = http
        .post(c.url(addr, "/api/v1/scheduler"))
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "SUBSCRIBE", "framework_id": info["id"],
                   "subscribe": {"framework_info": info}})
            .to_string(),
        )
        .send()
        .await
        .expect("the master answers SUBSCRIBE");
    response.text().await.unwrap_or_default()
}

/// A command task for `offer`'s agent in Mesos JSON.
pub fn task_for(offer: &Value, task_id: &str, command: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
        ],
        "command": {"shell": true, "value": command},
    })
}

/// A scalar resource's value in an offer.
pub fn scalar(offer: &Value, name: &str) -> f64 {
    offer["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .filter_map(|r| r["scalar"]["value"].as_f64())
        .sum()
}
