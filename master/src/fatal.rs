//! Stopping the master on purpose when it can no longer take part.
//!
//! A master whose Raft core stopped (a storage error, an openraft fatal
//! error) can only answer 503 and 504; staying up hides the failure from
//! whatever supervises the process. [`watch_core`] notices, logs what
//! happened, and stops the master with a [`FatalStop`] reason, which makes
//! `mesoraft master` exit non-zero so a supervisor restarts it (the restart
//! reopens the storage and reports damage, if any, with the repair). The
//! removal check (`removal`) stops a master the same way.

use std::sync::{Arc, OnceLock};

use mesoraft_raft::openraft::ServerState;
use mesoraft_raft::RaftMetrics;
use tokio_util::sync::CancellationToken;

use crate::Master;

/// Why a master stopped by itself; set at most once. The master's handle
/// turns it into the error `mesoraft master` exits with.
#[derive(Clone, Debug, Default)]
pub struct FatalStop(Arc<OnceLock<String>>);

impl FatalStop {
    /// Records `reason` (the first one wins) and stops the master.
    pub fn stop(&self, reason: String, shutdown: &CancellationToken) {
        let _ = self.0.set(reason);
        shutdown.cancel();
    }

    pub fn reason(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Why the Raft core is no longer running, per its metrics; None while it
/// runs.
pub fn core_stopped(m: &RaftMetrics) -> Option<String> {
    match &m.running_state {
        Err(fatal) => Some(fatal.to_string()),
        Ok(()) if m.state == ServerState::Shutdown => Some("the core shut down".to_string()),
        Ok(()) => None,
    }
}

/// The message for a stopped core: what happened, what to do, where the
/// data is.
pub fn core_stopped_message(reason: &str, work_dir: &std::path::Path) -> String {
    format!(
        "Raft core stopped ({reason}): this master can no longer take part in the group, so it \
         exits with an error for its supervisor to restart it; its data is in {}",
        work_dir.display()
    )
}

/// Follows the core's metrics until the master shuts down; stops the
/// master when the core stops on its own (or its metrics channel closes,
/// which only happens when the core is gone).
pub async fn watch_core(master: Arc<Master>, shutdown: CancellationToken, fatal: FatalStop) {
    let mut metrics = master.raft.metrics();
    let reason = loop {
        if let Some(reason) = core_stopped(&metrics.borrow_and_update()) {
            break reason;
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() {
                break "its metrics channel closed".to_string();
            },
            _ = shutdown.cancelled() => return,
        }
    };
    if shutdown.is_cancelled() {
        // The master is stopping anyway and stopped the core itself.
        return;
    }
    let message = core_stopped_message(&reason, &master.args.work_dir);
    tracing::error!(
        node_id = master.id,
        error = %reason,
        work_dir = %master.args.work_dir.display(),
        "{message}"
    );
    fatal.stop(message, &shutdown);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_raft::openraft::error::Fatal;

    #[test]
    fn a_running_core_is_fine_and_a_fatal_one_is_reported() {
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Follower;
        assert_eq!(core_stopped(&m), None);
        m.running_state = Err(Fatal::Panicked);
        let reason = core_stopped(&m).expect("stopped");
        assert!(reason.contains("panic"), "{reason}");
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Shutdown;
        assert!(core_stopped(&m).is_some());
    }

    #[test]
    fn the_message_says_what_happened_what_to_do_and_where_the_data_is() {
        let message = core_stopped_message("storage error", std::path::Path::new("/var/lib/m"));
        for part in [
            "Raft core stopped",
            "storage error",
            "supervisor",
            "/var/lib/m",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }

    #[test]
    fn the_first_reason_wins_and_stops_the_master() {
        let fatal = FatalStop::default();
        let shutdown = CancellationToken::new();
        fatal.stop("first".into(), &shutdown);
        fatal.stop("second".into(), &shutdown);
        assert_eq!(fatal.reason(), Some("first"));
        assert!(shutdown.is_cancelled());
    }
}
