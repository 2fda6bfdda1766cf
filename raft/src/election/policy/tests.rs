use super::*;

const TICK: Duration = Duration::from_millis(5);

fn timing() -> ElectionTiming {
    ElectionTiming::from_flags(50, 150, 300)
}

/// A follower that last heard the leader at `heard` (ms after `t0`),
/// ticked every 5 ms from `from` to `to` ms; returns the ms of the
/// campaigns.
struct Run {
    t0: Instant,
    policy: ElectionPolicy,
    obs: Observation,
    heard: Duration,
}

impl Run {
    fn new(rank: usize) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            policy: ElectionPolicy::new(timing()),
            obs: Observation {
                now: t0,
                allowed: true,
                voter: true,
                leader: false,
                sole_voter: false,
                silence: Duration::ZERO,
                rank,
                newer_log_seen: None,
            },
            heard: Duration::ZERO,
        }
    }

    fn at(&mut self, ms: u64) -> Decision {
        let since = Duration::from_millis(ms);
        self.obs.now = self.t0 + since;
        self.obs.silence = since.saturating_sub(self.heard);
        self.policy.decide(&self.obs, 0.5)
    }

    fn campaigns(&mut self, from: u64, to: u64) -> Vec<u64> {
        (from..=to)
            .step_by(TICK.as_millis() as usize)
            .filter(|ms| self.at(*ms) == Decision::Campaign)
            .collect()
    }
}

#[test]
fn the_first_ranked_follower_campaigns_just_after_the_lease() {
    let mut r = Run::new(0);
    // lease 300 + margin 5.
    assert_eq!(r.campaigns(0, 320), vec![305]);
}

#[test]
fn the_second_ranked_follower_campaigns_one_stagger_later() {
    let mut r = Run::new(1);
    assert_eq!(r.campaigns(0, 500), vec![405]);
}

#[test]
fn a_heard_leader_keeps_everyone_quiet() {
    let mut r = Run::new(0);
    for ms in (0..2_000).step_by(5) {
        if ms % 50 == 0 {
            r.heard = Duration::from_millis(ms);
        }
        assert_eq!(r.at(ms), Decision::Wait, "at {ms} ms");
    }
}

#[test]
fn failed_campaigns_are_retried_after_growing_delays() {
    let mut r = Run::new(0);
    // jitter 0.5: 112.5 ms ([75, 150)), then 225 ([150, 300)), then 450
    // ([300, 600)), then capped: 450 ([300, 600)) again.
    assert_eq!(r.campaigns(0, 1_600), vec![305, 420, 645, 1_095, 1_545]);
}

#[test]
fn a_new_leader_ends_the_retries() {
    let mut r = Run::new(0);
    assert_eq!(r.campaigns(0, 305), vec![305]);
    // Another node won and is heard at 330 ms, then dies at once.
    r.heard = Duration::from_millis(330);
    assert_eq!(r.campaigns(310, 330 + 300), Vec::<u64>::new());
    assert_eq!(r.campaigns(635, 650), vec![635]);
}

#[test]
fn a_resumed_process_waits_for_queued_heartbeats() {
    let mut r = Run::new(0);
    assert_eq!(r.at(0), Decision::Wait);
    // SIGSTOPped from 5 ms to 1,000 ms: the first tick after the resume
    // sees a second of silence, but the leader's heartbeats are queued.
    assert_eq!(r.at(1_000), Decision::Wait);
    assert_eq!(r.at(1_050), Decision::Wait);
    // They arrive within the grace: nothing happens.
    r.heard = Duration::from_millis(1_060);
    assert_eq!(r.campaigns(1_060, 1_300), Vec::<u64>::new());
}

#[test]
fn a_resumed_process_campaigns_after_the_grace_if_the_leader_stays_silent() {
    let mut r = Run::new(0);
    assert_eq!(r.at(0), Decision::Wait);
    assert_eq!(r.at(1_000), Decision::Wait);
    // grace = 2 heartbeats = 100 ms.
    assert_eq!(r.campaigns(1_005, 1_200), vec![1_100]);
}

#[test]
fn a_node_behind_a_voter_holds_back() {
    let mut r = Run::new(0);
    // A voter refused this node's vote for a newer log 100 ms ago: no
    // campaign until 2 x lease have passed since.
    r.obs.newer_log_seen = Some(Duration::from_millis(100));
    assert_eq!(r.campaigns(0, 400), Vec::<u64>::new());
    r.obs.newer_log_seen = Some(Duration::from_millis(600));
    assert_eq!(r.campaigns(405, 405), vec![405]);
}

#[test]
fn leaders_learners_and_disallowed_nodes_never_campaign() {
    for change in [
        |o: &mut Observation| o.leader = true,
        |o: &mut Observation| o.voter = false,
        |o: &mut Observation| o.allowed = false,
    ] {
        let mut r = Run::new(0);
        change(&mut r.obs);
        assert_eq!(r.campaigns(0, 3_000), Vec::<u64>::new());
    }
}

#[test]
fn a_sole_voter_campaigns_at_once_and_retries() {
    let mut r = Run::new(0);
    r.obs.sole_voter = true;
    assert_eq!(r.campaigns(0, 400), vec![0, 115, 340]);
}

#[test]
fn ranks_skip_the_last_leader() {
    assert_eq!(rank(2, [1, 2, 3], Some(1)), 0);
    assert_eq!(rank(3, [3, 1, 2], Some(1)), 1);
    assert_eq!(rank(1, [1, 2, 3], None), 0);
    assert_eq!(rank(3, [1, 2, 3], None), 2);
    // Not a voter (or the last leader itself): after everyone.
    assert_eq!(rank(1, [1, 2, 3], Some(1)), 2);
    assert_eq!(rank(9, [1, 2, 3], Some(1)), 2);
}

#[test]
fn timing_from_the_default_flags() {
    let t = timing();
    assert_eq!(t.lease, Duration::from_millis(300));
    assert_eq!(t.margin, Duration::from_millis(5));
    assert_eq!(t.stagger, Duration::from_millis(100));
    assert_eq!(
        (t.retry_min, t.retry_max),
        (Duration::from_millis(75), Duration::from_millis(150))
    );
    assert_eq!(t.grace, Duration::from_millis(100));
    assert_eq!(t.newer_log_hold, Duration::from_millis(600));
    assert_eq!(t.retry_cap, Duration::from_millis(600));
}
