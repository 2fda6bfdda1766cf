//! HTTP calls to the masters: the local `/raft/status` of one master, and
//! leader-only calls that follow redirects and wait out elections.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::error::CtlError;
use crate::security::ClientSecurity;
use crate::units::duration;
use crate::wire::{error_message, shorten, NodeStatus};

/// Answers larger than this are refused: a status or membership is a few
/// KiB, and a misdirected address must not make raftctl buffer gigabytes.
const MAX_BODY: usize = 1 << 20;
/// Redirect hops followed for one request. One is normal (follower ->
/// leader); more means leadership is moving, which the retry loop handles.
const MAX_REDIRECTS: usize = 4;
/// Backoff between rounds while no leader is known.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

pub struct Client {
    http: reqwest::Client,
    /// Per-request timeout of status and read calls.
    pub timeout: Duration,
    /// The cluster secret and TLS of the masters' port.
    security: ClientSecurity,
}

/// An HTTP answer, whatever its status.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Vec<u8>,
}

/// Why no answer came back.
enum SendError {
    /// The connection could not be made: the request was not delivered.
    Connect(String),
    /// Anything after connecting (timeout, reset, oversized answer): a
    /// write may have been delivered.
    Other(String),
}

impl SendError {
    fn message(&self) -> &str {
        match self {
            SendError::Connect(m) | SendError::Other(m) => m,
        }
    }
}

/// A leader-only request.
pub struct LeaderCall<'a> {
    pub method: Method,
    pub path: &'a str,
    pub body: Option<Value>,
    /// Timeout of each HTTP exchange (a membership add waits on the server).
    pub request_timeout: Duration,
    /// How long to keep retrying while no leader is known.
    pub wait: Duration,
}

impl Client {
    pub fn new(timeout: Duration, security: ClientSecurity) -> Result<Self, CtlError> {
        let http = security
            .http_builder(timeout)
            .user_agent(concat!("raftctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CtlError::Local(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            timeout,
            security,
        })
    }

    fn url(&self, addr: &str, path: &str) -> Result<Url, String> {
        Url::parse(&format!("{}://{addr}{path}", self.security.scheme())).map_err(|e| e.to_string())
    }

