//! The health verdict of `raftctl status`: a pure function of the rows, so
//! every situation can be tested without a cluster.
//!
//! Raftctl only sees what masters say about themselves, and a master's view
//! can be stale. So "quorum" here is observed, not proven: enough reachable
//! voters follow the same reachable leader in the leader's own term.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::{majority_cluster, Member, Row};
use crate::units::millis;
use crate::wire::AgentCounts;

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
    /// The confirmed leader's agent figures.
    pub agents: Option<AgentCounts>,
    pub problems: Vec<Problem>,
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

/// Judges the group from its rows: one pass per kind of trouble, each
/// adding its problems in the order an operator reads them.
pub fn verdict(rows: &[Row], t: &Thresholds) -> Verdict {
    let mut p = Problems::default();
    let g = Group::of(rows);
    outsiders(rows, g.cluster.as_deref(), &mut p);
    let l = Leadership::seen_by(&g.live);
    split_leadership(&g, &l, &mut p);
    missing_leader(&g, &l, &mut p);
    let following = following_voters(&g, &l);
    let quorum = l.row.is_some() && g.voters > 0 && following.len() >= g.majority;
    if l.row.is_some() && !quorum {
        p.critical(format!(
            "no quorum: {} of {} voters follow leader {} in term {} (a majority is {})",
            following.len(),
            g.voters,
            l.id.map_or("?".into(), |l| l.to_string()),
            term(l.term()),
            g.majority
        ));
    }
    let leaders_agree = l.single() && g.live.iter().all(|r| l.follows(r));
    strays(&g, &l, &mut p);
    unreachable_members(&g, &mut p);
    lagging_members(&g, t, &mut p);
    stale_contacts(&g, &l, t, &mut p);
    warnings(rows, &mut p);
    agent_warnings(&l, &mut p);

    let healthy = following
        .iter()
        .filter(|r| !lagging(r, t) && !stale(r, t))
        .count();
    let failures_tolerated = if quorum {
        healthy.saturating_sub(g.majority)
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
        voters: g.voters,
        majority: g.majority,
        voters_following_leader: following.len(),
        leader_id: l.id,
        leader_address: l.row.map(|r| r.address.clone()),
        leader_term: l.term(),
        leaders_agree,
        failures_tolerated,
        cluster_id: g.cluster,
        agents: l.row.and_then(|r| r.agents.clone()),
        problems: p.0,
    }
}

/// The rows sorted by what they count for.
struct Group<'a> {
    rows: &'a [Row],
    /// The cluster id most reachable masters report.
    cluster: Option<String>,
    /// Voters and learners of the group's membership.
    members: Vec<&'a Row>,
    /// Members that answer as themselves.
    live: Vec<&'a Row>,
    voters: usize,
    majority: usize,
}

impl<'a> Group<'a> {
    fn of(rows: &'a [Row]) -> Self {
        let cluster = majority_cluster(
            rows.iter()
                .filter(|r| r.reachable)
                .map(|r| (r.cluster_id.as_deref(), r.term.unwrap_or(0))),
        );
        let members: Vec<&Row> = rows
            .iter()
            .filter(|r| matches!(r.member, Some(Member::Voter | Member::Learner)))
            .collect();
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
        Self {
            rows,
            cluster,
            members,
            live,
            voters,
            majority: voters / 2 + 1,
        }
    }
}

/// Who leads, as the live members see it.
struct Leadership<'a> {
    /// Live members that act as leader.
    claimants: Vec<&'a Row>,
    /// Every leader id a live member names (itself when it leads).
    names: BTreeSet<u64>,
    /// The leader counted for: the one named, or with split views the
    /// claimant of the highest term.
    id: Option<u64>,
    /// That leader's row, when it is live and acts as leader.
    row: Option<&'a Row>,
}

