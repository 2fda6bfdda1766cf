//! One framework's work: launch its tasks on the offers it gets, many
//! LAUNCH operations per ACCEPT, acknowledge every update, and keep what
//! it holds (tasks not yet ended) where the bench's sampler can read it.
//!
//! Calls run in tasks of their own (at most [`CALLS_IN_FLIGHT`]), so the
//! event stream is read while ACCEPTs and ACKNOWLEDGEs are on the wire;
//! every event carries the instant it arrived, which is what the
//! ACCEPT -> TASK_RUNNING latency is measured to.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::figures::{fits, Amounts};
use super::framework::{accept, acknowledge, decline, task_info, Subscription};

/// Calls of one framework on the wire at once.
const CALLS_IN_FLIGHT: usize = 64;
/// How long an offer the framework cannot use is refused while it still
/// has tasks to launch (resources may free up soon).
const REFUSE_WHILE_WANTING_S: f64 = 1.0;
/// ... and once it has launched everything.
const REFUSE_WHEN_DONE_S: f64 = 3600.0;

/// When the framework is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoneWhen {
    /// Every task reached a terminal state.
    AllEnded,
    /// Every task reported TASK_RUNNING (or ended).
    AllRunning,
    /// Only when told to stop (it keeps launching while it may).
    Stopped,
}

/// What one framework does.
#[derive(Clone, Debug)]
pub struct Work {
    /// Task ids are `PREFIX-N`.
    pub prefix: String,
    pub tasks: u64,
    pub cpus: f64,
    pub mem: f64,
    /// Tasks launched per offer at most.
    pub per_offer: u64,
    /// Tasks launched and still to report at most: the master closes a
    /// scheduler stream whose event queue fills up, and a burst of
    /// launches sends two updates per task at once. Offers wait in the
    /// framework while it is at the limit.
    pub max_in_flight: u64,
    pub done_when: DoneWhen,
}

/// What the framework holds now: offers it has not answered and tasks
/// launched and not ended (the master's view of its allocation).
#[derive(Clone, Debug, Default)]
pub struct Holding(Arc<Mutex<Amounts>>);

impl Holding {
    pub fn get(&self) -> Amounts {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn change(&self, f: impl FnOnce(Amounts) -> Amounts) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *held = f(*held);
    }
}

/// How the framework's run went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub launched: u64,
    pub running: u64,
    pub finished: u64,
    /// Tasks that ended other than TASK_FINISHED, by state.
    pub ended_otherwise: HashMap<String, u64>,
    pub accepts: u64,
    pub declines: u64,
    pub acknowledgements: u64,
    pub offers: u64,
    /// ACCEPT sent -> TASK_RUNNING arrived, per task (ms).
    #[serde(skip)]
    pub running_ms: Vec<f64>,
    /// From the first ACCEPT to the last TASK_RUNNING / the last end.
    pub first_running_window_s: Option<f64>,
    pub ended_window_s: Option<f64>,
    /// Why it stopped early.
    pub error: Option<String>,
}

/// Terminal task states (SPEC 4).
fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_LOST"
            | "TASK_ERROR"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

struct State {
    work: Work,
    task: Amounts,
    holding: Holding,
    out: Outcome,
    /// Launched tasks not yet running: when their ACCEPT left.
    accepted_at: HashMap<String, Instant>,
    /// Launched tasks not yet ended.
    live: HashSet<String>,
    first_accept: Option<Instant>,
    last_running: Option<Instant>,
    last_end: Option<Instant>,
    ended: u64,
    /// Offers waiting for the number of tasks in flight to fall.
    queued: VecDeque<Value>,
}

impl State {
    fn done(&self) -> bool {
        let all_launched = self.out.launched >= self.work.tasks;
        match self.work.done_when {
            DoneWhen::AllEnded => all_launched && self.ended >= self.work.tasks,
            DoneWhen::AllRunning => all_launched && self.accepted_at.is_empty(),
            DoneWhen::Stopped => false,
        }
    }

    /// Tasks whose updates have not all arrived.
    fn in_flight(&self) -> u64 {
        match self.work.done_when {
            DoneWhen::AllEnded => self.out.launched.saturating_sub(self.ended),
            DoneWhen::AllRunning | DoneWhen::Stopped => self.accepted_at.len() as u64,
        }
    }

    /// The calls answering the queued offers the framework can answer
    /// now.
    fn answer_queued(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while !self.queued.is_empty() {
            let left = self.work.tasks.saturating_sub(self.out.launched);
            if left > 0 && self.in_flight() >= self.work.max_in_flight {
                break;
            }
            if let Some(offer) = self.queued.pop_front() {
                out.push(self.on_offer(&offer));
            }
        }
        out
    }

