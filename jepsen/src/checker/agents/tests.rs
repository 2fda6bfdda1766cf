//! The agents checker on hand-built histories: a clean run under an agent
//! kill and a failover passes, and each rule's violation is caught.

use serde_json::{json, Value};

use super::*;
use crate::agents_record::{
    AgentExit, LeaderView, ListedAgent, SelfView, AGENTS_VIEW, AGENT_EXIT, AGENT_STATE,
};
use crate::checker::testing::Builder;
use crate::history::{HistoryValue, OpType};
use crate::nemesis_record::NemesisRecord;

const RULES: AgentRules = AgentRules {
    reregister_timeout_ms: 4000,
    slack_ms: 2000,
    detection_ms: 1000,
    poll_slack_ms: 2000,
    final_within_ms: 10_000,
};

const POLL_MS: u64 = 500;
const END_MS: u64 = 40_000;

/// What a leader shows at one instant: (leader, term, [(id, state)]).
type Shown = (u64, u64, Vec<(&'static str, AgentState)>);

use AgentState::{Disconnected, Recovered, Registered, Unreachable};

fn host_of(id: &str) -> (String, i64) {
    // S1 is agent 1 at 10.0.0.1:5051, S2 agent 2 at 10.0.0.2:5051.
    let n = id.trim_start_matches('S');
    (format!("10.0.0.{n}"), 5051)
}

fn view_value(shown: &Shown) -> Value {
    let (leader, term, agents) = shown;
    LeaderView {
        asked: 1,
        leader: Some(*leader),
        term: Some(*term),
        agents: agents
            .iter()
            .map(|(id, state)| {
                let (host, port) = host_of(id);
                let listed = *state != Unreachable;
                ListedAgent {
                    id: id.to_string(),
                    hostname: listed.then_some(host),
                    port: listed.then_some(port),
                    state: *state,
                }
            })
            .collect(),
        gone: Some(0),
    }
    .to_value()
}

/// A leader poll every POLL_MS (taking 20 ms) showing `at(t)`, and each
/// agent's own poll with the id `id_of(agent, t)`.
fn run(at: impl Fn(u64) -> Shown, id_of: impl Fn(u64, u64) -> &'static str) -> Builder {
    let mut b = Builder::default();
    let mut t = 0;
    while t < END_MS {
        b.op(
            100,
            AGENTS_VIEW,
            None,
            Value::Null,
            t,
            OpType::Ok,
            view_value(&at(t)),
            Some(t + 20),
        );
        for agent in [1u64, 2] {
            let id = id_of(agent, t);
            let (hostname, port) = host_of(id);
            let own = SelfView {
                agent,
                id: Some(id.to_string()),
                registered: true,
                master: None,
                registrations: 1,
                hostname,
                port,
            };
            b.op(
                200 + agent,
                AGENT_STATE,
                Some(&format!("a{agent}")),
                Value::Null,
                t + 5,
                OpType::Ok,
                own.to_value(),
                Some(t + 10),
            );
        }
        t += POLL_MS;
    }
    b
}

fn fault(b: &mut Builder, name: &str, value: Value, start_ms: u64, stop_ms: u64) {
    let start = NemesisRecord {
        injected: Some(true),
        ..NemesisRecord::new(name)
            .began_at(start_ms * 1_000_000)
            .with_value(value)
    };
    b.nemesis(start_ms, "start", &start);
    b.nemesis(stop_ms, "stop", &NemesisRecord::new(name));
}

fn heal(b: &mut Builder, at_ms: u64) {
    b.nemesis(at_ms, "heal", &NemesisRecord::new("heal"));
}

/// The clean story: agent 2 killed from 5 s to 8 s (disconnected, then
/// unreachable, back at 9 s); the leader killed at 15 s, master 2 leads
/// term 2 from 16 s with both agents recovered, both back by 17.5 s;
/// final heal at 25 s.
fn clean_state(t: u64) -> Shown {
    match t {
        0..5_500 => (1, 1, vec![("S1", Registered), ("S2", Registered)]),
        5_500..6_500 => (1, 1, vec![("S1", Registered), ("S2", Disconnected)]),
        6_500..9_000 => (1, 1, vec![("S1", Registered), ("S2", Unreachable)]),
        9_000..15_000 => (1, 1, vec![("S1", Registered), ("S2", Registered)]),
        15_000..16_000 => (1, 1, vec![("S1", Registered), ("S2", Registered)]),
        16_000..17_000 => (2, 2, vec![("S1", Recovered), ("S2", Recovered)]),
        17_000..17_500 => (2, 2, vec![("S1", Registered), ("S2", Recovered)]),
        _ => (2, 2, vec![("S1", Registered), ("S2", Registered)]),
    }
}

fn own_ids(agent: u64, _t: u64) -> &'static str {
    if agent == 1 {
        "S1"
    } else {
        "S2"
    }
}

fn faults(b: &mut Builder) {
    fault(b, "agent-kill", json!({"agent": 2}), 5_000, 8_000);
    fault(b, "kill-leader", json!({"killed": [1]}), 15_000, 18_000);
    heal(b, 25_000);
}

fn check(b: &Builder) -> CheckResult {
    AgentsChecker { rules: RULES }.check(&b.build())
}

fn rules_broken(r: &CheckResult) -> Vec<String> {
    r.details["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["rule"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn a_clean_history_passes_with_figures() {
    let mut b = run(clean_state, own_ids);
    faults(&mut b);
    let r = check(&b);
    assert_eq!(r.valid, Validity::True, "{r:#?}");
    let d = &r.details;
    assert!(d["windows_met"].as_u64().unwrap() > 0, "{d:#}");
    // The unreachable listings of agent 2 during its fault were excused.
    assert!(d["unreachable_listings_excused"].as_u64().unwrap() > 0);
    // After the failover (first view of term 2 at 16.02 s) agent 2 was
    // first seen active at 17.52 s.
    assert_eq!(d["after_failover"]["max_ms"], json!(1500.0));
    assert_eq!(d["after_failover"]["n"], json!(2));
    assert_eq!(d["after_final_heal"]["n"], json!(2));
}

#[test]
fn an_id_held_by_two_processes_or_changed_is_caught() {
    // Agent 2 reports agent 1's id from 12 s on.
    let mut b = run(clean_state, |agent, t| {
        if agent == 2 && t >= 12_000 {
            "S1"
        } else {
            own_ids(agent, t)
        }
    });
    faults(&mut b);
    let r = check(&b);
    assert_eq!(r.valid, Validity::False);
    let broken = rules_broken(&r);
    assert!(
        broken.contains(&"id-of-two-processes".to_string()),
        "{broken:?}"
    );
    assert!(broken.contains(&"new-id".to_string()), "{broken:?}");

    // A leader lists one id with two host:port identities.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if t >= 20_000 {
                shown.2 = vec![("S1", Registered), ("S2", Registered)];
            }
            shown
        },
        own_ids,
    );
    // The same id S1 at 10.0.0.2:5051 (agent 2's address).
    b.op(
        100,
        AGENTS_VIEW,
        None,
        Value::Null,
        20_100,
        OpType::Ok,
        LeaderView {
            asked: 1,
            leader: Some(2),
            term: Some(2),
            agents: vec![ListedAgent {
                id: "S1".into(),
                hostname: Some("10.0.0.2".into()),
                port: Some(5051),
                state: Registered,
            }],
            gone: Some(0),
        }
        .to_value(),
        Some(20_120),
    );
    faults(&mut b);
    let r = check(&b);
    assert!(
        rules_broken(&r).contains(&"id-of-two-processes".to_string()),
        "{r:#?}"
    );
}

