//! The session table driven by hand: events in, actions out, no sockets.

use std::time::Duration;

use super::*;
use crate::agents::policy::Rate;

const PING: Duration = Duration::from_secs(1);

fn policy() -> AgentPolicy {
    AgentPolicy {
        ping_timeout: PING,
        max_ping_timeouts: 3,
        reregister_timeout: Duration::from_secs(10),
        removal_rate: None,
        recovery_removal_limit: 1.0,
    }
}

fn info(id: Option<&str>, hostname: &str) -> AgentInfo {
    AgentInfo {
        hostname: hostname.into(),
        id: id.map(agent_id_of),
        ..Default::default()
    }
}

/// A table and a clock that tests move by hand.
struct Fixture {
    table: AgentTable,
    t0: Instant,
    elapsed: Duration,
}

impl Fixture {
    fn new(admitted: &[&str]) -> Self {
        Self::with(policy(), admitted, &[], &[])
    }

    fn with(policy: AgentPolicy, admitted: &[&str], unreachable: &[&str], gone: &[&str]) -> Self {
        let t0 = Instant::now();
        let registry = RegistryAgents {
            cluster_id: "c".into(),
            admitted: admitted.iter().map(|id| info(Some(id), "h")).collect(),
            unreachable: unreachable.iter().map(|id| (id.to_string(), 1)).collect(),
            gone: gone.iter().map(|id| (id.to_string(), 1)).collect(),
        };
        Self {
            table: AgentTable::recover(policy, registry, t0),
            t0,
            elapsed: Duration::ZERO,
        }
    }

    fn now(&self) -> Now {
        Now {
            instant: self.t0 + self.elapsed,
            unix_ns: 1_000 + self.elapsed.as_nanos() as i64,
        }
    }

    fn step(&mut self, event: Event) -> Vec<Action> {
        let now = self.now();
        self.table.step(event, now)
    }

    /// Moves the clock on by `by`, ticking on the way as the driver does.
    fn advance(&mut self, by: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let end = self.elapsed + by;
        let tick = self.table.policy().tick_interval();
        while self.elapsed < end {
            self.elapsed = (self.elapsed + tick).min(end);
            out.extend(self.step(Event::Tick));
        }
        out
    }

    fn presence(&self, id: &str) -> Option<Presence> {
        self.table.agents().get(id).map(|e| e.presence.clone())
    }

    /// Applies every proposal in `actions` with the outcome `outcome_of`
    /// gives, returning what those outcomes led to.
    fn apply(
        &mut self,
        actions: &[Action],
        outcome_of: impl Fn(&Command) -> WriteOutcome,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for action in actions {
            if let Action::Propose { write, command } = action {
                out.extend(self.step(Event::Written {
                    write: *write,
                    outcome: outcome_of(command),
                }));
            }
        }
        out
    }
}

fn applied(command: &Command) -> WriteOutcome {
    match command {
        Command::AdmitAgent { .. } => WriteOutcome::Applied(Response::AgentAdmitted {
            agent_id: "c-S7".into(),
        }),
        _ => WriteOutcome::Applied(Response::Applied),
    }
}

fn proposals(actions: &[Action]) -> Vec<&Command> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Propose { command, .. } => Some(command),
            _ => None,
        })
        .collect()
}

fn sent(actions: &[Action], session: SessionId) -> Vec<&master_to_agent::Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                session: s,
                message,
            } if *s == session => Some(message),
            _ => None,
        })
        .collect()
}

fn closed(actions: &[Action], session: SessionId) -> bool {
    actions.contains(&Action::Close { session })
}

fn shutdown_text(actions: &[Action], session: SessionId) -> Option<String> {
    sent(actions, session).into_iter().find_map(|m| match m {
        master_to_agent::Message::Shutdown(s) => s.message.clone(),
        _ => None,
    })
}

fn pings(actions: &[Action], session: SessionId) -> Vec<bool> {
    sent(actions, session)
        .into_iter()
        .filter_map(|m| match m {
            master_to_agent::Message::Ping(p) => Some(p.connected),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_agent_is_answered_only_after_its_admission_is_applied() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(Some("forged"), "h"),
    });
    // The id the agent offers is ignored; nothing is sent yet.
    assert_eq!(
        proposals(&out),
        vec![&Command::AdmitAgent {
            info: info(None, "h")
        }]
    );
    assert!(sent(&out, 1).is_empty());
    // A repeated RegisterSlave while the write runs proposes nothing more.
    assert!(f
        .step(Event::Register {
            session: 1,
            info: info(None, "h")
        })
        .is_empty());

    let out = f.apply(&out, applied);
    let [master_to_agent::Message::SlaveRegistered(registered)] = sent(&out, 1)[..] else {
        panic!("expected SlaveRegistered, got {out:?}");
    };
    assert_eq!(registered.slave_id.value, "c-S7");
    assert_eq!(
        registered
            .connection
            .as_ref()
            .unwrap()
            .total_ping_timeout_seconds,
        Some(3.0)
    );
    assert!(matches!(
        f.presence("c-S7"),
        Some(Presence::Connected { session: 1, .. })
    ));
}