impl<'a> Leadership<'a> {
    fn seen_by(live: &[&'a Row]) -> Self {
        let claimants: Vec<&Row> = live.iter().copied().filter(|r| r.is_leader()).collect();
        let names: BTreeSet<u64> = live.iter().filter_map(|r| named_leader(r)).collect();
        // With split views, count for the claimant of the highest term: the
        // quorum figure still says which side can make progress.
        let id = if names.len() == 1 {
            names.first().copied()
        } else {
            claimants.iter().max_by_key(|r| r.term).and_then(|r| r.id)
        };
        let row = id.and_then(|l| {
            live.iter()
                .copied()
                .find(|r| r.id == Some(l) && r.is_leader())
        });
        Self {
            claimants,
            names,
            id,
            row,
        }
    }

    fn term(&self) -> Option<u64> {
        self.row.and_then(|r| r.term)
    }

    /// A confirmed leader that every live member names.
    fn single(&self) -> bool {
        self.row.is_some() && self.names.len() == 1
    }

    /// Whether `r` is the confirmed leader or follows it in its term.
    fn follows(&self, r: &Row) -> bool {
        self.row.is_some()
            && ((r.is_leader() && r.id == self.id)
                || (!r.is_leader() && r.leader_id == self.id && r.term == self.term()))
    }
}

/// Several masters acting as leader, or masters naming different leaders.
fn split_leadership(g: &Group, l: &Leadership, p: &mut Problems) {
    if l.claimants.len() > 1 {
        let list: Vec<String> = l
            .claimants
            .iter()
            .map(|r| format!("{} (term {})", who(r), term(r.term)))
            .collect();
        p.critical(format!(
            "{} masters act as leader at once: {}",
            l.claimants.len(),
            list.join(", ")
        ));
    }
    if l.names.len() > 1 {
        let views: Vec<String> = g
            .live
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
}

/// No live member, none that knows a leader, or a leader named that does
/// not act as one.
fn missing_leader(g: &Group, l: &Leadership, p: &mut Problems) {
    if g.live.is_empty() {
        p.critical(if g.rows.iter().any(|r| r.reachable) {
            "no reachable master reports a membership; is the group initialized?".into()
        } else {
            "no master answered: check --masters (or MESORAFT_MASTERS) and that the masters run"
                .into()
        });
    } else if l.names.is_empty() {
        let roles: Vec<String> = g
            .live
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
    } else if let (Some(id), None) = (l.id, l.row) {
        let named_by: Vec<String> = g
            .live
            .iter()
            .filter(|r| r.leader_id == Some(id))
            .map(|r| who(r))
            .collect();
        let state = match g.rows.iter().find(|r| r.id == Some(id)) {
            Some(r) if !r.reachable => "does not answer".to_string(),
            Some(r) => format!(
                "is {} in term {}",
                r.role.as_deref().unwrap_or("?"),
                term(r.term)
            ),
            None => "is not among the masters raftctl can see".to_string(),
        };
        p.critical(format!(
            "no confirmed leader: master {id}, named leader by {}, {state}",
            named_by.join(", ")
        ));
    }
}

/// Live voters following the confirmed leader, the leader included.
fn following_voters<'a>(g: &Group<'a>, l: &Leadership) -> Vec<&'a Row> {
    g.live
        .iter()
        .copied()
        .filter(|r| r.member == Some(Member::Voter) && l.follows(r))
        .collect()
}

/// Live members that do not follow the leader everyone else names.
fn strays(g: &Group, l: &Leadership, p: &mut Problems) {
    if !l.single() {
        return;
    }
    for r in g.live.iter().filter(|r| !l.follows(r)) {
        let seen = r
            .leader_id
            .map_or("no leader".into(), |l| format!("leader {l}"));
        p.degraded(format!(
            "{} {} sees {seen} in term {} but the group's leader is {} in term {}",
            kind(r),
            r.label(),
            term(r.term),
            l.id.unwrap_or_default(),
            term(l.term())
        ));
    }
}

fn unreachable_members(g: &Group, p: &mut Problems) {
    for r in g.members.iter().filter(|r| !r.reachable) {
        p.degraded(format!(
            "{} {} does not answer: {}",
            kind(r),
            r.label(),
            r.error.as_deref().unwrap_or("no answer")
        ));
    }
}

fn lagging(r: &Row, t: &Thresholds) -> bool {
    r.lag.is_some_and(|l| l > t.max_lag)
}

fn stale(r: &Row, t: &Thresholds) -> bool {
    r.millis_since_leader_contact
        .is_some_and(|m| m > t.max_contact_ms)
}

fn lagging_members(g: &Group, t: &Thresholds, p: &mut Problems) {
    for r in g.live.iter().filter(|r| lagging(r, t)) {
        p.degraded(format!(
            "{} {} is {} entries behind the leader (threshold {})",
            kind(r),
            r.label(),
            r.lag.unwrap_or_default(),
            t.max_lag
        ));
    }
}

/// Followers that have not heard the leader, or a leader that has not
/// heard a quorum, for longer than the threshold.
fn stale_contacts(g: &Group, l: &Leadership, t: &Thresholds, p: &mut Problems) {
    for r in g.live.iter().filter(|r| l.follows(r) && stale(r, t)) {
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
}

/// What reachable masters ask the operator to look at themselves.
fn warnings(rows: &[Row], p: &mut Problems) {
    for r in rows.iter().filter(|r| r.reachable) {
        if let Some(w) = &r.recovery_warning {
            p.degraded(format!("{}: {w}", r.label()));
        }
        if let Some(why) = &r.needs_readding {
            p.degraded(format!("{} needs re-adding: {why}", r.label()));
        }
    }
}

/// What the leader's agent figures ask the operator to look at: recovered
/// agents the recovery removal limit kept from being marked unreachable
/// (usually the masters are cut off from the agents, not the agents dead).
fn agent_warnings(l: &Leadership, p: &mut Problems) {
    let Some(leader) = l.row else {
        return;
    };
    let refused = leader
        .agents
        .as_ref()
        .map_or(0, |a| a.recovery_removals_refused);
    if refused > 0 {
        p.degraded(format!(
            "leader {} kept {refused} recovered agent{} from being marked unreachable: more agents \
             stayed away after the failover than --recovery-agent-removal-limit allows; check the \
             network between the masters and the agents (they stay recovered until they \
             re-register)",
            leader.label(),
            if refused == 1 { "" } else { "s" }
        ));
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
mod tests;
