//! A scheduler library for the Mesos v1 scheduler HTTP API that the
//! mesoraft masters serve (`POST /api/v1/scheduler`), and `mesoraft
//! execute` built on it.
//!
//! # Use
//!
//! ```no_run
//! use mesoraft_client::{framework_info, parse_masters, Config, Scheduler, SchedulerEvent};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let masters = parse_masters("10.0.0.1:5050,10.0.0.2:5050,10.0.0.3:5050")?;
//! let config = Config::new(masters, framework_info("my-framework", "nobody"));
//! let (handle, mut events) = Scheduler::connect(config)?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         SchedulerEvent::Offers(offers) => {
//!             let ids = offers.into_iter().map(|o| o.id).collect();
//!             handle.decline(ids, None).await?;
//!         }
//!         SchedulerEvent::Update(status) => println!("{:?}", status.state()),
//!         SchedulerEvent::Stopped(why) => eprintln!("stopped: {why}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `examples/echo_tasks.rs` launches N `echo` tasks and exits when they
//! have all ended: `cargo run --release -p mesoraft-client --example
//! echo_tasks -- --masters HOST:PORT,... --count 3`. [`execute`] is a fuller
//! program on the same API (`mesoraft execute`).
//!
//! # What the scheduler does by itself
//!
//! * **Finds the leader.** It SUBSCRIBEs to a master of the list; a `307`
//!   names the leader (`Location: //host:port/api/v1/scheduler`), which it
//!   follows and adds to its list; a `503`, a refused connection or a
//!   timeout moves it to the next master; after a round without a leader
//!   it waits a truncated exponential backoff with full jitter.
//! * **Stays subscribed.** Calls carry the `Mesos-Stream-Id` of the stream
//!   and go to the master that opened it. When the stream ends, breaks,
//!   sends nothing for `heartbeat_misses` heartbeat intervals (SUBSCRIBED
//!   announces the interval), or a call is answered `307`/`503`, the
//!   program gets [`SchedulerEvent::Disconnected`] and the scheduler
//!   subscribes again with the FrameworkID it was given, wherever the
//!   leader now is, then sends [`SchedulerEvent::Subscribed`] again.
//!   Offers from before are void then.
//! * **Reconciles.** After every (re-)subscription it runs the algorithm
//!   of Mesos's reconciliation guide ([`reconcile`]): an explicit RECONCILE
//!   of every non-terminal task it knows (launched through the handle,
//!   given in [`Config::known_tasks`] or [`SchedulerHandle::track_task`]),
//!   an implicit one, then explicit ones again with doubling waits until
//!   every such task had an update after the start. One at a time.
//! * **Stops** with [`SchedulerEvent::Stopped`] on an ERROR event (the
//!   framework was removed, or failed over to another process), a SUBSCRIBE
//!   refused with a 4xx, TEARDOWN, [`SchedulerHandle::stop`],
//!   [`Config::give_up_after`] without a leader, or when [`Events`] is
//!   dropped.
//!
//! # Status updates: at least once
//!
//! An UPDATE whose status has a `uuid` is resent by the agent until it is
//! acknowledged. With [`Config::auto_acknowledge`] (the default), the
//! scheduler sends the ACKNOWLEDGE as soon as the event was *handed over*
//! (queued in [`Events`]), not when the program has acted on it. So:
//!
//! * an update can arrive more than once (the stream broke before the
//!   acknowledgement reached the agent, a master failed over): handle them
//!   idempotently;
//! * a program that crashes right after an acknowledged update was queued
//!   loses it; the task's state is not lost with it (reconciliation asks
//!   again), but a program that must act on every update exactly once
//!   turns `auto_acknowledge` off, records the update durably, and then
//!   calls [`SchedulerHandle::acknowledge_status`].
//!
//! Updates without a `uuid` (answers to reconciliation, updates the master
//! makes) need no acknowledgement.
//!
//! # Errors
//!
//! A call answers [`CallError`]: `NotSubscribed`, `NotSent`, `NotLeader` and
//! `Refused` (a 4xx, with the master's message) were certainly not acted on;
//! `MaybeSent` (a timeout or reset after sending, a 5xx) may have been
//! ([`CallError::certainly_not_acted_on`]).
//!
//! # What the master must do (the wire contract relied on)
//!
//! `POST /api/v1/scheduler` with `Content-Type: application/json`,
//! `Accept: application/json`, the cluster secret's `x-mesoraft-auth` header
//! when configured, and `Mesos-Stream-Id` on every call but SUBSCRIBE.
//! SUBSCRIBE: `200` with a chunked RecordIO body of JSON events and the
//! `Mesos-Stream-Id` header; first event SUBSCRIBED. Calls: any `2xx`
//! (`202`). Not the leader: `307` with a `Location` (scheme-relative, or
//! absolute with the same scheme). No leader: `503`. Refused: `4xx` with
//! the reason as text or `{"error": ...}`.
//!
//! # Tests
//!
//! The unit tests cover the pure parts (RecordIO, backoff, reconciliation,
//! the master list, resources, `execute`'s decisions); `tests/` runs the
//! scheduler against fake masters (an axum server that redirects to
//! another, which streams events and records calls). Against real
//! masters: `mesoraft execute` end to end (`tests/e2e/execute.rs` at the
//! workspace root), and the Jepsen `tasks` workload
//! (`jepsen/tests/tasks.rs`), whose frameworks are schedulers of this
//! library: leaders killed mid-stream (the scheduler re-subscribes with its
//! FrameworkID to the new leader and reconciles), agents killed and paused,
//! every launch, status and acknowledgement checked.

