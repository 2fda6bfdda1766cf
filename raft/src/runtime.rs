//! The thread the Raft core runs on, apart from everything else a master
//! serves.
//!
//! A leader keeps its lease only while a quorum accepts its
//! AppendEntries within the election timeout (300 ms by default). On the
//! runtime that also carries thousands of agent sessions, a
//! re-registration storm after a failover queued the heartbeat tasks
//! behind session tasks for longer than that: the new leader lost its
//! lease, dropped every session, and started the next storm. The Raft
//! core, its replication streams, the peer connections they open and the
//! election timer therefore run on a runtime of their own, on its own OS
//! thread, which the kernel schedules beside the busy workers instead of
//! behind their queue.
//!
//! Everything spawned from a task on this runtime stays on it (openraft
//! spawns its core, replication and state-machine tasks with
//! `tokio::spawn`; tonic spawns a channel's connection task where the
//! channel is first used), so starting the core here is enough.

use std::future::Future;
use std::thread::JoinHandle;

use thiserror::Error;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A tokio runtime on a thread of its own. Dropping it stops the runtime
/// (its tasks are dropped at their next await) and joins the thread.
pub struct RaftRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("cannot start the Raft runtime thread: {0}")]
    Start(std::io::Error),
    #[error(
        "a task on the Raft runtime ended without an answer (panicked or the runtime stopped)"
    )]
    TaskLost,
}

impl RaftRuntime {
    /// Starts the thread, named `thread_name` in `top` and in panics.
    pub fn start(thread_name: &str) -> Result<Self, RuntimeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{thread_name}-blocking"))
            .build()
            .map_err(RuntimeError::Start)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || {
                // Runs the spawned tasks until told to stop (or until every
                // sender is gone, which is the same).
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Dropping a runtime waits for its blocking tasks; a sled
                // flush in flight finishes instead of being cut off.
                drop(runtime);
            })
            .map_err(RuntimeError::Start)?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `fut` on this runtime and waits for its output from any
    /// runtime.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, RuntimeError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .spawn(fut)
            .await
            .map_err(|_| RuntimeError::TaskLost)
    }
}

impl Drop for RaftRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joining from a runtime's worker would block it; the thread
            // ends by itself once its runtime has stopped.
            if Handle::try_current().is_err() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_runs_on_the_dedicated_thread_and_what_it_spawns_stays_there() {
        let runtime = RaftRuntime::start("raft-test").unwrap();
        let names = runtime
            .run(async {
                let outer = std::thread::current().name().map(str::to_string);
                let inner =
                    tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                        .await
                        .unwrap();
                (outer, inner)
            })
            .await
            .unwrap();
        assert_eq!(names.0.as_deref(), Some("raft-test"));
        assert_eq!(names.1.as_deref(), Some("raft-test"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_runs_while_the_callers_runtime_is_blocked() {
        let runtime = RaftRuntime::start("raft-test").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.handle().spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        });
        // The caller's only thread blocks; the task still runs.
        let name = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the Raft runtime ran nothing while the caller blocked");
        assert_eq!(name.as_deref(), Some("raft-test"));
    }

    #[test]
    fn dropping_it_outside_a_runtime_joins_the_thread() {
        let runtime = RaftRuntime::start("raft-test").unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        runtime.handle().spawn(async move {
            // Held until the runtime drops this task.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(runtime);
        // The task was dropped with the runtime: its sender is gone.
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
