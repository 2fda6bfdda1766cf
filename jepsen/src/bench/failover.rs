//! Failover: `kill -9` the leader, then write through the survivors as
//! fast as they answer until one acknowledges; the time from the kill to
//! that acknowledgement, and how many terms it took.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::runner::timestamp;

use super::stats::Summary;
use super::system::{http_client, System};

/// How long the group gets to become healthy again between trials.
const HEAL_TIMEOUT: Duration = Duration::from_secs(60);
/// A trial that has no acknowledged write after this is a failed trial.
const TRIAL_LIMIT: Duration = Duration::from_secs(30);
/// And after this many attempts (a bound on the loop besides time).
const MAX_ATTEMPTS: u64 = 1_000_000;

#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub killed: u64,
    /// Wall-clock time of the kill and of the acknowledgement (UTC,
    /// `YYYYMMDDTHHMMSS.mmmZ`), to line a trial up with the node logs.
    pub killed_at: String,
    pub acked_at: Option<String>,
    pub new_leader: Option<u64>,
    /// kill -> acknowledged write, None when the trial failed.
    pub ms: Option<f64>,
    pub term_before: u64,
    pub term_after: Option<u64>,
    /// Requests sent until one was acknowledged.
    pub attempts: u64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailoverReport {
    pub system: String,
    pub members: usize,
    pub trials_requested: usize,
    pub request_timeout_ms: u64,
    pub trials: Vec<Trial>,
    pub summary_ms: Option<Summary>,
    /// Term after minus term before, per successful trial.
    pub terms: Vec<u64>,
    pub attempts: Option<Summary>,
    /// Why the measurement stopped early, if it did.
    pub aborted: Option<String>,
}

impl FailoverReport {
    pub fn ok_trials(&self) -> usize {
        self.trials.iter().filter(|t| t.ms.is_some()).count()
    }
}

pub async fn run<S: System>(sys: &S, trials: usize, request_timeout: Duration) -> FailoverReport {
    let mut report = FailoverReport {
        system: sys.label(),
        members: sys.ids().len(),
        trials_requested: trials,
        request_timeout_ms: request_timeout.as_millis() as u64,
        trials: Vec::new(),
        summary_ms: None,
        terms: Vec::new(),
        attempts: None,
        aborted: None,
    };
    if let Err(e) = trials_into(sys, trials, request_timeout, &mut report.trials).await {
        eprintln!("bench: {}: failover stopped: {e:#}", report.system);
        report.aborted = Some(format!("{e:#}"));
    }
    let ok: Vec<&Trial> = report.trials.iter().filter(|t| t.ms.is_some()).collect();
    report.summary_ms = Summary::of(&ok.iter().filter_map(|t| t.ms).collect::<Vec<_>>());
    report.terms = ok
        .iter()
        .filter_map(|t| t.term_after.map(|a| a.saturating_sub(t.term_before)))
        .collect();
    report.attempts = Summary::of(&ok.iter().map(|t| t.attempts as f64).collect::<Vec<_>>());
    report
}

async fn trials_into<S: System>(
    sys: &S,
    trials: usize,
    request_timeout: Duration,
    out: &mut Vec<Trial>,
) -> anyhow::Result<()> {
    let http = http_client(16)?;
    let label = sys.label();
    let mut restarted: Option<u64> = None;
    let mut seq = 0u64;
    for n in 1..=trials {
        let agreed = sys.wait_agreed(restarted, HEAL_TIMEOUT).await?;
        let leader = agreed.leader;
        let survivors: Vec<u64> = sys.ids().into_iter().filter(|id| *id != leader).collect();
        let killed_at = timestamp(SystemTime::now());
        let t0 = Instant::now();
        sys.kill(leader);
        let mut attempts = 0u64;
        let mut last_error = String::new();
        let acked = loop {
            if t0.elapsed() >= TRIAL_LIMIT || attempts >= MAX_ATTEMPTS {
                break None;
            }
            let to = survivors[attempts as usize % survivors.len()];
            attempts += 1;
            seq += 1;
            match sys
                .write(
                    &http,
                    to,
                    &survivors,
                    "bench-failover",
                    seq,
                    request_timeout,
                )
                .await
            {
                Ok(a) => break Some((a, t0.elapsed(), SystemTime::now())),
                Err(e) => last_error = e,
            }
        };
        let mut trial = Trial {
            killed: leader,
            killed_at,
            acked_at: None,
            new_leader: None,
            ms: None,
            term_before: agreed.term,
            term_after: None,
            attempts,
            error: None,
        };
        match acked {
            Some((a, took, at)) => {
                trial.ms = Some(took.as_secs_f64() * 1000.0);
                trial.acked_at = Some(timestamp(at));
                trial.new_leader = Some(a.node);
                trial.term_after = match a.term {
                    Some(t) => Some(t),
                    None => sys.term_of(a.node).await,
                };
            }
            None => {
                trial.error = Some(format!(
                    "no write acknowledged after {:?} and {attempts} attempts; last error: {last_error}",
                    t0.elapsed()
                ))
            }
        }
        eprintln!(
            "bench: {label}: failover {n}/{trials}: killed {leader} (term {}), {}",
            agreed.term,
            match (&trial.ms, &trial.error) {
                (Some(ms), _) => format!(
                    "write acknowledged by {} after {ms:.1} ms, term {}, {attempts} attempts",
                    trial.new_leader.unwrap_or(0),
                    trial.term_after.map_or("?".into(), |t| t.to_string())
                ),
                (None, e) => format!("FAILED: {}", e.as_deref().unwrap_or("")),
            }
        );
        out.push(trial);
        sys.restart(leader)?;
        restarted = Some(leader);
    }
    // Leave the group whole (and check the last restart worked).
    sys.wait_agreed(restarted, HEAL_TIMEOUT).await?;
    Ok(())
}