pub mod backoff;
pub mod calls;
pub mod config;
mod driver;
pub mod error;
pub mod event;
pub mod execute;
mod handle;
pub mod masters;
pub mod reconcile;
pub mod recordio;
pub mod resources;
mod subscribe;
pub mod tasks;
mod transport;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

pub use config::{current_user, framework_info, Config, Timeouts};
pub use error::{CallError, ConfigError, StopReason};
pub use event::SchedulerEvent;
pub use handle::{Events, SchedulerHandle};
pub use masters::parse_masters;
pub use mesoraft_ctl::security::{ClientSecurity, SecurityArgs};
pub use tasks::is_terminal;
pub use transport::{API_PATH, STREAM_ID_HEADER};

/// Starting a scheduler.
pub struct Scheduler;

impl Scheduler {
    /// Checks `config` and starts the scheduler in the background (needs a
    /// tokio runtime). It subscribes at once; calls fail with
    /// `NotSubscribed` until [`SchedulerEvent::Subscribed`] (or use
    /// [`SchedulerHandle::subscribed`]).
    pub fn connect(config: Config) -> Result<(SchedulerHandle, Events), ConfigError> {
        config.check()?;
        let transport = Arc::new(transport::Transport::new(
            config.security.clone(),
            config.timeouts,
        )?);
        let tasks = Arc::new(Mutex::new(tasks::TaskTable::default()));
        for (task, agent) in &config.known_tasks {
            driver::lock(&tasks).launched(task, agent.clone());
        }
        let (session_tx, session_rx) = watch::channel(None);
        let (events_tx, events_rx) = mpsc::channel(config.event_buffer.max(1));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let driver = driver::Driver {
            masters: masters::MasterList::new(config.masters.clone()),
            framework: config.framework.clone(),
            transport: transport.clone(),
            session: session_tx,
            events: events_tx,
            control: control_rx,
            control_tx: control_tx.clone(),
            tasks: tasks.clone(),
            reconciler: reconcile::Reconciler::new(config.reconciliation),
            backoff: backoff::Backoff::new(config.backoff_base, config.backoff_cap),
            config,
        };
        tokio::spawn(driver.run());
        let handle = SchedulerHandle {
            transport,
            session: session_rx,
            control: control_tx,
            tasks,
        };
        Ok((handle, Events { rx: events_rx }))
    }
}
