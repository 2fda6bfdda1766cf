//! Who campaigns, and when (`mesoraft_raft::election`): a dead leader is
//! replaced in one election, a paused follower that resumes does not
//! depose a healthy leader, and a group of one master elects itself after
//! a restart (openraft's own election timer is off, so nothing else would).

use crate::support;

use std::time::Duration;

use support::*;

const ELECTION: Duration = Duration::from_secs(20);

async fn term(c: &Cluster, id: u64) -> u64 {
    wait_for(&format!("master {id}'s term"), ELECTION, || {
        c.status_u64(id, "term")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_in_one_election() {
    let mut c = Cluster::start(3);
    let mut leader = c.wait_leader(ELECTION).await;
    for round in 0..4 {
        c.write_weight(&format!("r{round}"), 1.0, ELECTION).await;
        let before = term(&c, leader).await;
        c.kill9(leader);
        let survivors: Vec<u64> = [1, 2, 3].into_iter().filter(|m| *m != leader).collect();
        let new_leader = c.wait_leader_among(&survivors, ELECTION).await;
        let after = term(&c, new_leader).await;
        // The first-ranked survivor campaigns once the lease has run out
        // at both; the other hears it before its own turn.
        assert_eq!(
            after,
            before + 1,
            "round {round}: master {leader} killed at term {before}, master {new_leader} leads at term {after}"
        );
        c.restart(leader);
        c.wait_caught_up(leader, new_leader, ELECTION).await;
        leader = c.wait_leader(ELECTION).await;
        assert_eq!(leader, new_leader, "the restarted master took over");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_resumes_without_an_election() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(ELECTION).await;
    let before = term(&c, leader).await;
    let follower = [1, 2, 3].into_iter().find(|m| *m != leader).unwrap();
    for round in 0..3 {
        c.pause(follower);
        // Longer than lease + retry: on resume the follower has heard
        // nothing for over a second, but the leader's heartbeats are queued.
        let others: Vec<u64> = [1, 2, 3].into_iter().filter(|m| *m != follower).collect();
        let hold = poll_until(Duration::from_millis(1_200), || async {
            // Condition never met: this only waits out the pause while
            // checking that the others keep their leader.
            let l = c.status_u64(others[0], "leader_id").await;
            (l != Some(leader)).then_some(l)
        })
        .await;
        assert_eq!(
            hold, None,
            "round {round}: the leader changed during the pause"
        );
        c.resume(follower);
        c.wait_caught_up(follower, leader, ELECTION).await;
        wait_for(
            "the resumed follower follows the leader",
            ELECTION,
            || async { (c.status_u64(follower, "leader_id").await? == leader).then_some(()) },
        )
        .await;
        assert_eq!(c.wait_leader(ELECTION).await, leader, "round {round}");
        assert_eq!(
            term(&c, leader).await,
            before,
            "round {round}: an election happened"
        );
        c.write_weight(&format!("r{round}"), 1.0, ELECTION).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_master_elects_itself_after_a_restart() {
    let mut c = Cluster::start(1);
    assert_eq!(c.wait_leader(ELECTION).await, 1);
    c.write_weight("before", 2.0, ELECTION).await;
    for _ in 0..2 {
        c.kill9(1);
        c.restart(1);
        assert_eq!(c.wait_leader(ELECTION).await, 1);
        // A new leader may refuse a read for a moment (before it acts as
        // leader); clients retry, and so does this check.
        let addr = c.addr(1);
        let w = c.read_weights(&addr, ELECTION).await;
        assert_eq!(w.get("before"), Some(&2.0));
    }
}