#[test]
fn a_refused_registration_shuts_the_agent_down_with_the_reason() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(None, ""),
    });
    let out = f.apply(&out, |_| {
        WriteOutcome::Refused(RegistryError::ClusterNotInitialized)
    });
    assert!(shutdown_text(&out, 1)
        .unwrap()
        .starts_with("Registration refused"));
    assert!(closed(&out, 1));
    assert!(f.table.agents().is_empty());
}

#[test]
fn after_a_failover_an_unchanged_agent_comes_back_without_a_registry_write() {
    let mut f = Fixture::new(&["c-S1", "c-S2"]);
    assert_eq!(f.table.counts().recovered, 2);
    let out = f.step(Event::Reregister {
        session: 5,
        info: info(Some("c-S1"), "h"),
    });
    assert!(proposals(&out).is_empty(), "{out:?}");
    assert!(matches!(
        sent(&out, 5)[..],
        [master_to_agent::Message::SlaveReregistered(_)]
    ));
    let counts = f.table.counts();
    assert_eq!((counts.registered, counts.recovered), (1, 1));
}

#[test]
fn after_a_failover_the_new_agent_info_wins() {
    let mut f = Fixture::new(&["c-S1"]);
    let newer = info(Some("c-S1"), "h-renamed");
    let out = f.step(Event::Reregister {
        session: 5,
        info: newer.clone(),
    });
    assert_eq!(
        proposals(&out),
        vec![&Command::UpdateAgent {
            info: newer.clone()
        }]
    );
    assert!(
        sent(&out, 5).is_empty(),
        "answered before the update applied"
    );
    let out = f.apply(&out, applied);
    assert!(matches!(
        sent(&out, 5)[..],
        [master_to_agent::Message::SlaveReregistered(_)]
    ));
    assert_eq!(f.table.agents()["c-S1"].info, newer);
}

#[test]
fn recovered_agents_that_stay_away_are_marked_unreachable_at_the_reregister_timeout() {
    let mut f = Fixture::new(&["c-S1", "c-S2"]);
    f.step(Event::Reregister {
        session: 5,
        info: info(Some("c-S1"), "h"),
    });
    // S1 answers every ping; S2 never comes back.
    let mut out = Vec::new();
    for _ in 0..11 {
        out.extend(f.advance(PING));
        f.step(Event::Pong { session: 5 });
        if f.now().instant < f.t0 + Duration::from_secs(10) {
            assert!(proposals(&out).is_empty(), "{out:?}");
        }
    }
    let marks = proposals(&out);
    assert_eq!(marks.len(), 1, "{out:?}");
    let Command::MarkUnreachable { agent_id, .. } = marks[0] else {
        panic!("{marks:?}");
    };
    assert_eq!(agent_id.value, "c-S2");
    f.apply(&out, applied);
    assert_eq!(f.table.counts().unreachable, 1);
    assert!(f.presence("c-S2").is_none());
}

#[test]
fn only_recovered_agents_marked_unreachable_count_as_recovery_removals() {
    let mut f = Fixture::new(&["c-S1", "c-S2"]);
    // S1 comes back, then its session breaks: it goes unreachable through
    // its health checks. S2 never comes back: a recovery removal.
    f.step(Event::Reregister {
        session: 5,
        info: info(Some("c-S1"), "h"),
    });
    f.step(Event::Closed { session: 5 });
    let out = f.advance(Duration::from_secs(11));
    assert_eq!(proposals(&out).len(), 2, "{out:?}");
    f.apply(&out, applied);
    let counts = f.table.counts();
    assert_eq!(counts.marked_unreachable, 2);
    assert_eq!(counts.recovery_removals, 1);
}

#[test]
fn the_recovery_removal_limit_keeps_every_missing_agent_recovered_and_says_so() {
    let policy = AgentPolicy {
        recovery_removal_limit: 0.5,
        ..policy()
    };
    let mut f = Fixture::with(policy, &["c-S1", "c-S2", "c-S3"], &[], &[]);
    let out = f.advance(Duration::from_secs(11));
    assert!(proposals(&out).is_empty(), "{out:?}");
    let counts = f.table.counts();
    assert_eq!(counts.recovered, 3);
    assert_eq!(counts.recovery_removals_refused, 3);
    // They may still come back.
    let out = f.step(Event::Reregister {
        session: 9,
        info: info(Some("c-S3"), "h"),
    });
    assert!(matches!(
        sent(&out, 9)[..],
        [master_to_agent::Message::SlaveReregistered(_)]
    ));
}

