//! The health verdict of `raftctl status`: a pure function of the rows, so
//! every situation can be tested without a cluster.
//!
//! Raftctl only sees what masters say about themselves, and a master's view
//! can be stale. So "quorum" here is observed, not proven: enough reachable
//! voters follow the same reachable leader in the leader's own term.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::render::millis;
use super::status::{Member, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Exit 0: every voter answers, one leader agreed, nobody lags, no
    /// warning.
    Healthy,
    /// Exit 1: it works, but something needs a look (a master down or
    /// lagging, a warning).
    Degraded,
    /// Exit 2: no quorum, no leader, or masters disagree on the leader.
    Critical,
}

impl Health {
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Critical => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub severity: Health,
    pub message: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// Entries behind the leader beyond which a master counts as lagging.
    pub max_lag: u64,
    /// Millis without leader contact (quorum ack on the leader) beyond
    /// which a master counts as cut off. Elections time out in a fraction of
    /// a second, so seconds of silence mean trouble.
    pub max_contact_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_lag: 100,
            max_contact_ms: 5_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub health: Health,
    pub exit_code: u8,
    /// Enough reachable voters follow one reachable leader.
    pub quorum: bool,
    /// Voters in the group's membership.
    pub voters: usize,
    pub majority: usize,
    /// Reachable voters following the leader, the leader included.
    pub voters_following_leader: usize,
    pub leader_id: Option<u64>,
    pub leader_address: Option<String>,
    pub leader_term: Option<u64>,
    /// Every reachable member names the same leader in the same term.
    pub leaders_agree: bool,
    /// How many more masters may fail with the group keeping its quorum.
    pub failures_tolerated: usize,
    pub cluster_id: Option<String>,
    pub problems: Vec<Problem>,
}

/// The cluster id most masters report (ties: the one seen in the highest
/// term), so a stray address from another cluster is told apart instead of
/// splitting the leader view.
pub fn majority_cluster<'a>(items: impl Iterator<Item = (Option<&'a str>, u64)>) -> Option<String> {
    let mut seen: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for (cluster, term) in items {
        if let Some(c) = cluster {
            let e = seen.entry(c).or_default();
            e.0 += 1;
            e.1 = e.1.max(term);
        }
    }
    seen.into_iter()
        .max_by_key(|(_, count_term)| *count_term)
        .map(|(c, _)| c.to_string())
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn critical(&mut self, message: String) {
        self.0.push(Problem {
            severity: Health::Critical,
            message,
        });
    }
    fn degraded(&mut self, message: String) {
        self.0.push(Problem {
            severity: Health::Degraded,
            message,
        });
    }
}

/// The leader a master names: itself when it leads.
fn named_leader(r: &Row) -> Option<u64> {
    if r.is_leader() {
        r.id
    } else {
        r.leader_id
    }
}

fn term(t: Option<u64>) -> String {
    t.map_or("?".into(), |t| t.to_string())
}

fn kind(r: &Row) -> &'static str {
    match r.member {
        Some(Member::Voter) => "voter",
        Some(Member::Learner) => "learner",
        _ => "master",
    }
}

fn who(r: &Row) -> String {
    r.id.map_or(r.address.clone(), |id| id.to_string())
}