    /// `GET /raft/status` of one master, with the round-trip time. Errors
    /// are short, for the table's error column.
    pub async fn status(&self, addr: &str) -> Result<(NodeStatus, Duration), String> {
        let url = self
            .url(addr, "/raft/status")
            .map_err(|e| format!("bad address: {e}"))?;
        let started = Instant::now();
        let answer = self
            .send(Method::GET, url, None, self.timeout)
            .await
            .map_err(|e| e.message().to_string())?;
        let rtt = started.elapsed();
        if !answer.status.is_success() {
            let msg = error_message(&answer.body);
            return Err(if msg.is_empty() {
                format!("HTTP {}", answer.status.as_u16())
            } else {
                format!("HTTP {}: {}", answer.status.as_u16(), shorten(&msg, 80))
            });
        }
        let status: NodeStatus = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("malformed /raft/status answer: {e}"))?;
        Ok((status, rtt))
    }

    /// Sends a leader-only request to the leader, following `307`s; while
    /// no leader is known (`503`, no master reachable, redirect loops),
    /// retries with backoff until `call.wait` has passed. Returns the
    /// success body.
    ///
    /// Each round first asks every master's `/raft/status` (in parallel,
    /// short timeout) and sends the request to the leader they name. That
    /// keeps a change from being posted to a hung master, where it would
    /// sit until the long timeout and end with an unknown outcome.
    pub async fn leader_call(
        &self,
        masters: &[String],
        call: &LeaderCall<'_>,
    ) -> Result<Vec<u8>, CtlError> {
        if masters.is_empty() {
            return Err(CtlError::Usage(
                "no master addresses given: use --masters HOST:PORT,...".into(),
            ));
        }
        let deadline = Instant::now() + call.wait;
        let mut backoff = BACKOFF_START;
        let mut notes: Vec<String>;
        loop {
            let probes = join_all(masters.iter().map(|addr| async move {
                let status = self.status(addr).await.map(|(s, _)| s);
                (addr.clone(), status)
            }))
            .await;
            let (mut order, failed) = route_order(&probes);
            notes = failed;
            // A read is harmless anywhere: if no status answered (an old or
            // odd master), try them all rather than give up.
            if order.is_empty() && call.method == Method::GET {
                order = masters.to_vec();
                notes.clear();
            }
            for addr in &order {
                match self.via(addr, call).await {
                    Step::Done(body) => return Ok(body),
                    Step::Fatal(e) => return Err(e),
                    Step::Retry(note) => notes.push(note),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(backoff.min(left)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        Err(no_leader_error(&notes, call.wait))
    }

    /// One attempt through `start`, following redirects.
    async fn via(&self, start: &str, call: &LeaderCall<'_>) -> Step {
        let mut url = match self.url(start, call.path) {
            Ok(u) => u,
            Err(e) => {
                return Step::Fatal(CtlError::Usage(format!(
                    "bad master address {start:?}: {e}"
                )))
            }
        };
        let idempotent = call.method == Method::GET;
        for _ in 0..=MAX_REDIRECTS {
            let at = host_port(&url);
            let answer = match self
                .send(call.method.clone(), url.clone(), call.body.as_ref(), call.request_timeout)
                .await
            {
                Ok(a) => a,
                Err(SendError::Connect(m)) => return Step::Retry(format!("{at}: {m}")),
                Err(SendError::Other(m)) if idempotent => return Step::Retry(format!("{at}: {m}")),
                Err(SendError::Other(m)) => {
                    return Step::Fatal(CtlError::OutcomeUnknown(format!(
                        "the request to {at} failed after it was sent ({m}); the change may or may not \
                         have been applied: check with `raftctl members list` before retrying"
                    )))
                }
            };
            let status = answer.status;
            if status.is_redirection() {
                let Some(location) = answer.location else {
                    return Step::Retry(format!("{at}: redirect without a Location"));
                };
                match resolve_location(&url, &location, self.security.scheme()) {
                    Ok(next) => {
                        url = next;
                        continue;
                    }
                    Err(e) => return Step::Retry(format!("{at}: {e}")),
                }
            }
            if status.is_success() {
                return Step::Done(answer.body);
            }
            let msg = error_message(&answer.body);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                let msg = if msg.is_empty() {
                    "no leader known".to_string()
                } else {
                    msg
                };
                return Step::Retry(format!("{at}: {}", shorten(&msg, 120)));
            }
            // A read can be repeated safely when the leader failed to confirm
            // its leadership in time; a change cannot.
            if idempotent && status.is_server_error() {
                return Step::Retry(format!(
                    "{at}: HTTP {}: {}",
                    status.as_u16(),
                    shorten(&msg, 120)
                ));
            }
            return Step::Fatal(refused(status, msg, &at));
        }
        Step::Retry(format!(
            "{start}: more than {MAX_REDIRECTS} redirects (leadership is moving, or masters disagree on the leader)"
        ))
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, SendError> {
        let mut req = self
            .security
            .authorize(self.http.request(method, url).timeout(timeout));
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req.send().await.map_err(|e| classify(&e, timeout))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| SendError::Other(describe(&e, timeout)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(SendError::Other(format!(
                    "answer larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            location,
            body,
        })
    }
}

/// Where to send a leader call, from the masters' status answers: the
/// leaders named (a master leading names itself), newest term first, then
/// most named; then the other masters that answered. Masters that did not
/// answer are left out, with a note why.
pub fn route_order(probes: &[(String, Result<NodeStatus, String>)]) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    // (term, times named, address)
    let mut leaders: Vec<(u64, usize, &str)> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for (addr, result) in probes {
        let s = match result {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!("{addr}: {e}"));
                continue;
            }
        };
        let named = if s.role.as_deref() == Some("leader") {
            Some(addr.as_str())
        } else {
            s.leader_address.as_deref().filter(|l| !l.is_empty())
        };
        if let Some(l) = named {
            let term = s.term.unwrap_or(0);
            match leaders.iter_mut().find(|(_, _, a)| *a == l) {
                Some(n) => {
                    n.0 = n.0.max(term);
                    n.1 += 1;
                }
                None => leaders.push((term, 1, l)),
            }
        }
        others.push(addr);
    }
    leaders.sort_by_key(|(term, count, _)| std::cmp::Reverse((*term, *count)));
    let mut order: Vec<String> = Vec::new();
    for addr in leaders.iter().map(|(_, _, a)| *a).chain(others) {
        if !order.iter().any(|o| o == addr) {
            order.push(addr.to_string());
        }
    }
    (order, notes)
}

enum Step {
    Done(Vec<u8>),
    /// Try another master, or again later.
    Retry(String),
    Fatal(CtlError),
}

fn classify(e: &reqwest::Error, timeout: Duration) -> SendError {
    if e.is_connect() {
        SendError::Connect(describe(e, timeout))
    } else {
        SendError::Other(describe(e, timeout))
    }
}

/// A short reason: the innermost cause ("connection refused") rather than
/// reqwest's chain, which repeats the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", duration(timeout));
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(src) = inner.source() {
        inner = src;
    }
    let mut msg = inner.to_string();
    if let Some(i) = msg.find(" (os error") {
        msg.truncate(i);
    }
    let mut msg = msg.trim().to_string();
    if let Some(first) = msg.get(..1) {
        msg = first.to_lowercase() + &msg[1..];
    }
    if e.is_connect() && !msg.contains("connect") && !msg.contains("refused") {
        msg = format!("cannot connect: {msg}");
    }
    shorten(&msg, 100)
}

/// Resolves a redirect `Location` against the URL that answered. The
/// masters send scheme-relative `//host:port/path`; absolute `http://` and
/// path-only locations are accepted too. Other schemes than the one in
/// use are refused: the secret must not leave for an unexpected place.
pub fn resolve_location(current: &Url, location: &str, scheme: &str) -> Result<Url, String> {
    let next = current
        .join(location.trim())
        .map_err(|e| format!("bad redirect Location {location:?}: {e}"))?;
    if next.scheme() != scheme {
        return Err(format!(
            "redirect to {next} is not {scheme}, which raftctl speaks to these masters"
        ));
    }
    if next.host_str().is_none_or(str::is_empty) {
        return Err(format!("redirect Location {location:?} has no host"));
    }
    Ok(next)
}

/// `host:port` of a URL, for messages.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    }
}

