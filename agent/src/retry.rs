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
//! - A round that ended without a registration in which some master knew
//!   no leader (an election under way) is retried after a short jittered
//!   wait ([`ELECTION_RETRY`]) that does not double, a few times in a
//!   row: an election takes a few hundred ms, and the doubling backoff
//!   left the unlucky agents of a failover waiting seconds more.
//! - A redirect to a master that did not answer in this round (the dead
//!   leader, which a follower keeps naming until the election) is read as
//!   "no leader": followed, it cost an attempt at the dead master, and
//!   three of them in a row the doubling backoff; with 1,000 agents the
//!   last came back 3.9 s after the kill, after up to 11 sessions.

use crate::masters::MasterAddr;
use crate::session::link::SessionEnd;

/// Redirects followed in a row without a registration before the agent
/// backs off anyway.
pub const MAX_REDIRECTS_IN_A_ROW: u32 = 3;

/// The longest short wait after a round that met an election (full
/// jitter below it, so agents that met the same election do not come back
/// in one burst).
pub const ELECTION_RETRY: std::time::Duration = std::time::Duration::from_millis(400);
/// Short waits in a row before the doubling backoff takes over (a group
/// without a quorum has no leader for long).
pub const MAX_ELECTION_RETRIES: u32 = 3;

/// The wait of [`Next::AfterElection`].
pub fn election_delay<R: rand::Rng + ?Sized>(rng: &mut R) -> std::time::Duration {
    ELECTION_RETRY.mul_f64(rng.gen::<f64>())
}

/// What to do after a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the next master now.
    Now,
    /// Wait the backoff's next delay, then try the next master.
    Backoff,
    /// Wait [`election_delay`], then try the next master (the backoff
    /// does not grow).
    AfterElection,
    /// Stop following (shutdown, credentials refused, fatal).
    Stop,
}

/// The agent's retry state across sessions.
#[derive(Debug, Default, Clone)]
pub struct Retry {
    redirects: u32,
    /// Masters whose session was lost (or never opened) since the last
    /// failed round.
    silent: Vec<MasterAddr>,
    /// A master of the current round knew no leader.
    no_leader_in_round: bool,
    /// [`Next::AfterElection`] answers in a row.
    election_retries: u32,
}

impl Retry {
    /// How a session with `addr` that ended with `end` is to be read: a
    /// redirect to a master that did not answer becomes
    /// [`SessionEnd::NoLeader`]. Call before [`Retry::after`].
    pub fn read(&mut self, addr: &MasterAddr, end: SessionEnd, registered: bool) -> SessionEnd {
        if registered {
            self.silent.clear();
        }
        match end {
            SessionEnd::Lost(why) => {
                if !self.silent.contains(addr) {
                    self.silent.push(addr.clone());
                }
                SessionEnd::Lost(why)
            }
            SessionEnd::Redirect(leader) if self.silent.contains(&leader) => {
                SessionEnd::NoLeader(format!(
                    "{addr} names {leader} as the leader, which did not answer; an election is \
                     likely under way"
                ))
            }
            other => other,
        }
    }

    /// A session ended with `end`; `registered`: the agent was registered
    /// in it; `round_left`: masters of the current round are still
    /// untried.
    pub fn after(&mut self, end: &SessionEnd, registered: bool, round_left: bool) -> Next {
        if registered {
            self.redirects = 0;
            self.no_leader_in_round = false;
            self.election_retries = 0;
        }
        if matches!(end, SessionEnd::NoLeader(_)) {
            self.no_leader_in_round = true;
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
            SessionEnd::NoLeader(_) | SessionEnd::Lost(_) if registered => Next::Backoff,
            SessionEnd::NoLeader(_) | SessionEnd::Lost(_) => {
                // A failed round: every master gets its chance again.
                self.silent.clear();
                if self.no_leader_in_round && self.election_retries < MAX_ELECTION_RETRIES {
                    self.election_retries += 1;
                    Next::AfterElection
                } else {
                    self.election_retries = 0;
                    Next::Backoff
                }
            }
        };
        self.redirects = 0;
        self.no_leader_in_round = false;
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
        // A round that met an election waits briefly (see below).
        assert_eq!(retry.after(&no_leader, false, false), Next::AfterElection);
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
    fn a_round_that_met_an_election_is_retried_soon_a_few_times_then_backs_off() {
        let mut retry = Retry::default();
        let no_leader = || SessionEnd::NoLeader("election".into());
        for _ in 0..MAX_ELECTION_RETRIES {
            assert_eq!(retry.after(&lost(), false, true), Next::Now);
            assert_eq!(retry.after(&no_leader(), false, true), Next::Now);
            assert_eq!(retry.after(&no_leader(), false, false), Next::AfterElection);
        }
        // No leader for this long: a group without a quorum.
        assert_eq!(retry.after(&no_leader(), false, false), Next::Backoff);
        // A registration starts the count again.
        assert_eq!(retry.after(&lost(), true, true), Next::Backoff);
        assert_eq!(retry.after(&no_leader(), false, false), Next::AfterElection);
    }

    #[test]
    fn a_round_of_unreachable_masters_backs_off() {
        let mut retry = Retry::default();
        assert_eq!(retry.after(&lost(), false, true), Next::Now);
        assert_eq!(retry.after(&lost(), false, false), Next::Backoff);
    }

    #[test]
    fn a_redirect_to_the_master_that_just_died_is_read_as_no_leader() {
        let mut retry = Retry::default();
        let dead: MasterAddr = "m1:5050".parse().unwrap();
        let follower: MasterAddr = "m2:5050".parse().unwrap();
        // Registered with m1, which dies.
        let end = retry.read(&dead, lost(), true);
        assert_eq!(retry.after(&end, true, true), Next::Backoff);
        // m2 still names m1 until the election ends.
        let end = retry.read(&follower, SessionEnd::Redirect(dead.clone()), false);
        assert!(matches!(end, SessionEnd::NoLeader(_)), "{end:?}");
        assert_eq!(retry.after(&end, false, true), Next::Now);
        // A redirect to a master that answered is followed.
        let other: MasterAddr = "m3:5050".parse().unwrap();
        let end = retry.read(&follower, SessionEnd::Redirect(other.clone()), false);
        assert_eq!(end, SessionEnd::Redirect(other));
    }

    #[test]
    fn a_failed_round_gives_every_master_its_chance_again() {
        let mut retry = Retry::default();
        let m1: MasterAddr = "m1:5050".parse().unwrap();
        let m2: MasterAddr = "m2:5050".parse().unwrap();
        let end = retry.read(&m1, lost(), false);
        assert_eq!(retry.after(&end, false, true), Next::Now);
        let end = retry.read(&m2, lost(), false);
        assert_eq!(retry.after(&end, false, false), Next::Backoff);
        // After the backoff m1 may lead.
        let end = retry.read(&m2, SessionEnd::Redirect(m1.clone()), false);
        assert_eq!(end, SessionEnd::Redirect(m1));
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
