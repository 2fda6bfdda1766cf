//! Disconnection and the failover timeout, within a term and across a
//! master failover; frameworks learned from agents; the views.

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn completions(actions: &[Action]) -> Vec<String> {
    proposals(actions)
        .into_iter()
        .filter_map(|c| match c {
            Command::CompleteFramework { framework_id, .. } => Some(framework_id.value.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn disconnection_is_recorded_and_the_timeout_removes_the_framework() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 10.0);
    f.advance(secs(2));
    let out = f.step(Event::StreamClosed { stream: 1 });
    assert!(out.contains(&Action::FrameworkDeactivated {
        framework_id: id.clone()
    }));
    let closed_ns = BASE_NS + 2_000_000_000;
    assert!(
        matches!(proposals(&out).as_slice(),
            [Command::UpdateFramework { disconnected_time_ns: Some(t), .. }] if *t == closed_ns),
        "{out:?}"
    );
    f.apply(&out, applied);
    assert_eq!(f.state(&id), Some(FrameworkState::Inactive));

    assert!(completions(&f.advance(Duration::from_millis(9_500))).is_empty());
    let out = f.advance(Duration::from_millis(500));
    assert_eq!(completions(&out), vec![id.clone()]);
    let out = f.apply(&out, applied);
    assert_eq!(removed(&out), vec![id.clone()]);
    assert!(f.table.is_completed(&id));
    let completed: Vec<_> = f.table.completed().collect();
    assert_eq!(completed[0].framework_id, id);
    assert_eq!(
        completed[0].info.as_ref().map(|i| i.name.as_str()),
        Some("sched")
    );
}

#[test]
fn resubscribing_within_the_timeout_cancels_it() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 10.0);
    let out = f.step(Event::StreamClosed { stream: 1 });
    f.apply(&out, applied);
    f.advance(secs(5));
    let out = f.subscribe(2, info(Some(&id), 10.0));
    assert!(
        matches!(
            proposals(&out).as_slice(),
            [Command::UpdateFramework {
                disconnected_time_ns: None,
                ..
            }]
        ),
        "the registry is told it is connected again: {out:?}"
    );
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 2), Some(id.clone()));
    assert!(completions(&f.advance(secs(60))).is_empty());
    assert_eq!(f.state(&id), Some(FrameworkState::Active));
}

#[test]
fn a_zero_timeout_removes_the_framework_at_the_next_tick() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 0.0);
    let closed = f.step(Event::StreamClosed { stream: 1 });
    // The tick comes before the disconnection write is answered: the
    // completion waits for it.
    let out = f.advance(Duration::from_millis(500));
    assert!(completions(&out).is_empty());
    let out = f.apply(&closed, applied);
    assert_eq!(completions(&out), vec![id.clone()]);
    let out = f.apply(&out, applied);
    assert_eq!(removed(&out), vec![id]);
}

#[test]
fn after_a_failover_timers_are_rearmed_from_the_registry() {
    let mut f = Fixture::with(
        vec![
            // Disconnected 4 s before the term, 10 s timeout: 6 s left.
            record("c-0001", 10.0, Some(BASE_NS - 4_000_000_000)),
            // Disconnected 20 s before, 10 s timeout: already past.
            record("c-0002", 10.0, Some(BASE_NS - 20_000_000_000)),
            // Connected when the old leader died, timeout 0: the grace.
            record("c-0003", 0.0, None),
            // Connected, timeout longer than the grace.
            record("c-0004", 120.0, None),
        ],
        &[],
    );
    for id in ["c-0001", "c-0002", "c-0003", "c-0004"] {
        assert_eq!(f.state(id), Some(FrameworkState::Recovered));
    }
    assert_eq!(f.table.counts().recovered, 4);
    assert!(matches!(f.presence("c-0001"),
        Some(Presence::Recovered { failover: Some(fo) }) if fo.since_ns == BASE_NS - 4_000_000_000));
    assert!(matches!(f.presence("c-0003"),
        Some(Presence::Recovered { failover: Some(fo) }) if fo.since_ns == BASE_NS));

    let out = f.step(Event::Tick);
    assert_eq!(
        completions(&out),
        vec!["c-0002".to_string()],
        "past its timeout"
    );
    f.apply(&out, applied);

    let out = f.advance(Duration::from_millis(5_500));
    assert!(completions(&out).is_empty());
    let out = f.advance(Duration::from_millis(500));
    assert_eq!(completions(&out), vec!["c-0001".to_string()]);
    f.apply(&out, applied);

    assert!(completions(&f.advance(secs(53))).is_empty());
    assert_eq!(completions(&f.advance(secs(1))), vec!["c-0003".to_string()]);
    assert!(completions(&f.advance(secs(59))).is_empty());
    assert_eq!(completions(&f.advance(secs(1))), vec!["c-0004".to_string()]);
}