/// An error answer, with advice for the statuses an operator can act on.
fn refused(status: StatusCode, msg: String, at: &str) -> CtlError {
    let msg = if msg.is_empty() {
        format!("{at} answered HTTP {}", status.as_u16())
    } else {
        msg
    };
    let hint = match status {
        StatusCode::NOT_FOUND => " (see the members with `raftctl members list`)",
        StatusCode::CONFLICT => " (see the members with `raftctl members list`)",
        StatusCode::GATEWAY_TIMEOUT => {
            " (the change may still complete: check `raftctl members list` and `raftctl status`)"
        }
        _ => "",
    };
    let what = if status.is_client_error() {
        "the leader refused"
    } else {
        "the request failed"
    };
    CtlError::Refused {
        status: status.as_u16(),
        message: format!("{what}: {msg}{hint}"),
    }
}

fn no_leader_error(notes: &[String], waited: Duration) -> CtlError {
    let all_down = !notes.is_empty()
        && notes
            .iter()
            .all(|n| n.contains("refused") || n.contains("connect") || n.contains("no answer"));
    let detail = notes.join("; ");
    let waited = duration(waited);
    if all_down {
        CtlError::Unavailable(format!(
            "no master answered within {waited} ({detail}); check --masters (or MESORAFT_MASTERS) \
             and that the masters are running"
        ))
    } else {
        CtlError::Unavailable(format!(
            "no leader could take the request within {waited} ({detail}); the group may have lost \
             its quorum or be electing a leader: run `raftctl status` to see which masters are down"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn scheme_relative_location() {
        let cur = url("http://10.0.0.1:5050/raft/members");
        let next = resolve_location(&cur, "//10.0.0.2:5051/raft/members", "http").unwrap();
        assert_eq!(next.as_str(), "http://10.0.0.2:5051/raft/members");
        assert_eq!(host_port(&next), "10.0.0.2:5051");
    }

    #[test]
    fn other_location_forms() {
        let cur = url("http://a:5050/raft/members/add");
        assert_eq!(
            resolve_location(&cur, "http://b:6060/raft/members/add", "http")
                .unwrap()
                .as_str(),
            "http://b:6060/raft/members/add"
        );
        assert_eq!(
            resolve_location(&cur, "/raft/members", "http")
                .unwrap()
                .as_str(),
            "http://a:5050/raft/members"
        );
        let v6 = resolve_location(&cur, "//[::1]:7070/raft/members", "http").unwrap();
        assert_eq!(host_port(&v6), "[::1]:7070");
        assert!(resolve_location(&cur, "https://b:6060/x", "http").is_err());
        assert!(resolve_location(&cur, "//:5050/x", "http").is_err());
        assert!(resolve_location(&cur, "//b:99999/x", "http").is_err());
    }

    fn st(role: &str, term: u64, leader: Option<&str>) -> Result<NodeStatus, String> {
        Ok(NodeStatus {
            role: Some(role.into()),
            term: Some(term),
            leader_address: leader.map(str::to_string),
            ..NodeStatus::default()
        })
    }

    #[test]
    fn leader_calls_go_to_the_leader_first_and_skip_silent_masters() {
        let probes = vec![
            ("a:1".to_string(), Err("no answer within 1s".to_string())),
            ("b:1".to_string(), st("follower", 5, Some("d:1"))),
            ("c:1".to_string(), st("leader", 4, Some("c:1"))),
            ("e:1".to_string(), st("follower", 5, Some("d:1"))),
            ("f:1".to_string(), st("candidate", 6, None)),
        ];
        let (order, notes) = route_order(&probes);
        // The followers of term 5 name d:1, although nobody listed it; c:1
        // still claims leadership of the older term 4: tried next.
        assert_eq!(order, vec!["d:1", "c:1", "b:1", "e:1", "f:1"]);
        assert_eq!(notes, vec!["a:1: no answer within 1s"]);
        let (order, notes) =
            route_order(&[("a:1".to_string(), Err("connection refused".to_string()))]);
        assert!(order.is_empty());
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn no_leader_messages_say_what_to_do() {
        let down = no_leader_error(
            &[
                "a:1: connection refused".into(),
                "b:1: no answer within 1s".into(),
            ],
            Duration::from_secs(10),
        );
        assert!(down.to_string().contains("no master answered"), "{down}");
        let electing = no_leader_error(&["a:1: no leader known".into()], Duration::from_secs(10));
        assert!(
            electing.to_string().contains("raftctl status"),
            "{electing}"
        );
    }
}
