//! SUBSCRIBE, re-subscription, TEARDOWN, UPDATE_FRAMEWORK, heartbeats.

use super::*;

#[test]
fn a_new_framework_is_answered_only_after_add_framework_applied() {
    let mut f = Fixture::new();
    let out = f.subscribe(1, info(None, 0.0));
    let commands = proposals(&out);
    assert!(
        matches!(commands.as_slice(), [Command::AddFramework { info, .. }]
            if info.id == Some(fid("c-0000")) && info.name == "sched"),
        "{out:?}"
    );
    assert_eq!(subscribed_id(&out, 1), None, "nothing before the write");
    assert_eq!(f.state("c-0000"), Some(FrameworkState::Subscribing));

    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 1).as_deref(), Some("c-0000"));
    assert!(out.iter().any(|a| matches!(a,
        Action::FrameworkActivated { framework_id, .. } if framework_id == "c-0000")));
    assert!(out.iter().any(|a| matches!(a,
        Action::Send { event: SchedulerEvent::Subscribed { heartbeat_interval_seconds, .. }, .. }
            if *heartbeat_interval_seconds == 15.0)));
    assert_eq!(f.state("c-0000"), Some(FrameworkState::Active));
    assert_eq!(f.table.framework_of_stream(1), Some("c-0000"));
    assert_eq!(f.table.counts().active, 1);
    assert_eq!(f.table.frameworks()["c-0000"].reregistered_ns, None);
}

#[test]
fn new_ids_continue_the_registry_sequence() {
    let mut f = Fixture::with(vec![record("c-0004", 0.0, None)], &["c-0007", "mine"]);
    assert_eq!(f.subscribed(1, 0.0), "c-0008");
    assert_eq!(f.subscribed(2, 0.0), "c-0009");
}

#[test]
fn resubscription_replaces_the_stream_and_the_old_one_gets_error() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let out = f.subscribe(2, info(Some(&id), 60.0));
    assert_eq!(errors_on(&out, 1), vec![FAILED_OVER_MESSAGE.to_string()]);
    assert!(closes(&out, 1));
    assert!(out.contains(&Action::FrameworkDeactivated {
        framework_id: id.clone()
    }));
    assert!(proposals(&out).is_empty(), "unchanged info: no write");
    assert_eq!(subscribed_id(&out, 2), Some(id.clone()));
    assert!(
        f.table.frameworks()[&id].reregistered_ns.is_some(),
        "a re-subscription is a re-registration in the views"
    );
    assert_eq!(f.table.framework_of_stream(1), None);
    assert_eq!(f.table.framework_of_stream(2), Some(id.as_str()));
    // The old stream closing now changes nothing.
    assert!(f.step(Event::StreamClosed { stream: 1 }).is_empty());
    assert_eq!(f.state(&id), Some(FrameworkState::Active));
}

#[test]
fn changed_info_is_written_before_subscribed() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let mut new = info(Some(&id), 120.0);
    new.name = "renamed".into();
    new.roles = vec!["web".into()];
    let out = f.subscribe(2, new.clone());
    assert!(
        matches!(proposals(&out).as_slice(), [Command::UpdateFramework { info, disconnected_time_ns: None }]
            if *info == new),
        "{out:?}"
    );
    assert_eq!(subscribed_id(&out, 2), None);
    let out = f.apply(&out, applied);
    assert_eq!(subscribed_id(&out, 2), Some(id.clone()));
    assert_eq!(f.table.frameworks()[&id].info, new);
}

#[test]
fn user_principal_and_checkpoint_cannot_change_on_resubscription() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let mut new = info(Some(&id), 60.0);
    new.user = "bob".into();
    let out = f.subscribe(2, new);
    let errors = errors_on(&out, 2);
    assert!(
        errors.len() == 1 && errors[0].contains("'FrameworkInfo.user'"),
        "{errors:?}"
    );
    assert!(closes(&out, 2));
    assert!(proposals(&out).is_empty());
    assert!(!closes(&out, 1), "the subscribed stream is kept");
    assert_eq!(f.table.framework_of_stream(1), Some(id.as_str()));
}

#[test]
fn a_completed_id_is_refused() {
    let mut f = Fixture::with(Vec::new(), &["c-0003"]);
    let out = f.subscribe(1, info(Some("c-0003"), 0.0));
    assert_eq!(errors_on(&out, 1), vec![REMOVED_MESSAGE.to_string()]);
    assert!(closes(&out, 1));
    assert!(proposals(&out).is_empty());
    assert!(f.table.frameworks().is_empty());
}