pub fn verdict(rows: &[Row], t: &Thresholds) -> Verdict {
    let mut p = Problems::default();
    let cluster = majority_cluster(
        rows.iter()
            .filter(|r| r.reachable)
            .map(|r| (r.cluster_id.as_deref(), r.term.unwrap_or(0))),
    );
    let is_member = |r: &&Row| matches!(r.member, Some(Member::Voter | Member::Learner));
    let members: Vec<&Row> = rows.iter().filter(is_member).collect();
    // A master needing re-adding answers, but not as the member: its own
    // view of the leader says nothing about the group's.
    let live: Vec<&Row> = members
        .iter()
        .copied()
        .filter(|r| r.reachable && r.needs_readding.is_none())
        .collect();
    let voters = members
        .iter()
        .filter(|r| r.member == Some(Member::Voter))
        .count();
    let majority = voters / 2 + 1;

    outsiders(rows, cluster.as_deref(), &mut p);

    // Who leads, as the reachable members see it.
    let claimants: Vec<&Row> = live.iter().copied().filter(|r| r.is_leader()).collect();
    let names: BTreeSet<u64> = live.iter().filter_map(|r| named_leader(r)).collect();
    if claimants.len() > 1 {
        let list: Vec<String> = claimants
            .iter()
            .map(|r| format!("{} (term {})", who(r), term(r.term)))
            .collect();
        p.critical(format!(
            "{} masters act as leader at once: {}",
            claimants.len(),
            list.join(", ")
        ));
    }
    if names.len() > 1 {
        let views: Vec<String> = live
            .iter()
            .map(|r| {
                let seen = named_leader(r).map_or("none".into(), |l| l.to_string());
                format!("{} sees {seen} (term {})", who(r), term(r.term))
            })
            .collect();
        p.critical(format!(
            "masters disagree on the leader: {}",
            views.join(", ")
        ));
    }
    // With split views, count for the claimant of the highest term: the
    // quorum figure still says which side can make progress.
    let leader_id = if names.len() == 1 {
        names.first().copied()
    } else {
        claimants.iter().max_by_key(|r| r.term).and_then(|r| r.id)
    };
    let leader_row = leader_id.and_then(|l| {
        live.iter()
            .copied()
            .find(|r| r.id == Some(l) && r.is_leader())
    });
    if live.is_empty() {
        p.critical(if rows.iter().any(|r| r.reachable) {
            "no reachable master reports a membership; is the group initialized?".into()
        } else {
            "no master answered: check --masters (or MESORAFT_MASTERS) and that the masters run"
                .into()
        });
    } else if names.is_empty() {
        let roles: Vec<String> = live
            .iter()
            .map(|r| {
                format!(
                    "{} {} (term {})",
                    who(r),
                    r.role.as_deref().unwrap_or("?"),
                    term(r.term)
                )
            })
            .collect();
        p.critical(format!(
            "no leader: no reachable master knows one ({})",
            roles.join(", ")
        ));
    } else if let (Some(l), None) = (leader_id, leader_row) {
        let named_by: Vec<String> = live
            .iter()
            .filter(|r| r.leader_id == Some(l))
            .map(|r| who(r))
            .collect();
        let state = match rows.iter().find(|r| r.id == Some(l)) {
            Some(r) if !r.reachable => "does not answer".to_string(),
            Some(r) => format!(
                "is {} in term {}",
                r.role.as_deref().unwrap_or("?"),
                term(r.term)
            ),
            None => "is not among the masters raftctl can see".to_string(),
        };
        p.critical(format!(
            "no confirmed leader: master {l}, named leader by {}, {state}",
            named_by.join(", ")
        ));
    }

    let leader_term = leader_row.and_then(|r| r.term);
    let follows = |r: &Row| {
        leader_row.is_some()
            && ((r.is_leader() && r.id == leader_id)
                || (!r.is_leader() && r.leader_id == leader_id && r.term == leader_term))
    };
    let following: Vec<&Row> = live
        .iter()
        .copied()
        .filter(|r| r.member == Some(Member::Voter) && follows(r))
        .collect();
    let quorum = leader_row.is_some() && voters > 0 && following.len() >= majority;
    if leader_row.is_some() && !quorum {
        p.critical(format!(
            "no quorum: {} of {voters} voters follow leader {} in term {} (a majority is {majority})",
            following.len(),
            leader_id.map_or("?".into(), |l| l.to_string()),
            term(leader_term)
        ));
    }
    let leaders_agree = leader_row.is_some() && names.len() == 1 && live.iter().all(|r| follows(r));
    if leader_row.is_some() && names.len() == 1 {
        for r in live.iter().filter(|r| !follows(r)) {
            let seen = r
                .leader_id
                .map_or("no leader".into(), |l| format!("leader {l}"));
            p.degraded(format!(
                "{} {} sees {seen} in term {} but the group's leader is {} in term {}",
                kind(r),
                r.label(),
                term(r.term),
                leader_id.unwrap_or_default(),
                term(leader_term)
            ));
        }
    }

    for r in members.iter().filter(|r| !r.reachable) {
        p.degraded(format!(
            "{} {} does not answer: {}",
            kind(r),
            r.label(),
            r.error.as_deref().unwrap_or("no answer")
        ));
    }
    let lagging = |r: &Row| r.lag.is_some_and(|l| l > t.max_lag);
    for r in live.iter().filter(|r| lagging(r)) {
        p.degraded(format!(
            "{} {} is {} entries behind the leader (threshold {})",
            kind(r),
            r.label(),
            r.lag.unwrap_or_default(),
            t.max_lag
        ));
    }
    let stale = |r: &Row| {
        r.millis_since_leader_contact
            .is_some_and(|m| m > t.max_contact_ms)
    };
    for r in live.iter().filter(|r| follows(r) && stale(r)) {
        let ms = r.millis_since_leader_contact.unwrap_or_default();
        p.degraded(if r.is_leader() {
            format!(
                "leader {} last heard from a quorum {} ago",
                r.label(),
                millis(ms)
            )
        } else {
            format!(
                "{} {} last heard the leader {} ago",
                kind(r),
                r.label(),
                millis(ms)
            )
        });
    }
    for r in rows.iter().filter(|r| r.reachable) {
        if let Some(w) = &r.recovery_warning {
            p.degraded(format!("{}: {w}", r.label()));
        }
        if let Some(why) = &r.needs_readding {
            p.degraded(format!("{} needs re-adding: {why}", r.label()));
        }
    }

    let healthy = following
        .iter()
        .filter(|r| !lagging(r) && !stale(r))
        .count();
    let failures_tolerated = if quorum {
        healthy.saturating_sub(majority)
    } else {
        0
    };
    // The worst first: that is what the operator must fix.
    p.0.sort_by_key(|x| std::cmp::Reverse(x.severity));
    let health = p.0.first().map_or(Health::Healthy, |x| x.severity);
    Verdict {
        health,
        exit_code: health.exit_code(),
        quorum,
        voters,
        majority,
        voters_following_leader: following.len(),
        leader_id,
        leader_address: leader_row.map(|r| r.address.clone()),
        leader_term,
        leaders_agree,
        failures_tolerated,
        cluster_id: cluster,
        problems: p.0,
    }
}

