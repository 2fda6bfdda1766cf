//! `GET /metrics`: Prometheus text exposition of the Raft and master
//! figures; `GET /metrics/snapshot`: the master figures as Mesos's flat
//! JSON (`master/slaves_active`, ...).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use axum::response::Response;

use super::answer;
use crate::metrics::{self as figures, Figure};
use crate::status::{committed_index, RaftStatus};
use crate::Master;

pub async fn prometheus(State(master): State<Arc<Master>>) -> impl IntoResponse {
    let committed = committed_index(&master.raft).await;
    let status = RaftStatus::collect(&master, committed);
    let mut text = render(&status);
    text.push_str(&figures::prometheus(&master_figures(&master)));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

pub async fn snapshot(State(master): State<Arc<Master>>) -> Response {
    answer::document(&figures::snapshot(&master_figures(&master)))
}

/// Answered by any master: the leader figures are the leader's, zero
/// elsewhere.
fn master_figures(master: &Master) -> Vec<Figure> {
    let uptime = master.started_at.elapsed().map_or(0.0, |d| d.as_secs_f64());
    let elected = master.require_leader().is_ok();
    figures::figures(elected, uptime, master.hub.leader_counts().as_ref())
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, value: Option<u64>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    if let Some(v) = value {
        let _ = writeln!(out, "{name} {v}");
    }
}

pub fn render(s: &RaftStatus) -> String {
    let mut out = String::new();
    let is_leader = u64::from(s.role == "leader");
    gauge(
        &mut out,
        "mesoraft_raft_node_id",
        "This master's id.",
        "gauge",
        Some(s.id),
    );
    gauge(
        &mut out,
        "mesoraft_raft_term",
        "Current Raft term.",
        "gauge",
        Some(s.term),
    );
    gauge(
        &mut out,
        "mesoraft_raft_is_leader",
        "1 if this master leads.",
        "gauge",
        Some(is_leader),
    );
    gauge(
        &mut out,
        "mesoraft_raft_leader_id",
        "Leader as this master sees it (absent: none).",
        "gauge",
        s.leader_id,
    );
    gauge(
        &mut out,
        "mesoraft_raft_last_log_index",
        "Last log index.",
        "gauge",
        s.last_log_index,
    );
    gauge(
        &mut out,
        "mesoraft_raft_committed_index",
        "Committed index.",
        "gauge",
        s.committed_index,
    );
    gauge(
        &mut out,
        "mesoraft_raft_applied_index",
        "Applied index.",
        "gauge",
        s.applied_index,
    );
    gauge(
        &mut out,
        "mesoraft_raft_snapshot_index",
        "Last index in the latest snapshot.",
        "gauge",
        s.snapshot_index,
    );
    gauge(
        &mut out,
        "mesoraft_raft_purged_index",
        "Log compacted up to this index.",
        "gauge",
        s.purged_index,
    );
    gauge(
        &mut out,
        "mesoraft_raft_millis_since_leader_contact",
        "Leader: since quorum ack; others: since last AppendEntries.",
        "gauge",
        s.millis_since_leader_contact,
    );
    gauge(
        &mut out,
        "mesoraft_raft_voters",
        "Voters in the membership.",
        "gauge",
        Some(s.membership.voters.len() as u64),
    );
    gauge(
        &mut out,
        "mesoraft_raft_learners",
        "Learners in the membership.",
        "gauge",
        Some(s.membership.learners.len() as u64),
    );
    gauge(
        &mut out,
        "mesoraft_raft_elections_total",
        "Terms this master has seen begin.",
        "counter",
        Some(s.elections_seen),
    );
    gauge(
        &mut out,
        "mesoraft_raft_leader_changes_total",
        "Leader changes seen.",
        "counter",
        Some(s.leader_changes),
    );
    let _ = writeln!(
        out,
        "# HELP mesoraft_raft_peer_matched_index Leader: last index replicated to the peer.\n\
         # TYPE mesoraft_raft_peer_matched_index gauge"
    );
    for (peer, r) in s.replication.iter().flatten() {
        if let Some(i) = r.matched_index {
            let _ = writeln!(
                out,
                "mesoraft_raft_peer_matched_index{{peer=\"{peer}\"}} {i}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP mesoraft_raft_peer_lag Leader: entries the peer is behind.\n\
         # TYPE mesoraft_raft_peer_lag gauge"
    );
    for (peer, r) in s.replication.iter().flatten() {
        let _ = writeln!(out, "mesoraft_raft_peer_lag{{peer=\"{peer}\"}} {}", r.lag);
    }
    out
}
