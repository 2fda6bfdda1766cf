use super::*;

const T: Thresholds = Thresholds {
    max_lag: 100,
    max_contact_ms: 5_000,
};

fn up(id: u64, role: &str, leader: Option<u64>, term: u64) -> Row {
    Row {
        id: Some(id),
        address: format!("10.0.0.{id}:5050"),
        reachable: true,
        role: Some(role.into()),
        leader_id: leader,
        term: Some(term),
        last_log_index: Some(100),
        committed_index: Some(100),
        applied_index: Some(100),
        lag: leader.map(|_| 0),
        millis_since_leader_contact: Some(20),
        member: Some(Member::Voter),
        rtt_ms: Some(0.4),
        cluster_id: Some("c1".into()),
        initialized: Some(true),
        listed: true,
        ..Row::default()
    }
}

fn down(id: u64) -> Row {
    Row {
        id: Some(id),
        address: format!("10.0.0.{id}:5050"),
        member: Some(Member::Voter),
        error: Some("connection refused".into()),
        listed: true,
        ..Row::default()
    }
}

fn healthy3() -> Vec<Row> {
    vec![
        up(1, "leader", Some(1), 4),
        up(2, "follower", Some(1), 4),
        up(3, "follower", Some(1), 4),
    ]
}

fn has(v: &Verdict, needle: &str) -> bool {
    v.problems.iter().any(|p| p.message.contains(needle))
}

#[test]
fn all_healthy() {
    let v = verdict(&healthy3(), &T);
    assert_eq!(v.health, Health::Healthy, "{:?}", v.problems);
    assert_eq!(v.exit_code, 0);
    assert!(v.quorum && v.leaders_agree);
    assert_eq!((v.voters, v.majority, v.voters_following_leader), (3, 2, 3));
    assert_eq!(v.leader_id, Some(1));
    assert_eq!(v.leader_term, Some(4));
    assert_eq!(v.leader_address.as_deref(), Some("10.0.0.1:5050"));
    assert_eq!(v.failures_tolerated, 1);
    assert_eq!(v.cluster_id.as_deref(), Some("c1"));
}