/// Rows outside the group's membership: each is something to look at, but
/// none affects the quorum.
fn outsiders(rows: &[Row], cluster: Option<&str>, p: &mut Problems) {
    for r in rows
        .iter()
        .filter(|r| !matches!(r.member, Some(Member::Voter | Member::Learner)))
    {
        let foreign = matches!((r.cluster_id.as_deref(), cluster), (Some(a), Some(b)) if a != b);
        if !r.reachable {
            // With no membership to compare against, "not listed" is noise.
            let unlisted = if rows.iter().any(|r| r.reachable) {
                " and no reachable master lists it as a member"
            } else {
                ""
            };
            if r.member.is_none() {
                p.degraded(format!(
                    "{} does not answer ({}){unlisted}",
                    r.label(),
                    r.error.as_deref().unwrap_or("no answer")
                ));
            }
        } else if foreign {
            p.degraded(format!(
                "{} belongs to another cluster ({}); remove it from --masters",
                r.label(),
                r.cluster_id.as_deref().unwrap_or("?")
            ));
        } else if r.initialized == Some(false) {
            let add = match r.id {
                Some(id) => format!("`raftctl members add {id} {}`", r.address),
                None => "`raftctl members add ID HOST:PORT`".into(),
            };
            p.degraded(format!(
                "{} is not a member yet (waiting to be added): run {add}",
                r.label()
            ));
        } else if r.member == Some(Member::Outside) {
            p.degraded(format!(
                "{} answers but is not in the group's membership (removed? stop it or add it back)",
                r.label()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
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
}
