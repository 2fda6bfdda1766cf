//! The simulator's bookkeeping, without I/O: counters over every agent of
//! the process, and the report lines (JSON, one per line) that record
//! each (re-)registration with its time, so a reader can tell when every
//! agent was back after a failover and how fast the new leader took them.
//!
//! Report lines, each an object with a `kind`:
//! - `start`: the simulator's parameters;
//! - `registered`: one agent (re-)registered: `agent` (its name),
//!   `agent_id`, `master`, `again` (a re-registration), `at_ns` (Unix ns
//!   when the answer arrived), `attempt_started_ns` (when the session
//!   that succeeded was opened) and `attempts` (sessions it took since it
//!   was last registered, this one included);
//! - `progress`: the counters ([`Tally`]), every second;
//! - `stopped`: an agent stopped for good (`why`: shut down by the master,
//!   or refused credentials).

use serde::Serialize;

/// Unix time in nanoseconds.
pub type UnixNs = i64;

/// How one session of one agent ended, as the counters see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A master named the leader; the agent goes there.
    Redirected,
    /// A master knew no leader (or was not ready).
    NoLeader,
    /// Unreachable, or the stream broke or fell silent.
    Lost,
    /// Told to shut down, or credentials refused: the agent stops.
    Stopped,
}

/// Counters over all agents of one simulator process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Agents simulated.
    pub agents: u64,
    /// Agents registered with a master now.
    pub registered_now: u64,
    /// Sessions opened (connection attempts), since the start.
    pub attempts: u64,
    pub first_registrations: u64,
    pub reregistrations: u64,
    pub redirects: u64,
    pub no_leader: u64,
    pub lost: u64,
    /// Agents stopped for good.
    pub stopped: u64,
    /// Status updates sent for launched or killed tasks (`--tasks`).
    pub updates_sent: u64,
}

impl Tally {
    pub fn new(agents: u64) -> Self {
        Self {
            agents,
            ..Self::default()
        }
    }

    pub fn attempt(&mut self) {
        self.attempts += 1;
    }

    pub fn registered(&mut self, again: bool) {
        if again {
            self.reregistrations += 1;
        } else {
            self.first_registrations += 1;
        }
        self.registered_now += 1;
    }

    /// A session ended; `was_registered` if it had been registered.
    pub fn ended(&mut self, ending: Ending, was_registered: bool) {
        if was_registered {
            self.registered_now = self.registered_now.saturating_sub(1);
        }
        match ending {
            Ending::Redirected => self.redirects += 1,
            Ending::NoLeader => self.no_leader += 1,
            Ending::Lost => self.lost += 1,
            Ending::Stopped => self.stopped += 1,
        }
    }
}

/// One line of the report file.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportLine {
    Start {
        at_ns: UnixNs,
        pid: u32,
        agents: u64,
        id_prefix: String,
        hostname_prefix: String,
        tasks_per_agent: usize,
        agents_per_connection: usize,
        connect_rate: usize,
        masters: Vec<String>,
    },
    Registered {
        at_ns: UnixNs,
        agent: String,
        agent_id: String,
        master: String,
        again: bool,
        attempt_started_ns: UnixNs,
        attempts: u32,
    },
    Progress {
        at_ns: UnixNs,
        #[serde(flatten)]
        tally: Tally,
    },
    Stopped {
        at_ns: UnixNs,
        agent: String,
        why: String,
    },
}

impl ReportLine {
    /// The line as written: compact JSON, no newline.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"kind\":\"error\",\"error\":{:?}}}", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_registrations_and_endings() {
        let mut t = Tally::new(3);
        for _ in 0..3 {
            t.attempt();
            t.registered(false);
        }
        assert_eq!((t.registered_now, t.first_registrations), (3, 3));
        // The leader dies: every session is lost, then one agent is
        // redirected once and all come back.
        for _ in 0..3 {
            t.ended(Ending::Lost, true);
        }
        assert_eq!(t.registered_now, 0);
        t.attempt();
        t.ended(Ending::Redirected, false);
        for _ in 0..3 {
            t.attempt();
            t.registered(true);
        }
        assert_eq!(
            t,
            Tally {
                agents: 3,
                registered_now: 3,
                attempts: 7,
                first_registrations: 3,
                reregistrations: 3,
                redirects: 1,
                no_leader: 0,
                lost: 3,
                stopped: 0,
                updates_sent: 0,
            }
        );
        // An unregistered session's end never drives the gauge below zero.
        let mut t = Tally::new(1);
        t.ended(Ending::NoLeader, true);
        assert_eq!((t.registered_now, t.no_leader), (0, 1));
    }

    #[test]
    fn lines_are_tagged_json_objects() {
        let line = ReportLine::Registered {
            at_ns: 5,
            agent: "a-1".into(),
            agent_id: "c-S1".into(),
            master: "127.0.0.1:5050".into(),
            again: true,
            attempt_started_ns: 4,
            attempts: 2,
        };
        let v: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(v["kind"], "registered");
        assert_eq!(v["again"], true);
        assert_eq!(v["at_ns"], 5);
        let progress = ReportLine::Progress {
            at_ns: 9,
            tally: Tally::new(4),
        };
        let v: serde_json::Value = serde_json::from_str(&progress.to_json()).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["agents"].as_u64()),
            (Some("progress"), Some(4))
        );
        assert!(!progress.to_json().contains('\n'));
    }
}