#[test]
fn a_recovered_framework_resubscribes() {
    let mut f = Fixture::with(
        vec![
            record("c-0001", 10.0, Some(BASE_NS - 1_000_000_000)),
            record("c-0002", 10.0, None),
        ],
        &[],
    );
    // Recorded as disconnected: the registry is corrected before SUBSCRIBED.
    let out = f.subscribe(1, info(Some("c-0001"), 10.0));
    assert!(matches!(
        proposals(&out).as_slice(),
        [Command::UpdateFramework {
            disconnected_time_ns: None,
            ..
        }]
    ));
    assert_eq!(
        subscribed_id(&f.apply(&out, applied), 1).as_deref(),
        Some("c-0001")
    );
    // Recorded as connected with the same info: nothing to write.
    let out = f.subscribe(2, info(Some("c-0002"), 10.0));
    assert!(proposals(&out).is_empty());
    assert_eq!(subscribed_id(&out, 2).as_deref(), Some("c-0002"));
    assert!(completions(&f.advance(secs(120))).is_empty());
}

#[test]
fn frameworks_learned_from_agents_stay_recovered_until_they_subscribe() {
    let mut f = Fixture::with(Vec::new(), &["c-0050"]);
    f.step(Event::Learned {
        info: info(Some("c-0100"), 5.0),
    });
    f.step(Event::Learned {
        info: info(Some("c-0050"), 5.0),
    });
    assert_eq!(f.state("c-0100"), Some(FrameworkState::Recovered));
    assert_eq!(f.state("c-0050"), None, "completed: not brought back");
    let out = f.advance(secs(3600));
    assert!(proposals(&out).is_empty(), "no record, no timer");
    assert_eq!(f.subscribed(9, 0.0), "c-0101", "the sequence moved past it");

    let out = f.subscribe(1, info(Some("c-0100"), 5.0));
    assert!(matches!(proposals(&out).as_slice(),
        [Command::AddFramework { info, .. }] if info.id == Some(fid("c-0100"))));
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 1).as_deref(), Some("c-0100"));
}

#[test]
fn a_framework_learned_from_agents_is_added_before_it_is_completed() {
    let mut f = Fixture::new();
    f.step(Event::Learned {
        info: info(Some("x"), 5.0),
    });
    let out = f.step(Event::Teardown {
        framework_id: "x".into(),
        request: 1,
    });
    let all = f.apply_all(out);
    let commands = proposals(&all);
    assert!(matches!(commands[0], Command::AddFramework { .. }));
    assert!(is_complete(commands[1], "x"));
    assert_eq!(removed(&all), vec!["x".to_string()]);
    assert!(f.table.is_completed("x"));
}

#[test]
fn views_count_states_and_keep_the_latest_completed() {
    let mut f = Fixture::with(vec![record("c-0001", 10.0, None)], &["c-0000"]);
    let active = f.subscribed(1, 0.0);
    let inactive = f.subscribed(2, 100.0);
    let out = f.step(Event::StreamClosed { stream: 2 });
    f.apply(&out, applied);
    let counts = f.table.counts();
    assert_eq!(
        (
            counts.active,
            counts.inactive,
            counts.recovered,
            counts.completed
        ),
        (1, 1, 1, 1)
    );
    let ids = |state| -> Vec<String> {
        f.table
            .in_state(state)
            .map(|(id, _)| id.to_string())
            .collect()
    };
    assert_eq!(ids(FrameworkState::Active), vec![active.clone()]);
    assert_eq!(ids(FrameworkState::Inactive), vec![inactive.clone()]);

    for id in [active, inactive, "c-0001".to_string()] {
        let out = f.step(Event::Teardown {
            framework_id: id,
            request: 1,
        });
        f.apply_all(out);
    }
    let completed: Vec<String> = f
        .table
        .completed()
        .map(|c| c.framework_id.clone())
        .collect();
    assert_eq!(
        completed,
        vec!["c-0001", "c-0003", "c-0002"],
        "newest first, 3 kept"
    );
    assert_eq!(f.table.counts().completed, 4, "every id stays refused");
}
