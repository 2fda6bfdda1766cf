//! Operator calls (`POST /api/v1`) to masters, one at a time or following
//! the 307 a master that is not the leader answers with, a bounded number
//! of times.

use std::fmt;

use serde_json::Value;

/// How many redirects [`call_following`] follows before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// One master's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The `Location` header (a 307's target).
    pub location: Option<String>,
    pub body: String,
}

/// Why an operator call got no final answer.
#[derive(Debug)]
pub enum CallError {
    /// The request failed (nothing or not all was answered).
    Request(reqwest::Error),
    /// Still redirected after [`MAX_REDIRECTS`] hops.
    TooManyRedirects,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Request(e) => write!(f, "{e}"),
            CallError::TooManyRedirects => f.write_str("too many redirects"),
        }
    }
}

impl std::error::Error for CallError {}

/// `<scheme>://<addr>/api/v1`.
pub fn api_url(scheme: &str, addr: &str) -> String {
    format!("{scheme}://{addr}/api/v1")
}

/// The `host:port` a redirect's `Location` points at: scheme-relative
/// (`//host:port/path`, what masters send) or with an `http`/`https`
/// scheme; None for anything else.
pub fn redirect_authority(location: &str) -> Option<&str> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))
        .or_else(|| location.strip_prefix("//"))?;
    rest.split('/').next().filter(|a| !a.is_empty())
}

/// One operator call with a JSON `body` to the master at `addr`;
/// redirects are returned, not followed (`http` must not follow them
/// itself).
pub async fn call(
    http: &reqwest::Client,
    scheme: &str,
    addr: &str,
    body: &Value,
) -> Result<Reply, reqwest::Error> {
    let resp = http
        .post(api_url(scheme, addr))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let code = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(Reply {
        code,
        location,
        body: resp.text().await.unwrap_or_default(),
    })
}

/// Like [`call`], but a 307 is followed to its target, at most
/// [`MAX_REDIRECTS`] times; the answer is the first that is not a
/// redirect (or a redirect without a usable `Location`).
pub async fn call_following(
    http: &reqwest::Client,
    scheme: &str,
    addr: &str,
    body: &Value,
) -> Result<Reply, CallError> {
    let mut target = addr.to_string();
    for _ in 0..MAX_REDIRECTS {
        let reply = call(http, scheme, &target, body)
            .await
            .map_err(CallError::Request)?;
        match next_hop(&reply) {
            Some(next) => target = next.to_string(),
            None => return Ok(reply),
        }
    }
    Err(CallError::TooManyRedirects)
}

/// Where a reply sends the caller next, if it is a redirect.
fn next_hop(reply: &Reply) -> Option<&str> {
    if reply.code != 307 {
        return None;
    }
    redirect_authority(reply.location.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_are_the_location_authority() {
        assert_eq!(
            redirect_authority("//10.0.0.2:5050/api/v1"),
            Some("10.0.0.2:5050")
        );
        assert_eq!(redirect_authority("http://h:1/api/v1"), Some("h:1"));
        assert_eq!(redirect_authority("https://h:1"), Some("h:1"));
        assert_eq!(redirect_authority("/api/v1"), None);
        assert_eq!(redirect_authority("//"), None);
    }

    #[test]
    fn only_a_307_with_a_location_is_followed() {
        let reply = |code, location: Option<&str>| Reply {
            code,
            location: location.map(str::to_string),
            body: String::new(),
        };
        assert_eq!(next_hop(&reply(307, Some("//b:2/api/v1"))), Some("b:2"));
        assert_eq!(next_hop(&reply(307, None)), None);
        assert_eq!(next_hop(&reply(200, Some("//b:2/api/v1"))), None);
    }
}
