//! Registry write outcomes: refused, certainly not applied, maybe applied.

use super::*;

fn added_ids(actions: &[Action]) -> Vec<String> {
    proposals(actions)
        .into_iter()
        .filter_map(|c| match c {
            Command::AddFramework { info, .. } => info.id.as_ref().map(|id| id.value.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refused_add_refuses_the_subscription() {
    let mut f = Fixture::new();
    let out = f.subscribe(1, info(None, 0.0));
    let error = RegistryError::ClusterNotInitialized;
    let out = f.apply(&out, refused(error));
    let errors = errors_on(&out, 1);
    assert!(
        errors.len() == 1 && errors[0].starts_with("Subscription refused"),
        "{errors:?}"
    );
    assert!(closes(&out, 1));
    assert!(f.table.frameworks().is_empty());
    assert_eq!(f.table.framework_of_stream(1), None);
    assert!(proposals(&f.advance(Duration::from_secs(5))).is_empty());
}

#[test]
fn a_failed_add_is_retried_with_the_same_id() {
    let mut f = Fixture::new();
    let out = f.subscribe(1, info(None, 0.0));
    let out = f.apply(&out, failed(false));
    assert!(out.is_empty(), "nothing until the retry interval: {out:?}");
    let out = f.advance(RETRY);
    assert_eq!(added_ids(&out), vec!["c-0000".to_string()]);
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 1).as_deref(), Some("c-0000"));
}

/// The case the reserved id exists for: the first AddFramework applied
/// but its answer was lost; the retry must not make a second framework.
#[test]
fn a_maybe_applied_add_makes_one_framework_for_one_subscriber() {
    let mut f = Fixture::new();
    let first = f.subscribe(1, info(None, 0.0));
    assert!(f.apply(&first, failed(true)).is_empty());
    let retry = f.advance(RETRY);
    assert_eq!(added_ids(&retry), vec!["c-0000".to_string()], "same id");
    // The registry has it from the first attempt.
    let exists = RegistryError::FrameworkAlreadyExists {
        framework_id: "c-0000".into(),
    };
    let out = f.apply(&retry, refused(exists));
    assert!(subscribed_id(&out, 1).is_none());
    assert!(
        matches!(
            proposals(&out).as_slice(),
            [Command::UpdateFramework {
                disconnected_time_ns: None,
                ..
            }]
        ),
        "what the registry holds is rewritten: {out:?}"
    );
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 1).as_deref(), Some("c-0000"));
    assert_eq!(f.table.frameworks().len(), 1);
    // A later subscriber gets a new id, never c-0000 again.
    assert_eq!(f.subscribed(2, 0.0), "c-0001");
}

#[test]
fn already_exists_without_doubt_is_a_refusal() {
    let mut f = Fixture::new();
    let out = f.subscribe(1, info(Some("taken"), 0.0));
    let exists = RegistryError::FrameworkAlreadyExists {
        framework_id: "taken".into(),
    };
    let out = f.apply(&out, refused(exists));
    assert!(errors_on(&out, 1)[0].contains("already exists"));
    assert!(f.table.frameworks().is_empty());
}

#[test]
fn a_maybe_applied_add_is_resolved_after_its_stream_closed() {
    let mut f = Fixture::new();
    let first = f.subscribe(1, info(None, 10.0));
    f.apply(&first, failed(true));
    f.step(Event::StreamClosed { stream: 1 });
    let retry = f.advance(RETRY);
    assert_eq!(added_ids(&retry), vec!["c-0000".to_string()]);
    let out = f.apply(&retry, applied);
    assert!(subscribed_id(&out, 1).is_none(), "the stream is gone");
    assert!(
        matches!(
            proposals(&out).as_slice(),
            [Command::UpdateFramework {
                disconnected_time_ns: Some(_),
                ..
            }]
        ),
        "recorded as disconnected: {out:?}"
    );
    f.apply(&out, applied);
    assert_eq!(f.state("c-0000"), Some(FrameworkState::Inactive));
    let out = f.advance(Duration::from_secs(10));
    assert!(proposals(&out).iter().any(|c| is_complete(c, "c-0000")));
}

