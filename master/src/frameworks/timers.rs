//! What time passing does: heartbeats on subscribed streams, failover
//! timers running out, failed writes tried again.

use super::table::Presence;
use super::{Action, FrameworkTable, Now, SchedulerEvent};

impl FrameworkTable {
    pub(super) fn on_tick(&mut self, now: Now, out: &mut Vec<Action>) {
        let heartbeat = self.policy.heartbeat_interval;
        let mut expired = Vec::new();
        let mut retries = Vec::new();
        for (framework_id, entry) in &mut self.frameworks {
            match &mut entry.presence {
                Presence::Connected {
                    stream,
                    next_heartbeat,
                } if *next_heartbeat <= now.instant => {
                    out.push(Action::Send {
                        stream: *stream,
                        event: SchedulerEvent::Heartbeat,
                    });
                    *next_heartbeat = now.instant + heartbeat;
                }
                Presence::Recovered {
                    failover: Some(failover),
                }
                | Presence::Disconnected { failover }
                    if failover.deadline.is_some_and(|at| at <= now.instant) =>
                {
                    expired.push(framework_id.clone());
                }
                _ => {}
            }
            if entry.retry_at.is_some_and(|at| at <= now.instant) {
                entry.retry_at = None;
                retries.push(framework_id.clone());
            }
        }
        for framework_id in expired {
            tracing::info!(framework_id, "framework failover timeout expired");
            self.begin_removal(&framework_id, None, now, out);
        }
        for framework_id in retries {
            self.sync(&framework_id, now, out);
        }
    }
}
