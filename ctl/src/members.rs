//! `raftctl members list|add|remove`: membership calls to the leader.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::client::{Client, LeaderCall};
use crate::error::CtlError;
use crate::wire::Membership;

/// Slack on top of the server's own deadline for `add`, so the server's
/// precise 504 ("the learner got to index N") arrives before our timeout.
const ADD_SLACK: Duration = Duration::from_secs(15);
/// The masters give a removal 30 s to commit.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(40);

pub struct Options<'a> {
    pub masters: &'a [String],
    /// How long to wait for a leader while there is none.
    pub wait: Duration,
}

fn parse(body: &[u8]) -> Result<Membership, CtlError> {
    serde_json::from_slice(body).map_err(|e| CtlError::Refused {
        status: 200,
        message: format!("the leader answered with a membership raftctl cannot read: {e}"),
    })
}

/// The linearizable membership, from the leader.
pub async fn list(client: &Client, opts: &Options<'_>) -> Result<Membership, CtlError> {
    let call = LeaderCall {
        method: Method::GET,
        path: "/raft/members",
        body: None,
        request_timeout: client.timeout,
        wait: opts.wait,
    };
    parse(&client.leader_call(opts.masters, &call).await?)
}

/// Adds `id` at `address` as learner, lets it catch up, promotes it;
/// with `replace`, the leader first removes the slot's old incarnation.
pub async fn add(
    client: &Client,
    opts: &Options<'_>,
    id: u64,
    address: &str,
    timeout: Duration,
    replace: bool,
) -> Result<Membership, CtlError> {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let mut body = json!({ "id": id, "address": address, "timeout_ms": timeout_ms });
    if replace {
        body["replace"] = json!(true);
        // The incarnation being replaced, read once: a resend (after a
        // leader change) that finds another incarnation there knows this
        // replace is done.
        if let Some(old) = list(client, opts).await?.incarnations.remove(&id) {
            body["replaces"] = json!(old);
        }
    }
    let call = LeaderCall {
        method: Method::POST,
        path: "/raft/members/add",
        body: Some(body),
        request_timeout: timeout + ADD_SLACK,
        wait: opts.wait,
    };
    let m = parse(&client.leader_call(opts.masters, &call).await?)?;
    if !m.voters.contains(&id) {
        return Err(CtlError::Refused {
            status: 200,
            message: format!(
                "the leader answered but master {id} is not a voter in the new membership \
                 (voters {:?}, learners {:?}); check `raftctl status`",
                m.voters, m.learners
            ),
        });
    }
    Ok(m)
}

pub async fn remove(client: &Client, opts: &Options<'_>, id: u64) -> Result<Membership, CtlError> {
    let call = LeaderCall {
        method: Method::POST,
        path: "/raft/members/remove",
        body: Some(json!({ "id": id })),
        request_timeout: REMOVE_TIMEOUT,
        wait: opts.wait,
    };
    let m = parse(&client.leader_call(opts.masters, &call).await?)?;
    if m.nodes.contains_key(&id) || m.voters.contains(&id) {
        return Err(CtlError::Refused {
            status: 200,
            message: format!(
                "the leader answered but master {id} is still in the membership \
                 (voters {:?}, learners {:?}); check `raftctl members list`",
                m.voters, m.learners
            ),
        });
    }
    Ok(m)
}
