//! Finding the leader and opening the event stream: SUBSCRIBE to a
//! master; a `307` names the leader (followed, and learned); a `503`, a
//! refused connection or a timeout moves on to the next master; a round
//! over every master that found none waits (jittered backoff) and starts
//! again. A `4xx` is final: the same SUBSCRIBE would be refused again.

use std::time::Instant;

use mesoraft_ctl::client::resolve_location;
use mesoraft_proto::mesos::v1::scheduler::{call, Call};
use mesoraft_proto::mesos::v1::FrameworkInfo;
use reqwest::StatusCode;

use crate::error::StopReason;
use crate::masters::MasterList;
use crate::transport::{addr_of, error_text, location, SendError, Transport, STREAM_ID_HEADER};

/// Redirects followed from one master. One is normal (follower to leader);
/// more means leadership is moving, and the next round handles that.
const MAX_REDIRECTS: usize = 4;

/// An open stream to a leader.
pub struct Subscription {
    /// `host:port` of the leader.
    pub master: String,
    pub url: reqwest::Url,
    pub stream_id: String,
    pub response: reqwest::Response,
}

/// How one attempt through one master ended.
pub enum Attempt {
    Open(Box<Subscription>),
    /// Try the next master; why this one failed.
    Next(String),
    Final(StopReason),
}

/// The SUBSCRIBE call for `framework` (with its id when resubscribing).
pub fn subscribe_call(framework: &FrameworkInfo) -> Call {
    Call {
        // A framework that has an id re-subscribes with it in both places:
        // the master refuses a call whose `framework_info.id` is set without
        // the call's `framework_id` (Mesos's rule, SPEC 8).
        framework_id: framework.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: framework.clone(),
            suppressed_roles: Vec::new(),
        }),
        ..Default::default()
    }
}

/// SUBSCRIBE through `start`, following redirects. Leaders named on the
/// way are recorded in `masters`.
pub async fn attempt(
    transport: &Transport,
    masters: &mut MasterList,
    start: &str,
    call: &Call,
) -> Attempt {
    let mut url = match transport.url(start) {
        Ok(u) => u,
        Err(e) => return Attempt::Next(e),
    };
    for _ in 0..=MAX_REDIRECTS {
        let at = addr_of(&url);
        let sent = transport.post(url.clone(), call, None, None);
        let answer = match tokio::time::timeout(transport.timeouts.request, sent).await {
            Err(_) => return Attempt::Next(format!("{at}: no answer to SUBSCRIBE in time")),
            Ok(Err(SendError::Connect(e) | SendError::Other(e))) => {
                return Attempt::Next(format!("{at}: {e}"))
            }
            Ok(Ok(resp)) => resp,
        };
        let status = answer.status();
        if status.is_redirection() {
            let Some(loc) = location(&answer) else {
                return Attempt::Next(format!("{at}: redirect without a Location"));
            };
            match resolve_location(&url, &loc, transport.scheme()) {
                Ok(next) => {
                    tracing::debug!(from = %at, to = %next, "SUBSCRIBE redirected to the leader");
                    masters.leader_is(&addr_of(&next));
                    url = next;
                    continue;
                }
                Err(e) => return Attempt::Next(format!("{at}: {e}")),
            }
        }
        if status == StatusCode::OK {
            let stream_id = answer
                .headers()
                .get(STREAM_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(stream_id) = stream_id.filter(|s| !s.is_empty()) else {
                return Attempt::Next(format!(
                    "{at}: answered SUBSCRIBE without a {STREAM_ID_HEADER} header"
                ));
            };
            masters.leader_is(&at);
            return Attempt::Open(Box::new(Subscription {
                master: at,
                url,
                stream_id,
                response: answer,
            }));
        }
        let body = error_text(answer).await;
        if status == StatusCode::SERVICE_UNAVAILABLE || status.is_server_error() {
            let why = if body.is_empty() { "no leader" } else { &body };
            return Attempt::Next(format!("{at}: HTTP {}: {why}", status.as_u16()));
        }
        return Attempt::Final(StopReason::SubscribeRefused {
            master: at,
            status: status.as_u16(),
            body,
        });
    }
    Attempt::Next(format!(
        "{start}: more than {MAX_REDIRECTS} redirects (leadership is moving)"
    ))
}

/// The notes of the failed attempts since the scheduler lost its leader,
/// the last few kept for the error that gives up.
#[derive(Debug)]
pub struct Attempts {
    since: Instant,
    notes: Vec<String>,
}

/// Notes kept: enough to show one round over a five-master group.
const NOTES_KEPT: usize = 5;

impl Attempts {
    pub fn new(now: Instant) -> Self {
        Attempts {
            since: now,
            notes: Vec::new(),
        }
    }

    /// Records a failure; one said before moves to the end rather than
    /// repeating (a dead master fails the same way every round).
    pub fn note(&mut self, note: String) {
        self.notes.retain(|n| *n != note);
        if self.notes.len() == NOTES_KEPT {
            self.notes.remove(0);
        }
        self.notes.push(note);
    }

    /// How much of `limit` is left at `now` (None: no limit).
    pub fn left(
        &self,
        now: Instant,
        limit: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        limit.map(|l| l.saturating_sub(now.saturating_duration_since(self.since)))
    }

    /// The give-up error when `limit` has passed at `now`.
    pub fn expired(&self, now: Instant, limit: Option<std::time::Duration>) -> Option<StopReason> {
        let limit = limit?;
        let waited = now.saturating_duration_since(self.since);
        (waited >= limit).then(|| StopReason::NoLeader {
            waited,
            attempts: self.notes.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn giving_up_names_the_last_attempts() {
        let t0 = Instant::now();
        let mut a = Attempts::new(t0);
        for i in 0..7 {
            a.note(format!("m{i}: refused"));
        }
        a.note("m3: refused".into());
        assert!(a.expired(t0 + Duration::from_secs(100), None).is_none());
        assert!(a.expired(t0, Some(Duration::from_secs(5))).is_none());
        let Some(StopReason::NoLeader { attempts, .. }) =
            a.expired(t0 + Duration::from_secs(5), Some(Duration::from_secs(5)))
        else {
            panic!("expected NoLeader");
        };
        assert_eq!(
            attempts,
            [
                "m2: refused",
                "m4: refused",
                "m5: refused",
                "m6: refused",
                "m3: refused"
            ]
        );
    }

    #[test]
    fn the_subscribe_call_carries_the_framework() {
        let mut info = crate::config::framework_info("f", "u");
        info.id = Some(mesoraft_proto::mesos::v1::FrameworkId { value: "id".into() });
        let c = subscribe_call(&info);
        let json = mesoraft_proto::json::to_json_string(&c);
        assert!(json.contains(r#""type":"SUBSCRIBE""#), "{json}");
        assert!(json.contains(r#""id":{"value":"id"}"#), "{json}");
        assert_eq!(c.framework_id, info.id, "a re-subscription names its id");
        let first = subscribe_call(&crate::config::framework_info("f", "u"));
        assert_eq!(first.framework_id, None, "a new framework has none");
    }
}