#[test]
fn an_agent_that_misses_its_pings_is_marked_unreachable_and_pinged_as_not_connected() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(None, "h"),
    });
    f.apply(&out, applied);
    // Round 1 pings; rounds 2 and 3 find it unanswered; at the third miss
    // it is due.
    let out = f.advance(PING);
    assert_eq!(pings(&out, 1), vec![true]);
    let out = f.advance(PING * 2);
    assert!(proposals(&out).is_empty());
    let out = f.advance(PING);
    assert!(matches!(
        proposals(&out)[..],
        [Command::MarkUnreachable { .. }]
    ));
    f.apply(&out, applied);
    assert_eq!(f.table.counts().unreachable, 1);
    // The stream is still open: it hears that it is not registered.
    let out = f.advance(PING);
    assert_eq!(pings(&out, 1), vec![false]);
    // It re-registers on that same stream: MarkReachable.
    let out = f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S7"), "h"),
    });
    assert!(matches!(
        proposals(&out)[..],
        [Command::MarkReachable { .. }]
    ));
    let out = f.apply(&out, applied);
    assert!(matches!(
        sent(&out, 1)[..],
        [master_to_agent::Message::SlaveReregistered(_)]
    ));
    let counts = f.table.counts();
    assert_eq!((counts.registered, counts.unreachable), (1, 0));
}

#[test]
fn answered_pings_keep_an_agent_registered() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(None, "h"),
    });
    f.apply(&out, applied);
    for _ in 0..20 {
        let out = f.advance(PING);
        assert!(proposals(&out).is_empty());
        f.step(Event::Pong { session: 1 });
    }
    assert_eq!(f.table.counts().registered, 1);
}

#[test]
fn a_disconnected_agent_is_unreachable_after_its_ping_budget_not_at_once() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(None, "h"),
    });
    f.apply(&out, applied);
    f.step(Event::Closed { session: 1 });
    assert_eq!(f.table.counts().disconnected, 1);
    let out = f.advance(PING * 2);
    assert!(proposals(&out).is_empty());
    // Back in time: registered again, no write.
    let out = f.step(Event::Reregister {
        session: 2,
        info: info(Some("c-S7"), "h"),
    });
    assert!(proposals(&out).is_empty());
    assert_eq!(f.table.counts().registered, 1);
    // Gone for good this time.
    f.step(Event::Closed { session: 2 });
    let out = f.advance(PING * 3);
    assert!(matches!(
        proposals(&out)[..],
        [Command::MarkUnreachable { .. }]
    ));
}

#[test]
fn a_reconnecting_agent_replaces_its_old_session() {
    let mut f = Fixture::new(&["c-S1"]);
    f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S1"), "h"),
    });
    let out = f.step(Event::Reregister {
        session: 2,
        info: info(Some("c-S1"), "h"),
    });
    assert!(closed(&out, 1));
    // The old stream's end, seen late, changes nothing.
    f.step(Event::Closed { session: 1 });
    assert!(matches!(
        f.presence("c-S1"),
        Some(Presence::Connected { session: 2, .. })
    ));
}

#[test]
fn marking_gone_shuts_the_agent_down_and_refuses_it_afterwards() {
    let mut f = Fixture::new(&["c-S1"]);
    f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S1"), "h"),
    });
    let out = f.step(Event::MarkGone {
        agent_id: "c-S1".into(),
        request: 42,
    });
    assert!(matches!(proposals(&out)[..], [Command::MarkGone { .. }]));
    let out = f.apply(&out, applied);
    assert_eq!(
        shutdown_text(&out, 1).as_deref(),
        Some("Agent has been marked gone")
    );
    assert!(out.contains(&Action::Answer {
        request: 42,
        answer: MarkGoneAnswer::Done
    }));
    let out = f.step(Event::Reregister {
        session: 2,
        info: info(Some("c-S1"), "h"),
    });
    assert!(proposals(&out).is_empty());
    assert!(shutdown_text(&out, 2)
        .unwrap()
        .starts_with("Agent has been marked gone"));
    // Again: already gone; an unknown id: unknown.
    let out = f.step(Event::MarkGone {
        agent_id: "c-S1".into(),
        request: 43,
    });
    assert_eq!(
        out,
        vec![Action::Answer {
            request: 43,
            answer: MarkGoneAnswer::AlreadyGone
        }]
    );
    let out = f.step(Event::MarkGone {
        agent_id: "c-S99".into(),
        request: 44,
    });
    assert_eq!(
        out,
        vec![Action::Answer {
            request: 44,
            answer: MarkGoneAnswer::Unknown
        }]
    );
}