#[test]
fn an_agent_not_back_after_a_failover_is_caught() {
    // Agent 1 stays recovered after the failover at 16 s until 30 s.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if (16_000..30_000).contains(&t) {
                shown.2[0].1 = Recovered;
            }
            shown
        },
        own_ids,
    );
    faults(&mut b);
    let r = check(&b);
    assert_eq!(r.valid, Validity::False);
    let problem = r.details["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["rule"] == "not-reregistered")
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(problem["agent"], json!(1));
    assert_eq!(problem["state"], json!("recovered"));
    assert_eq!(problem["term"], json!(2));
}

#[test]
fn an_unfaulted_agent_listed_unreachable_is_caught() {
    // Agent 1 listed unreachable from 11 s to 12 s, no fault on it.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if (11_000..12_000).contains(&t) {
                shown.2[0].1 = Unreachable;
            }
            shown
        },
        own_ids,
    );
    faults(&mut b);
    let r = check(&b);
    assert_eq!(r.valid, Validity::False);
    let problems = r.details["problems"].as_array().unwrap();
    let unreachable: Vec<&Value> = problems
        .iter()
        .filter(|p| p["rule"] == "unreachable-unfaulted")
        .collect();
    assert_eq!(unreachable.len(), 2, "{problems:#?}");
    assert!(unreachable.iter().all(|p| p["agent"] == json!(1)));

    // The same listing of agent 2 long after its fault ended and it came
    // back is not excused either.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if (12_000..12_500).contains(&t) {
                shown.2[1].1 = Unreachable;
            }
            shown
        },
        own_ids,
    );
    faults(&mut b);
    let r = check(&b);
    assert!(
        rules_broken(&r).contains(&"unreachable-unfaulted".to_string()),
        "{r:#?}"
    );
}