    /// The call answering one offer.
    fn on_offer(&mut self, offer: &Value) -> Value {
        let have = Amounts::of_resources(&offer["resources"]);
        let left = self.work.tasks.saturating_sub(self.out.launched);
        let room = self
            .work
            .max_in_flight
            .saturating_sub(self.in_flight())
            .max(1);
        let n = fits(have, self.task)
            .min(self.work.per_offer)
            .min(left)
            .min(room);
        if n == 0 {
            self.out.declines += 1;
            let refuse = if left == 0 {
                REFUSE_WHEN_DONE_S
            } else {
                REFUSE_WHILE_WANTING_S
            };
            return decline(&offer["id"], refuse);
        }
        let now = Instant::now();
        self.first_accept.get_or_insert(now);
        let mut tasks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let id = format!("{}-{}", self.work.prefix, self.out.launched);
            self.out.launched += 1;
            tasks.push(task_info(
                &id,
                &offer["agent_id"],
                self.work.cpus,
                self.work.mem,
            ));
            self.accepted_at.insert(id.clone(), now);
            self.live.insert(id);
        }
        let task = self.task;
        self.holding.change(|h| h.plus(task.times(n as i64)));
        self.out.accepts += 1;
        accept(&offer["id"], tasks)
    }

    fn on_status(&mut self, status: &Value, at: Instant) {
        let Some(state) = status["state"].as_str() else {
            return;
        };
        let Some(task_id) = status["task_id"]["value"].as_str() else {
            return;
        };
        if let Some(sent) = self.accepted_at.remove(task_id) {
            // The first update of a task ends its wait, whatever it says;
            // only a RUNNING one is a latency sample.
            if state == "TASK_RUNNING" {
                self.out.running += 1;
                self.out
                    .running_ms
                    .push(at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
                self.last_running = Some(at);
            }
        }
        if is_terminal(state) && self.live.remove(task_id) {
            self.ended += 1;
            self.last_end = Some(at);
            let task = self.task;
            self.holding.change(|h| h.minus(task));
            if state == "TASK_FINISHED" {
                self.out.finished += 1;
            } else {
                *self
                    .out
                    .ended_otherwise
                    .entry(state.to_string())
                    .or_default() += 1;
            }
        }
    }
}

/// Runs `work` on `sub` until it is done, `stop` says so, or `limit`
/// passes (an error then, naming how far it got).
pub async fn run(
    mut sub: Subscription,
    work: Work,
    holding: Holding,
    mut stop: watch::Receiver<bool>,
    limit: Duration,
) -> Outcome {
    let mut state = State {
        task: Amounts::new(work.cpus, work.mem, 0.0),
        work,
        holding,
        out: Outcome::default(),
        accepted_at: HashMap::new(),
        live: HashSet::new(),
        first_accept: None,
        last_running: None,
        last_end: None,
        ended: 0,
        queued: VecDeque::new(),
    };
    let result = drive(&mut sub, &mut state, &mut stop, limit).await;
    let mut out = std::mem::take(&mut state.out);
    let window = |end: Option<Instant>| match (state.first_accept, end) {
        (Some(start), Some(end)) => Some(end.saturating_duration_since(start).as_secs_f64()),
        _ => None,
    };
    out.first_running_window_s = window(state.last_running);
    out.ended_window_s = window(state.last_end);
    if let Err(e) = result {
        out.error = Some(format!("{e:#}"));
    }
    out
}

async fn drive(
    sub: &mut Subscription,
    state: &mut State,
    stop: &mut watch::Receiver<bool>,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let slots = Arc::new(Semaphore::new(CALLS_IN_FLIGHT));
    let mut calls: JoinSet<anyhow::Result<()>> = JoinSet::new();
    while !state.done() {
        if *stop.borrow() {
            break;
        }
        let received = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => bail!(
                "not done within {limit:?}: {} launched, {} running, {} ended",
                state.out.launched, state.out.running, state.ended
            ),
            // A stop sender gone is a stop: nobody could send one later.
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            Some(joined) = calls.join_next(), if !calls.is_empty() => {
                joined.map_err(|e| anyhow!("a call task failed: {e}"))??;
                continue;
            }
            received = sub.events.recv() => received,
        };
        let received = received
            .ok_or_else(|| anyhow!("the event stream ended"))?
            .map_err(|why| anyhow!("{why}"))?;
        let mut bodies = Vec::new();
        match received.event["type"].as_str() {
            Some("OFFERS") => {
                for offer in received.event["offers"]["offers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    state.out.offers += 1;
                    state.queued.push_back(offer.clone());
                }
                bodies.extend(state.answer_queued());
            }
            Some("UPDATE") => {
                let status = &received.event["update"]["status"];
                state.on_status(status, received.at);
                if let Some(ack) = acknowledge(status) {
                    state.out.acknowledgements += 1;
                    bodies.push(ack);
                }
                bodies.extend(state.answer_queued());
            }
            Some("ERROR") => bail!("ERROR event: {}", received.event["error"]["message"]),
            _ => {}
        }
        for body in bodies {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| anyhow!("the call slots closed"))?;
            let call = sub.call(body);
            calls.spawn(async move {
                let result = call.send().await;
                drop(permit);
                result
            });
        }
    }
    // The last acknowledgements reach the master before the figures are
    // read; a failed one fails the run.
    while let Some(joined) = calls.join_next().await {
        joined.map_err(|e| anyhow!("a call task failed: {e}"))??;
    }
    Ok(())
}