#[test]
fn an_invalid_failover_timeout_is_refused() {
    let mut f = Fixture::new();
    let out = f.subscribe(1, info(None, f64::NAN));
    assert!(errors_on(&out, 1)[0].contains("failover_timeout"));
    assert!(closes(&out, 1));
    assert!(f.table.frameworks().is_empty());
}

#[test]
fn teardown_completes_the_framework_and_its_id_is_refused_for_ever() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 3600.0);
    let out = f.step(Event::Teardown {
        framework_id: id.clone(),
        request: 9,
    });
    assert!(out.contains(&Action::FrameworkDeactivated {
        framework_id: id.clone()
    }));
    assert!(matches!(proposals(&out).as_slice(), [c] if is_complete(c, &id)));
    assert!(removed(&out).is_empty(), "only once completed");
    assert!(answers(&out).is_empty());
    assert_eq!(f.state(&id), Some(FrameworkState::Removing));

    let out = f.apply(&out, applied);
    assert_eq!(removed(&out), vec![id.clone()]);
    assert_eq!(answers(&out), vec![(9, CallAnswer::Done)]);
    assert_eq!(errors_on(&out, 1), vec![REMOVED_MESSAGE.to_string()]);
    assert!(closes(&out, 1));
    assert!(f.table.is_completed(&id));

    let out = f.subscribe(2, info(Some(&id), 3600.0));
    assert_eq!(errors_on(&out, 2), vec![REMOVED_MESSAGE.to_string()]);
    let again = f.step(Event::Teardown {
        framework_id: id,
        request: 10,
    });
    assert_eq!(answers(&again), vec![(10, CallAnswer::Removed)]);
    let unknown = f.step(Event::Teardown {
        framework_id: "nope".into(),
        request: 11,
    });
    assert_eq!(answers(&unknown), vec![(11, CallAnswer::UnknownFramework)]);
}

#[test]
fn heartbeats_go_to_subscribed_streams_every_interval() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let heartbeats = |out: &[Action]| {
        out.iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Send {
                        stream: 1,
                        event: SchedulerEvent::Heartbeat
                    }
                )
            })
            .count()
    };
    assert_eq!(heartbeats(&f.advance(Duration::from_secs(14))), 0);
    assert_eq!(heartbeats(&f.advance(Duration::from_secs(1))), 1);
    assert_eq!(heartbeats(&f.advance(Duration::from_secs(15))), 1);
    let out = f.step(Event::StreamClosed { stream: 1 });
    f.apply(&out, applied);
    assert_eq!(heartbeats(&f.advance(Duration::from_secs(30))), 0);
    assert_eq!(f.state(&id), Some(FrameworkState::Inactive));
}

#[test]
fn update_framework_writes_only_a_changed_info() {
    let mut f = Fixture::new();
    let id = f.subscribed(1, 60.0);
    let update = |info, request| Event::UpdateFramework {
        framework_id: id.clone(),
        info,
        request,
    };
    let out = f.step(update(info(Some(&id), 60.0), 1));
    assert_eq!(answers(&out), vec![(1, CallAnswer::Done)]);
    assert!(proposals(&out).is_empty(), "unchanged: no write");

    let mut new = info(Some(&id), 60.0);
    new.roles = vec!["batch".into()];
    let out = f.step(update(new.clone(), 2));
    assert!(
        matches!(proposals(&out).as_slice(), [Command::UpdateFramework { info, .. }] if *info == new)
    );
    assert!(answers(&out).is_empty(), "answered once written");
    let out = f.apply(&out, applied);
    assert_eq!(answers(&out), vec![(2, CallAnswer::Done)]);
    assert!(out.contains(&Action::FrameworkUpdated {
        framework_id: id.clone(),
        info: new.clone()
    }));

    let mut bad = new.clone();
    bad.checkpoint = Some(false);
    let out = f.step(update(bad, 3));
    assert!(
        matches!(&answers(&out)[..], [(3, CallAnswer::Invalid(m))] if m.contains("checkpoint"))
    );
    let out = f.step(update(info(Some("other"), 60.0), 4));
    assert!(
        matches!(&answers(&out)[..], [(4, CallAnswer::Invalid(m))] if m.contains("does not match"))
    );

    let out = f.step(Event::StreamClosed { stream: 1 });
    f.apply(&out, applied);
    let out = f.step(update(new, 5));
    assert_eq!(answers(&out), vec![(5, CallAnswer::NotSubscribed)]);
}