#[test]
fn gone_forgotten_and_exited_agents_are_caught() {
    // A leader counts one gone agent.
    let mut b = run(clean_state, own_ids);
    let mut gone = serde_json::from_value::<LeaderView>(view_value(&clean_state(12_000))).unwrap();
    gone.gone = Some(1);
    b.op(
        100,
        AGENTS_VIEW,
        None,
        Value::Null,
        12_100,
        OpType::Ok,
        gone.to_value(),
        Some(12_120),
    );
    faults(&mut b);
    assert!(rules_broken(&check(&b)).contains(&"marked-gone".to_string()));

    // A leader stops listing agent 2 at all.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if t >= 20_000 {
                shown.2.truncate(1);
            }
            shown
        },
        own_ids,
    );
    faults(&mut b);
    let broken = rules_broken(&check(&b));
    assert!(broken.contains(&"forgotten".to_string()), "{broken:?}");

    // An agent process that exits by itself.
    let mut b = run(clean_state, own_ids);
    b.op(
        203,
        AGENT_EXIT,
        Some("a2"),
        Value::Null,
        13_000,
        OpType::Ok,
        AgentExit {
            agent: 2,
            status: "exit status: 1".into(),
        }
        .to_value(),
        Some(13_000),
    );
    faults(&mut b);
    assert!(rules_broken(&check(&b)).contains(&"agent-exited".to_string()));
}

#[test]
fn an_agent_not_back_after_the_final_heal_is_caught() {
    // Agent 2 is partitioned from 20 s until the final heal at 25 s and
    // never comes back.
    let mut b = run(
        |t| {
            let mut shown = clean_state(t);
            if t >= 21_000 {
                shown.2[1].1 = Unreachable;
            }
            shown
        },
        own_ids,
    );
    fault(&mut b, "agent-kill", json!({"agent": 2}), 5_000, 8_000);
    fault(
        &mut b,
        "kill-leader",
        json!({"killed": [1]}),
        15_000,
        18_000,
    );
    let start = NemesisRecord {
        injected: Some(true),
        ..NemesisRecord::new("agent-partition")
            .began_at(20_000_000_000)
            .with_value(json!({"agent": 2, "kind": "both"}))
    };
    b.nemesis(20_000, "start", &start);
    heal(&mut b, 25_000);
    let r = check(&b);
    let broken = rules_broken(&r);
    assert!(
        broken.contains(&"not-back-after-final-heal".to_string()),
        "{r:#?}"
    );
    // While its partition lasted (until the final heal) the unreachable
    // listings were excused; the final rule is what catches it.
    assert!(
        !broken.contains(&"unreachable-unfaulted".to_string()),
        "{r:#?}"
    );
}

#[test]
fn too_few_observations_are_unknown() {
    let mut b = Builder::default();
    heal(&mut b, 1_000);
    let r = check(&b);
    assert_eq!(r.valid, Validity::Unknown, "{r:#?}");
    // Views but every window superseded or exempt: nothing decided.
    let mut b = Builder::default();
    b.op(
        100,
        AGENTS_VIEW,
        None,
        Value::Null,
        0,
        OpType::Ok,
        view_value(&(1, 1, vec![])),
        Some(10),
    );
    let r = check(&b);
    assert_eq!(r.valid, Validity::Unknown, "{r:#?}");
}