#[test]
fn an_unreachable_agent_can_be_marked_gone() {
    let mut f = Fixture::with(policy(), &[], &["c-S3"], &[]);
    let out = f.step(Event::MarkGone {
        agent_id: "c-S3".into(),
        request: 1,
    });
    let out = f.apply(&out, applied);
    assert!(out.contains(&Action::Answer {
        request: 1,
        answer: MarkGoneAnswer::Done
    }));
    let counts = f.table.counts();
    assert_eq!((counts.unreachable, counts.gone), (0, 1));
}

#[test]
fn the_removal_rate_spreads_markings_out() {
    let policy = AgentPolicy {
        removal_rate: Some(Rate {
            count: 1,
            per: Duration::from_secs(5),
        }),
        ..policy()
    };
    let mut f = Fixture::with(policy, &["c-S1", "c-S2", "c-S3"], &[], &[]);
    let out = f.advance(Duration::from_secs(10));
    assert_eq!(proposals(&out).len(), 1, "{out:?}");
    f.apply(&out, applied);
    let out = f.advance(Duration::from_secs(5));
    assert_eq!(proposals(&out).len(), 1, "{out:?}");
    f.apply(&out, applied);
    let out = f.advance(Duration::from_secs(5));
    assert_eq!(proposals(&out).len(), 1, "{out:?}");
    f.apply(&out, applied);
    assert_eq!(f.table.counts().unreachable, 3);
}

#[test]
fn a_lost_write_leaves_the_agent_to_try_again() {
    let mut f = Fixture::new(&["c-S1"]);
    let out = f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S1"), "changed"),
    });
    let out = f.apply(&out, |_| WriteOutcome::Failed {
        maybe_applied: true,
    });
    assert!(closed(&out, 1));
    // It is where it was before (recovered), with the info it had.
    assert_eq!(f.presence("c-S1"), Some(Presence::Recovered));
    assert_eq!(f.table.agents()["c-S1"].info.hostname, "h");
}

#[test]
fn a_session_cannot_speak_for_two_agents() {
    let mut f = Fixture::new(&["c-S1", "c-S2"]);
    f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S1"), "h"),
    });
    let out = f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S2"), "h"),
    });
    assert!(shutdown_text(&out, 1).is_some());
    assert_eq!(f.presence("c-S2"), Some(Presence::Recovered));
}

#[test]
fn an_admission_of_unknown_outcome_that_applied_is_found_and_marked_unreachable_in_the_term() {
    let mut f = Fixture::new(&[]);
    let out = f.step(Event::Register {
        session: 1,
        info: info(None, "h1"),
    });
    let out = f.apply(&out, |_| WriteOutcome::Failed {
        maybe_applied: true,
    });
    assert!(closed(&out, 1));
    assert!(f.table.wants_registry_view(f.now().instant));
    // The admission applied after all: the registry holds an id no agent
    // has. (A certain failure would not have asked for the view.)
    f.step(Event::RegistryAdmitted {
        agents: vec![info(Some("c-S9"), "h1")],
    });
    assert!(matches!(
        f.presence("c-S9"),
        Some(Presence::Disconnected { .. })
    ));
    let out = f.advance(Duration::from_secs(10));
    let marked: Vec<&str> = proposals(&out)
        .into_iter()
        .filter_map(|c| match c {
            Command::MarkUnreachable { agent_id, .. } => Some(agent_id.value.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(marked, vec!["c-S9"], "{out:?}");
    // The doubt ends: the registry is not read for ever.
    f.advance(ADMISSION_DOUBT);
    assert!(!f.table.wants_registry_view(f.now().instant));
}

#[test]
fn the_registry_view_leaves_known_and_in_flight_agents_alone() {
    let mut f = Fixture::with(policy(), &["c-S1"], &["c-S2"], &["c-S3"]);
    let out = f.step(Event::Reregister {
        session: 1,
        info: info(Some("c-S1"), "changed"),
    });
    assert_eq!(proposals(&out).len(), 1);
    f.step(Event::RegistryAdmitted {
        agents: ["c-S1", "c-S2", "c-S3"]
            .iter()
            .map(|id| info(Some(id), "h"))
            .collect(),
    });
    assert!(matches!(f.presence("c-S1"), Some(Presence::Writing { .. })));
    assert_eq!(f.presence("c-S2"), None);
    assert_eq!(f.presence("c-S3"), None);
}
