//! The task that keeps a scheduler subscribed: it finds the leader, reads
//! the event stream, hands events to the program, acknowledges updates,
//! runs reconciliation, and subscribes again (with the FrameworkID) when
//! the stream breaks, goes silent, or a call finds the master no longer
//! leads. The decisions are the pure modules'; this is the I/O around them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesoraft_proto::json::from_json_slice;
use mesoraft_proto::mesos::v1::scheduler::{Call, Event};
use mesoraft_proto::mesos::v1::FrameworkInfo;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;

use crate::backoff::Backoff;
use crate::calls;
use crate::config::Config;
use crate::error::StopReason;
use crate::event::{Incoming, SchedulerEvent};
use crate::masters::MasterList;
use crate::reconcile::{ReconcileRequest, Reconciler};
use crate::recordio::RecordReader;
use crate::subscribe::{attempt, subscribe_call, Attempt, Attempts, Subscription};
use crate::tasks::TaskTable;
use crate::transport::{describe, Session, Transport};

/// What the handle (and the driver's own background calls) tell the driver.
#[derive(Debug)]
pub enum Control {
    /// The leader moved (a call on stream `stream_id` got 307/503): drop
    /// that stream and subscribe again. A call answered after the
    /// scheduler had already moved names an older stream and is ignored.
    Reconnect {
        reason: String,
        stream_id: String,
    },
    Stop(StopReason),
}

/// How following one stream ended.
enum Flow {
    Reconnect(String),
    Stop(StopReason),
}

pub struct Driver {
    pub config: Config,
    pub transport: Arc<Transport>,
    pub masters: MasterList,
    pub framework: FrameworkInfo,
    pub session: watch::Sender<Option<Session>>,
    pub events: mpsc::Sender<SchedulerEvent>,
    pub control: mpsc::UnboundedReceiver<Control>,
    /// For background calls to report a lost leader. Held here, it also
    /// keeps `control` from ever closing.
    pub control_tx: mpsc::UnboundedSender<Control>,
    pub tasks: Arc<Mutex<TaskTable>>,
    pub reconciler: Reconciler,
    pub backoff: Backoff,
}

impl Driver {
    pub async fn run(mut self) {
        let mut first = true;
        let reason = loop {
            let sub = match self.find_leader(first).await {
                Ok(s) => s,
                Err(r) => break r,
            };
            first = false;
            match self.follow(sub).await {
                Flow::Stop(r) => break r,
                Flow::Reconnect(reason) => {
                    tracing::warn!(%reason, "lost the leader's event stream; subscribing again");
                    self.session.send_replace(None);
                    self.reconciler.cancel();
                    if self
                        .events
                        .send(SchedulerEvent::Disconnected { reason })
                        .await
                        .is_err()
                    {
                        break StopReason::Stopped;
                    }
                }
            }
        };
        self.session.send_replace(None);
        tracing::info!(%reason, "scheduler stopped");
        let _ = self.events.send(SchedulerEvent::Stopped(reason)).await;
    }

    /// Rounds over the masters until one leads and opens a stream. Every
    /// round but the very first waits a jittered backoff first.
    async fn find_leader(&mut self, first: bool) -> Result<Subscription, StopReason> {
        let mut attempts = Attempts::new(Instant::now());
        let call = subscribe_call(&self.framework);
        let mut wait = !first;
        loop {
            if wait {
                // Never sleep past the time to give up.
                let left = attempts.left(Instant::now(), self.config.give_up_after);
                let delay = self
                    .backoff
                    .next_delay(rand::random())
                    .min(left.unwrap_or(Duration::MAX));
                let until = tokio::time::Instant::now() + delay;
                loop {
                    tokio::select! {
                        _ = sleep_until(until) => break,
                        ctl = self.control.recv() => {
                            if let Some(Control::Stop(r)) = ctl {
                                return Err(r);
                            }
                        }
                        _ = self.events.closed() => return Err(StopReason::Stopped),
                    }
                }
            }
            wait = true;
            for addr in self.masters.round() {
                match attempt(&self.transport, &mut self.masters, &addr, &call).await {
                    Attempt::Open(s) => return Ok(*s),
                    Attempt::Final(r) => return Err(r),
                    Attempt::Next(note) => {
                        tracing::info!(master = %addr, %note, "no subscription through this master");
                        attempts.note(note);
                    }
                }
                if self.events.is_closed() {
                    return Err(StopReason::Stopped);
                }
            }
            if let Some(r) = attempts.expired(Instant::now(), self.config.give_up_after) {
                return Err(r);
            }
        }
    }

