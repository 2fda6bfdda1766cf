//! Stability: an idle group should never hold another election. Every
//! master's `/raft/status` is polled every few seconds for the whole time,
//! so a term change that happened and settled between polls still shows
//! (terms and the masters' own counters only grow).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::group::MesoGroup;
use super::system::System;
use crate::client::RaftStatus;

#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeRow {
    pub id: u64,
    pub term_start: u64,
    pub term_end: Option<u64>,
    pub elections_seen_start: Option<u64>,
    pub elections_seen_end: Option<u64>,
    pub leader_changes_start: Option<u64>,
    pub leader_changes_end: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StabilityReport {
    pub minutes: f64,
    pub poll_s: f64,
    pub polls: u64,
    /// Status requests that got no answer.
    pub failed_probes: u64,
    pub leader_start: u64,
    pub leader_end: Option<u64>,
    pub nodes: Vec<NodeRow>,
    /// Highest term at the end minus at the start: elections after the
    /// first.
    pub elections_after_first: u64,
    /// Times a poll named a different leader than the previous poll.
    pub leader_changes_polled: u64,
    /// Largest growth of any master's own leader_changes counter.
    pub leader_changes_counted: u64,
}

fn delta(a: Option<u64>, b: Option<u64>) -> u64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    }
}

pub async fn run(
    group: &MesoGroup,
    idle: Duration,
    poll: Duration,
) -> anyhow::Result<StabilityReport> {
    let agreed = group.wait_agreed(None, Duration::from_secs(60)).await?;
    let first: Vec<(u64, RaftStatus)> = group
        .cluster
        .statuses()
        .await
        .into_iter()
        .map(|(id, s)| s.map(|s| (id, s)).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()
        .context("initial status")?;
    let mut rows: BTreeMap<u64, NodeRow> = first
        .iter()
        .map(|(id, s)| {
            let row = NodeRow {
                id: *id,
                term_start: s.term,
                elections_seen_start: s.elections_seen,
                leader_changes_start: s.leader_changes,
                ..Default::default()
            };
            (*id, row)
        })
        .collect();
    let term_start = first.iter().map(|(_, s)| s.term).max().unwrap_or(0);
    eprintln!(
        "bench: stability: leader {} in term {term_start}; idle for {:.1} min, polling every {:?}",
        agreed.leader,
        idle.as_secs_f64() / 60.0,
        poll
    );
    let start = Instant::now();
    let end = start + idle;
    let mut report = StabilityReport {
        minutes: idle.as_secs_f64() / 60.0,
        poll_s: poll.as_secs_f64(),
        polls: 0,
        failed_probes: 0,
        leader_start: agreed.leader,
        leader_end: None,
        nodes: Vec::new(),
        elections_after_first: 0,
        leader_changes_polled: 0,
        leader_changes_counted: 0,
    };
    let mut leader = agreed.leader;
    let mut max_term = term_start;
    let mut next_note = start + Duration::from_secs(60);
    // Polls until the end, then one final poll; bounded by time.
    loop {
        let now = Instant::now();
        let last = now >= end;
        if !last {
            tokio::time::sleep(poll.min(end - now)).await;
        }
        group.check_running()?;
        report.polls += 1;
        for (id, s) in group.cluster.statuses().await {
            let Ok(s) = s else {
                report.failed_probes += 1;
                continue;
            };
            max_term = max_term.max(s.term);
            let row = rows.entry(id).or_default();
            row.term_end = Some(s.term);
            row.elections_seen_end = s.elections_seen;
            row.leader_changes_end = s.leader_changes;
            if let Some(l) = s.leader_id {
                if s.is_leader() && l != leader {
                    report.leader_changes_polled += 1;
                    eprintln!(
                        "bench: stability: leader changed {leader} -> {l} (term {})",
                        s.term
                    );
                    leader = l;
                }
            }
        }
        if Instant::now() >= next_note {
            next_note += Duration::from_secs(60);
            eprintln!(
                "bench: stability: {:.0}/{:.0} s, leader {leader}, {} elections so far",
                start.elapsed().as_secs_f64(),
                idle.as_secs_f64(),
                max_term - term_start
            );
        }
        if last {
            break;
        }
    }
    report.leader_end = Some(leader);
    report.elections_after_first = max_term - term_start;
    report.nodes = rows.into_values().collect();
    report.leader_changes_counted = report
        .nodes
        .iter()
        .map(|r| delta(r.leader_changes_start, r.leader_changes_end))
        .max()
        .unwrap_or(0);
    Ok(report)
}