#[test]
fn one_down_of_three_is_degraded() {
    let rows = vec![
        up(1, "leader", Some(1), 4),
        up(2, "follower", Some(1), 4),
        down(3),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(v.quorum);
    assert_eq!(v.failures_tolerated, 0);
    assert!(has(
        &v,
        "voter master 3 at 10.0.0.3:5050 does not answer: connection refused"
    ));
}

#[test]
fn two_down_of_three_is_no_quorum() {
    // The lone leader has not noticed yet and still calls itself leader.
    let rows = vec![up(1, "leader", Some(1), 4), down(2), down(3)];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(!v.quorum);
    assert_eq!(v.voters_following_leader, 1);
    assert_eq!(v.failures_tolerated, 0);
    assert!(has(&v, "no quorum: 1 of 3 voters"));
}

#[test]
fn two_down_of_three_survivor_follower_names_dead_leader() {
    let rows = vec![down(1), up(2, "follower", Some(1), 4), down(3)];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(!v.quorum);
    assert!(
        has(&v, "master 1, named leader by 2, does not answer"),
        "{:?}",
        v.problems
    );
}

#[test]
fn no_leader() {
    let rows = vec![
        up(1, "candidate", None, 7),
        up(2, "follower", None, 7),
        up(3, "candidate", None, 6),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(!v.quorum && !v.leaders_agree);
    assert_eq!(v.leader_id, None);
    assert!(has(
        &v,
        "no leader: no reachable master knows one (1 candidate (term 7)"
    ));
}

#[test]
fn nothing_answers() {
    let rows = vec![down(1), down(2), down(3)];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(has(&v, "no master answered"));
    assert_eq!(verdict(&[], &T).health, Health::Critical);
}

#[test]
fn two_leaders_in_different_terms() {
    // Master 1 is a stale leader of term 4, cut off; 2 and 3 moved on.
    let rows = vec![
        up(1, "leader", Some(1), 4),
        up(2, "leader", Some(2), 5),
        up(3, "follower", Some(2), 5),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(!v.leaders_agree);
    assert!(has(
        &v,
        "2 masters act as leader at once: 1 (term 4), 2 (term 5)"
    ));
    assert!(has(&v, "masters disagree on the leader"));
    // The newer side is the one with a quorum.
    assert_eq!(v.leader_id, Some(2));
    assert!(v.quorum);
}

#[test]
fn followers_disagree_in_the_same_term() {
    let rows = vec![
        up(1, "follower", Some(2), 5),
        up(2, "follower", Some(3), 5),
        up(3, "follower", Some(3), 5),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(has(
        &v,
        "masters disagree on the leader: 1 sees 2 (term 5), 2 sees 3 (term 5)"
    ));
}

#[test]
fn named_leader_does_not_consider_itself_leader() {
    let rows = vec![
        up(1, "candidate", None, 6),
        up(2, "follower", Some(1), 5),
        up(3, "follower", Some(1), 5),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(
        has(&v, "master 1, named leader by 2, 3, is candidate in term 6"),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_lagging_follower() {
    let mut rows = healthy3();
    rows[2].lag = Some(250);
    rows[2].last_log_index = Some(10);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(v.quorum && v.leaders_agree);
    assert_eq!(v.failures_tolerated, 0, "a lagging voter is no spare");
    assert!(has(&v, "is 250 entries behind the leader (threshold 100)"));
    rows[2].lag = Some(100);
    assert_eq!(
        verdict(&rows, &T).health,
        Health::Healthy,
        "at the threshold is fine"
    );
}

#[test]
fn a_follower_that_lost_the_leader() {
    let mut rows = healthy3();
    rows[2].leader_id = None;
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(v.quorum && !v.leaders_agree);
    assert!(has(
        &v,
        "sees no leader in term 4 but the group's leader is 1 in term 4"
    ));
}

#[test]
fn a_follower_behind_in_term() {
    let mut rows = healthy3();
    rows[1].term = Some(3);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(!v.leaders_agree);
    assert_eq!(v.voters_following_leader, 2);
}

#[test]
fn stale_leader_contact() {
    let mut rows = healthy3();
    rows[1].millis_since_leader_contact = Some(12_000);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(
        has(&v, "last heard the leader 12.0s ago"),
        "{:?}",
        v.problems
    );
    rows[0].millis_since_leader_contact = Some(9_000);
    let v = verdict(&rows, &T);
    assert!(
        has(&v, "last heard from a quorum 9.0s ago"),
        "{:?}",
        v.problems
    );
}

#[test]
fn five_nodes_two_down() {
    let rows = vec![
        up(1, "follower", Some(3), 9),
        down(2),
        up(3, "leader", Some(3), 9),
        down(4),
        up(5, "follower", Some(3), 9),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(v.quorum);
    assert_eq!((v.voters, v.majority, v.voters_following_leader), (5, 3, 3));
    assert_eq!(v.failures_tolerated, 0);
    let mut all = rows.clone();
    all[1] = up(2, "follower", Some(3), 9);
    all[3] = up(4, "follower", Some(3), 9);
    assert_eq!(verdict(&all, &T).failures_tolerated, 2);
    all[1] = down(2);
    assert_eq!(verdict(&all, &T).failures_tolerated, 1);
}

#[test]
fn five_nodes_three_down() {
    let rows = vec![
        up(1, "follower", Some(3), 9),
        down(2),
        up(3, "leader", Some(3), 9),
        down(4),
        down(5),
    ];
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Critical);
    assert!(!v.quorum);
}

#[test]
fn caught_up_learner_is_healthy_and_not_a_voter() {
    let mut rows = healthy3();
    let mut learner = up(4, "learner", Some(1), 4);
    learner.member = Some(Member::Learner);
    rows.push(learner);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Healthy, "{:?}", v.problems);
    assert_eq!((v.voters, v.majority, v.failures_tolerated), (3, 2, 1));
}

#[test]
fn lagging_or_dead_learner_is_degraded_but_keeps_quorum() {
    let mut rows = healthy3();
    let mut learner = up(4, "learner", Some(1), 4);
    learner.member = Some(Member::Learner);
    learner.lag = Some(5_000);
    rows.push(learner);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(has(
        &v,
        "learner master 4 at 10.0.0.4:5050 is 5000 entries behind"
    ));
    assert_eq!(v.failures_tolerated, 1);
    let mut dead = down(4);
    dead.member = Some(Member::Learner);
    rows[3] = dead;
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(has(&v, "learner master 4"));
}

#[test]
fn joining_master_waits_to_be_added() {
    let mut rows = healthy3();
    let mut joining = up(4, "learner", None, 0);
    joining.member = Some(Member::Outside);
    joining.initialized = Some(false);
    joining.cluster_id = None;
    rows.push(joining);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(v.leaders_agree, "outsiders do not count");
    assert!(has(&v, "run `raftctl members add 4 10.0.0.4:5050`"));
}

#[test]
fn master_of_another_cluster() {
    let mut rows = healthy3();
    let mut stranger = up(9, "leader", Some(9), 30);
    stranger.member = Some(Member::Outside);
    stranger.cluster_id = Some("other".into());
    rows.push(stranger);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded, "{:?}", v.problems);
    assert!(has(&v, "belongs to another cluster (other)"));
    assert_eq!(v.leader_id, Some(1));
}

#[test]
fn unknown_address_that_does_not_answer() {
    let mut rows = healthy3();
    rows.push(Row {
        address: "typo:5050".into(),
        error: Some("no answer within 1s".into()),
        listed: true,
        ..Row::default()
    });
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(has(
        &v,
        "the master at typo:5050 does not answer (no answer within 1s)"
    ));
}

#[test]
fn recovery_warning_degrades() {
    let mut rows = healthy3();
    rows[0].recovery_warning = Some("refused to remove 40% of the agents".into());
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(has(
        &v,
        "master 1 at 10.0.0.1:5050: refused to remove 40% of the agents"
    ));
}

#[test]
fn a_master_needing_re_adding_degrades() {
    let mut rows = healthy3();
    rows[2].needs_readding = Some("its work dir was lost".into());
    rows[2].leader_id = None;
    rows[2].term = Some(0);
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert!(has(
        &v,
        "master 3 at 10.0.0.3:5050 needs re-adding: its work dir was lost"
    ));
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(v.leaders_agree);
    assert_eq!((v.voters, v.voters_following_leader), (3, 2));
}

#[test]
fn single_master_group() {
    let v = verdict(&[up(1, "leader", Some(1), 1)], &T);
    assert_eq!(v.health, Health::Healthy);
    assert_eq!((v.voters, v.majority, v.failures_tolerated), (1, 1, 0));
}

#[test]
fn majority_cluster_prefers_count_then_term() {
    let items = [(Some("a"), 3), (Some("b"), 9), (Some("a"), 2), (None, 50)];
    assert_eq!(majority_cluster(items.into_iter()).as_deref(), Some("a"));
    let tie = [(Some("a"), 3), (Some("b"), 9)];
    assert_eq!(majority_cluster(tie.into_iter()).as_deref(), Some("b"));
    assert_eq!(majority_cluster(std::iter::empty()), None);
}

fn agents(refused: u64) -> AgentCounts {
    AgentCounts {
        registered: 12,
        recovered: 3,
        disconnected: 1,
        unreachable: 2,
        gone: 0,
        recovery_removals_refused: refused,
    }
}

#[test]
fn the_leaders_agent_figures_are_the_groups() {
    let mut rows = healthy3();
    rows[0].agents = Some(agents(0));
    // A follower's figures (a stale leader's, say) are not the group's.
    rows[1].agents = Some(agents(9));
    let v = verdict(&rows, &T);
    assert_eq!(v.agents, Some(agents(0)));
    assert_eq!(v.health, Health::Healthy, "{:?}", v.problems);
}

#[test]
fn agent_removals_refused_by_the_recovery_limit_degrade() {
    let mut rows = healthy3();
    rows[0].agents = Some(agents(3));
    let v = verdict(&rows, &T);
    assert_eq!(v.health, Health::Degraded);
    assert_eq!(v.exit_code, 1);
    assert!(
        has(
            &v,
            "leader master 1 at 10.0.0.1:5050 kept 3 recovered agents from being marked \
             unreachable: more agents stayed away after the failover than \
             --recovery-agent-removal-limit allows"
        ),
        "{:?}",
        v.problems
    );
}