    /// Reads one stream until it ends, goes silent, or is dropped.
    async fn follow(&mut self, sub: Subscription) -> Flow {
        let Subscription {
            master,
            url,
            stream_id,
            mut response,
        } = sub;
        tracing::info!(%master, %stream_id, "event stream open");
        let mut reader = RecordReader::new(self.config.max_event_bytes);
        // Until SUBSCRIBED, the stream gets the subscribe timeout; then a
        // few heartbeat intervals.
        let mut silence = self.config.timeouts.subscribed;
        let mut last = tokio::time::Instant::now();
        let mut session: Option<Session> = None;
        loop {
            let reconcile_at = self.reconciler.next_deadline();
            tokio::select! {
                // The stream first: after the program was slow to take an
                // event, bytes waiting must win over an expired timer.
                biased;
                chunk = response.chunk() => {
                    let bytes = match chunk {
                        Ok(Some(b)) => b,
                        Ok(None) => return Flow::Reconnect(format!("{master} closed the event stream")),
                        Err(e) => return Flow::Reconnect(format!("the event stream from {master} broke: {}", describe(&e))),
                    };
                    let records = match reader.push(&bytes) {
                        Ok(r) => r,
                        Err(e) => return Flow::Reconnect(format!("{master} sent a malformed event stream: {e}")),
                    };
                    for record in records {
                        let ctx = StreamCtx { master: &master, url: &url, stream_id: &stream_id };
                        if let Some(flow) = self.record(&record, &ctx, &mut silence, &mut session).await {
                            return flow;
                        }
                    }
                    // Time spent waiting for the program is not the
                    // master's silence.
                    last = tokio::time::Instant::now();
                }
                ctl = self.control.recv() => match ctl {
                    Some(Control::Reconnect { reason, stream_id: of }) if of == stream_id => {
                        return Flow::Reconnect(reason)
                    }
                    Some(Control::Reconnect { .. }) => {
                        tracing::debug!("a call on an older stream found its master not leading")
                    }
                    Some(Control::Stop(r)) => return Flow::Stop(r),
                    None => {}
                },
                _ = self.events.closed() => return Flow::Stop(StopReason::Stopped),
                _ = sleep_until(last + silence) => {
                    let what = if session.is_some() {
                        format!("no event from {master} for {silence:?} ({} heartbeat intervals)", self.config.heartbeat_misses)
                    } else {
                        format!("{master} sent no SUBSCRIBED within {silence:?}")
                    };
                    return Flow::Reconnect(what);
                }
                _ = sleep_until_some(reconcile_at) => {
                    let due = self.reconciler.poll(Instant::now());
                    if !due.is_empty() {
                        tracing::info!(round = self.reconciler.rounds(), remaining = self.reconciler.remaining().len(), "reconciling tasks again");
                    }
                    self.send_reconciles(session.as_ref(), due);
                }
            }
        }
    }