#[test]
fn a_stream_closed_before_a_certainly_failed_add_leaves_nothing() {
    let mut f = Fixture::new();
    let first = f.subscribe(1, info(None, 10.0));
    f.step(Event::StreamClosed { stream: 1 });
    let out = f.apply(&first, failed(false));
    assert!(out.is_empty());
    assert!(proposals(&f.advance(Duration::from_secs(30))).is_empty());
    assert!(f.table.frameworks().is_empty());
}

#[test]
fn a_stream_closed_while_its_add_is_written_is_recorded_disconnected() {
    let mut f = Fixture::new();
    let first = f.subscribe(1, info(None, 10.0));
    f.step(Event::StreamClosed { stream: 1 });
    let out = f.apply(&first, applied);
    assert!(subscribed_id(&out, 1).is_none());
    assert!(matches!(
        proposals(&out).as_slice(),
        [Command::UpdateFramework {
            disconnected_time_ns: Some(_),
            ..
        }]
    ));
}

#[test]
fn a_refused_update_refuses_the_resubscription_and_keeps_the_old_info() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let mut new = info(Some(&id), 60.0);
    new.name = "too big".into();
    let out = f.subscribe(2, new);
    let error = RegistryError::LimitExceeded {
        limit: mesoraft_registry::Limit::FrameworkInfo,
        actual: 1 << 20,
    };
    let out = f.apply(&out, refused(error));
    assert!(errors_on(&out, 2)[0].starts_with("Subscription refused"));
    assert!(closes(&out, 2));
    assert_eq!(
        f.table.frameworks()[&id].info.name,
        "sched",
        "old info kept"
    );
    assert_eq!(f.state(&id), Some(FrameworkState::Inactive));
    // Its disconnection is recorded (with the old info) after the pause.
    let out = f.advance(RETRY);
    assert!(matches!(proposals(&out).as_slice(),
        [Command::UpdateFramework { info, disconnected_time_ns: Some(_) }] if info.name == "sched"));
}

#[test]
fn a_maybe_applied_update_is_written_again() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let out = f.step(Event::StreamClosed { stream: 1 });
    f.apply(&out, failed(true));
    // Reconnecting now would look like "nothing to write" if the table
    // trusted the old record; it does not.
    let out = f.subscribe(2, info(Some(&id), 60.0));
    assert!(out.is_empty(), "waits for the retry interval: {out:?}");
    let out = f.advance(RETRY);
    assert!(matches!(
        proposals(&out).as_slice(),
        [Command::UpdateFramework {
            disconnected_time_ns: None,
            ..
        }]
    ));
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 2), Some(id));
}

#[test]
fn a_failed_completion_is_retried_and_reported_only_once_applied() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let out = f.step(Event::Teardown {
        framework_id: id.clone(),
        request: 5,
    });
    let out = f.apply(&out, failed(true));
    assert!(removed(&out).is_empty() && answers(&out).is_empty());
    // Still being removed: a re-subscription is refused meanwhile.
    let out = f.subscribe(2, info(Some(&id), 60.0));
    assert_eq!(errors_on(&out, 2), vec![REMOVED_MESSAGE.to_string()]);
    let out = f.advance(RETRY);
    assert!(matches!(proposals(&out).as_slice(), [c] if is_complete(c, &id)));
    let out = f.apply(&out, applied);
    assert_eq!(removed(&out), vec![id]);
    assert_eq!(answers(&out), vec![(5, CallAnswer::Done)]);
}

#[test]
fn a_stale_outcome_is_ignored() {
    let mut f = Fixture::new();
    let out = f.step(Event::Written {
        write: 42,
        outcome: WriteOutcome::Applied(Response::Applied),
    });
    assert!(out.is_empty());
}
