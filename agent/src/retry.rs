//! What an agent does when a session with a master ends, decided without
//! I/O: try the next master at once, wait its jittered backoff first, or
//! stop.
//!
//! - A redirect ("not the leader, the leader is X") is followed at once,
//!   a few times in a row (two masters naming each other during an
//!   election must not make the agent spin).
//! - A lost session in which the agent was registered waits the jittered
//!   backoff: every agent of the cluster loses its session in the same
//!   instant when the leader dies, and the jitter spreads their return
//!   (MESOS-5330). The next round then tries every master.
//! - An attempt that registered nothing (the connection refused by a dead
//!   master, a master that knows no leader) moves on to the round's next
//!   master at once; only a round in which every master failed backs off.
//!   Backing off after each such attempt made an agent that first tried
//!   the dead leader wait up to twice the backoff factor more, and after a
//!   second unlucky pick four times: with 1,000 agents the last of them
//!   came back 9-11 s after a leader's death, half of them after 0.8 s.

use crate::session::link::SessionEnd;

/// Redirects followed in a row without a registration before the agent
/// backs off anyway.
pub const MAX_REDIRECTS_IN_A_ROW: u32 = 3;

/// What to do after a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the next master now.
    Now,
    /// Wait the backoff's next delay, then try the next master.
    Backoff,
    /// Stop following (shutdown, credentials refused, fatal).
    Stop,
}

/// The agent's retry state across sessions.
#[derive(Debug, Default, Clone)]
pub struct Retry {
    redirects: u32,
}

impl Retry {
    /// A session ended with `end`; `registered`: the agent was registered
    /// in it; `round_left`: masters of the current round are still
    /// untried.
    pub fn after(&mut self, end: &SessionEnd, registered: bool, round_left: bool) -> Next {
        if registered {
            self.redirects = 0;
        }
        let next = match end {
            SessionEnd::Shutdown(_) | SessionEnd::Unauthorized(_) | SessionEnd::Fatal(_) => {
                return Next::Stop
            }
            SessionEnd::Redirect(_) => {
                self.redirects += 1;
                if self.redirects <= MAX_REDIRECTS_IN_A_ROW {
                    return Next::Now;
                }
                Next::Backoff
            }
            SessionEnd::NoLeader(_) | SessionEnd::Lost(_) if !registered && round_left => Next::Now,
            SessionEnd::NoLeader(_) | SessionEnd::Lost(_) => Next::Backoff,
        };
        self.redirects = 0;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> SessionEnd {
        SessionEnd::Lost("connection refused".into())
    }

    #[test]
    fn a_failed_attempt_tries_the_rest_of_the_round_before_backing_off() {
        let mut retry = Retry::default();
        // Three masters: the dead leader refuses, a follower knows no
        // leader yet, the last one too: only then the backoff.
        assert_eq!(retry.after(&lost(), false, true), Next::Now);
        let no_leader = SessionEnd::NoLeader("election".into());
        assert_eq!(retry.after(&no_leader, false, true), Next::Now);
        assert_eq!(retry.after(&no_leader, false, false), Next::Backoff);
    }

    #[test]
    fn losing_a_registered_session_waits_the_jittered_backoff() {
        let mut retry = Retry::default();
        assert_eq!(retry.after(&lost(), true, true), Next::Backoff);
        assert_eq!(
            retry.after(&SessionEnd::NoLeader("stepped down".into()), true, true),
            Next::Backoff
        );
    }

    #[test]
    fn redirects_are_followed_a_few_times_in_a_row() {
        let mut retry = Retry::default();
        let redirect = SessionEnd::Redirect("127.0.0.1:5050".parse().unwrap());
        for _ in 0..MAX_REDIRECTS_IN_A_ROW {
            assert_eq!(retry.after(&redirect, false, false), Next::Now);
        }
        assert_eq!(retry.after(&redirect, false, false), Next::Backoff);
        // The count starts again after a backoff and after a registration.
        assert_eq!(retry.after(&redirect, false, false), Next::Now);
        assert_eq!(retry.after(&redirect, true, false), Next::Now);
        assert_eq!(retry.after(&redirect, false, false), Next::Now);
    }

    #[test]
    fn shutdown_credentials_and_fatal_ends_stop() {
        let mut retry = Retry::default();
        for end in [
            SessionEnd::Shutdown("gone".into()),
            SessionEnd::Unauthorized("secret".into()),
            SessionEnd::Fatal("disk".into()),
        ] {
            assert_eq!(retry.after(&end, true, true), Next::Stop);
        }
    }
}