    /// One event of the stream. Some(flow) ends the stream.
    async fn record(
        &mut self,
        record: &[u8],
        ctx: &StreamCtx<'_>,
        silence: &mut Duration,
        session: &mut Option<Session>,
    ) -> Option<Flow> {
        let event = match from_json_slice::<Event>(record) {
            Ok(e) => e,
            Err(e) => {
                // One bad event is skipped rather than the stream dropped:
                // subscribing again would bring the same event back.
                tracing::warn!(master = %ctx.master, error = %e, "skipped an event that does not parse");
                return None;
            }
        };
        let stopped = || Some(Flow::Stop(StopReason::Stopped));
        match Incoming::of(event) {
            Incoming::Subscribed {
                framework_id,
                heartbeat_interval,
                master_info,
            } => {
                *silence = heartbeat_interval.saturating_mul(self.config.heartbeat_misses.max(1));
                self.framework.id = Some(framework_id.clone());
                let s = Session {
                    master: ctx.master.to_string(),
                    url: ctx.url.clone(),
                    stream_id: ctx.stream_id.to_string(),
                    framework_id: framework_id.clone(),
                };
                self.session.send_replace(Some(s.clone()));
                *session = Some(s);
                self.backoff.reset();
                tracing::info!(master = %ctx.master, framework_id = %framework_id.value, ?heartbeat_interval, "subscribed");
                let event = SchedulerEvent::Subscribed {
                    framework_id,
                    master: ctx.master.to_string(),
                    heartbeat_interval,
                    master_info,
                };
                if self.events.send(event).await.is_err() {
                    return stopped();
                }
                let known = lock(&self.tasks).non_terminal();
                tracing::info!(tasks = known.len(), "reconciliation started");
                let calls = self.reconciler.start(Instant::now(), known);
                self.send_reconciles(session.as_ref(), calls);
            }
            Incoming::Update(status) => {
                lock(&self.tasks).updated(&status);
                self.reconciler.observe(&status.task_id, Instant::now());
                let ack =
                    calls::acknowledgement_of(&status).filter(|_| self.config.auto_acknowledge);
                // Handed over first, acknowledged after: see "at least
                // once" in the crate docs.
                if self
                    .events
                    .send(SchedulerEvent::Update(status))
                    .await
                    .is_err()
                {
                    return stopped();
                }
                if let (Some(call), Some(s)) = (ack, session.as_ref()) {
                    self.spawn_call(s, call, "ACKNOWLEDGE");
                }
            }
            Incoming::Heartbeat => tracing::trace!(master = %ctx.master, "heartbeat"),
            Incoming::Final(reason) => return Some(Flow::Stop(reason)),
            Incoming::Pass(event) => {
                if self.events.send(event).await.is_err() {
                    return stopped();
                }
            }
        }
        None
    }

    fn send_reconciles(&self, session: Option<&Session>, requests: Vec<ReconcileRequest>) {
        let Some(session) = session else { return };
        for tasks in requests {
            self.spawn_call(session, calls::reconcile(tasks), "RECONCILE");
        }
    }

    /// Sends a call of the scheduler's own in the background, so the
    /// stream is read on meanwhile. A lost leader makes the driver move.
    fn spawn_call(&self, session: &Session, call: Call, what: &'static str) {
        let transport = self.transport.clone();
        let session = session.clone();
        let control = self.control_tx.clone();
        tokio::spawn(async move {
            match transport.call(&session, call).await {
                Ok(()) => tracing::debug!(call = what, master = %session.master, "call accepted"),
                Err(e) => {
                    tracing::warn!(call = what, master = %session.master, error = %e, "call failed");
                    if let crate::CallError::NotLeader { detail, .. } = e {
                        let _ = control.send(Control::Reconnect {
                            reason: format!(
                                "{what} found {} no longer leading: {detail}",
                                session.master
                            ),
                            stream_id: session.stream_id,
                        });
                    }
                }
            }
        });
    }
}

/// The stream being read, for the sessions its SUBSCRIBED makes.
struct StreamCtx<'a> {
    master: &'a str,
    url: &'a reqwest::Url,
    stream_id: &'a str,
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The task table; a panic elsewhere while it was held leaves it usable
/// (every change to it is a single insert or remove).
pub fn lock(tasks: &Mutex<TaskTable>) -> std::sync::MutexGuard<'_, TaskTable> {
    tasks.lock().unwrap_or_else(|p| p.into_inner())
}
