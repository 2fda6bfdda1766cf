//! The scheduler against fake masters on loopback: leader finding,
//! redirects, the stream, acknowledgements, re-subscription,
//! reconciliation, and the final stops.

mod fake;

use std::time::Duration;

use fake::{offer, subscribed, update, wait_for, FakeMaster, Mode};
use mesoraft_client::calls::command_task;
use mesoraft_client::reconcile::ReconcileTiming;
use mesoraft_client::{
    framework_info, CallError, Config, Events, Scheduler, SchedulerEvent, SchedulerHandle,
    StopReason,
};
use mesoraft_proto::mesos::v1::scheduler::call::Type;
use mesoraft_proto::mesos::v1::{AgentId, OfferId, TaskId, TaskState};

fn config(masters: &[&FakeMaster]) -> Config {
    let mut c = Config::new(
        masters.iter().map(|m| m.addr.clone()).collect(),
        framework_info("test", "nobody"),
    );
    c.backoff_base = Duration::from_millis(10);
    c.backoff_cap = Duration::from_millis(50);
    c
}

fn connect(config: Config) -> (SchedulerHandle, Events) {
    Scheduler::connect(config).expect("a valid configuration")
}

/// The next event that is not an offer or other noise the test ignores,
/// within a deadline.
async fn next(events: &mut Events) -> SchedulerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the stream has not ended")
}

async fn expect_subscribed(events: &mut Events, master: &FakeMaster) {
    match next(events).await {
        SchedulerEvent::Subscribed {
            master: at,
            framework_id,
            ..
        } => {
            assert_eq!(at, master.addr);
            assert_eq!(framework_id.value, "f1");
        }
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

/// After a lost stream: Disconnected, then the `nth` SUBSCRIBE at
/// `master` carries the FrameworkID (in the framework info and in the
/// call); the master accepts it.
async fn expect_resubscribed(events: &mut Events, master: &FakeMaster, nth: usize) {
    assert!(matches!(
        next(events).await,
        SchedulerEvent::Disconnected { .. }
    ));
    let subs = master.wait_calls(Type::Subscribe, nth).await;
    let call = &subs[nth - 1].call;
    let info = &call.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.id.as_ref().unwrap().value, "f1");
    // Mesos refuses `framework_info.id` without the call's `framework_id`.
    assert_eq!(
        call.framework_id.as_ref().map(|f| f.value.as_str()),
        Some("f1")
    );
    master.send(&subscribed("f1", 15.0));
    expect_subscribed(events, master).await;
}

#[tokio::test]
async fn follows_the_redirect_acks_updates_and_resubscribes_with_its_id() {
    let leader = FakeMaster::start(Mode::Lead).await;
    let follower = FakeMaster::start(Mode::RedirectTo(leader.addr.clone())).await;
    let (handle, mut events) = connect(config(&[&follower]));

    // SUBSCRIBE reaches the leader through the follower's 307.
    let sub = leader.wait_calls(Type::Subscribe, 1).await;
    assert_eq!(sub[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(sub[0].accept.as_deref(), Some("application/json"));
    let info = &sub[0].call.subscribe.as_ref().unwrap().framework_info;
    assert_eq!((info.name.as_str(), info.id.as_ref()), ("test", None));
    assert_eq!(follower.calls().len(), 0, "the follower records nothing");

    leader.send(&subscribed("f1", 15.0));
    expect_subscribed(&mut events, &leader).await;
    assert_eq!(handle.leader().as_deref(), Some(leader.addr.as_str()));
    // Nothing known yet: an implicit reconciliation only.
    let rec = leader.wait_calls(Type::Reconcile, 1).await;
    assert!(rec[0].call.reconcile.as_ref().unwrap().tasks.is_empty());
    assert_eq!(rec[0].stream_id, leader.stream_id());

    // An offer, split across chunks anywhere, then a launch.
    let framed = mesoraft_client::recordio::frame(offer("o1", "a1").as_bytes());
    let (head, tail) = framed.split_at(framed.len() / 2);
    leader.send_raw(&head[..1]);
    leader.send_raw(&head[1..]);
    leader.send_raw(tail);
    let SchedulerEvent::Offers(offers) = next(&mut events).await else {
        panic!("expected offers")
    };
    assert_eq!(offers[0].id.value, "o1");
    handle
        .launch(
            vec![offers[0].id.clone()],
            vec![command_task(
                "t1",
                &AgentId { value: "a1".into() },
                vec![],
                "true",
            )],
            None,
        )
        .await
        .unwrap();
    let accept = leader.wait_calls(Type::Accept, 1).await;
    assert_eq!(accept[0].stream_id.as_deref(), Some("stream-1"));
    assert_eq!(accept[0].call.framework_id.as_ref().unwrap().value, "f1");

    // An update with a uuid is handed over, then acknowledged.
    leader.send(&update("t1", "a1", "TASK_RUNNING", Some("AQID")));
    let SchedulerEvent::Update(status) = next(&mut events).await else {
        panic!("expected an update")
    };
    assert_eq!(status.state(), TaskState::TaskRunning);
    let acks = leader.wait_calls(Type::Acknowledge, 1).await;
    let ack = acks[0].call.acknowledge.as_ref().unwrap();
    assert_eq!(ack.uuid, vec![1, 2, 3]);
    assert_eq!(
        (ack.task_id.value.as_str(), ack.agent_id.value.as_str()),
        ("t1", "a1")
    );
    assert_eq!(acks[0].stream_id.as_deref(), Some("stream-1"));

    // The stream ends: the scheduler says so and subscribes again, with
    // the FrameworkID it was given.
    leader.cut_stream();
    expect_resubscribed(&mut events, &leader, 2).await;

    // t1 is running as far as the scheduler knows: reconciled explicitly,
    // with its agent, on the new stream.
    let recs = leader.wait_calls(Type::Reconcile, 3).await;
    let explicit = recs[1].call.reconcile.as_ref().unwrap();
    assert_eq!(explicit.tasks[0].task_id.value, "t1");
    assert_eq!(explicit.tasks[0].agent_id.as_ref().unwrap().value, "a1");
    assert_eq!(recs[1].stream_id.as_deref(), Some("stream-2"));
    assert!(recs[2].call.reconcile.as_ref().unwrap().tasks.is_empty());

    // A reconciliation answer (no uuid) needs no acknowledgement; a
    // terminal update with one does.
    leader.send(&update("t1", "a1", "TASK_RUNNING", None));
    leader.send(&update("t1", "a1", "TASK_FINISHED", Some("BAU=")));
    for _ in 0..2 {
        assert!(matches!(next(&mut events).await, SchedulerEvent::Update(_)));
    }
    let acks = leader.wait_calls(Type::Acknowledge, 2).await;
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[1].call.acknowledge.as_ref().unwrap().uuid, vec![4, 5]);

    handle.teardown().await.unwrap();
    assert_eq!(leader.calls_of(Type::Teardown).len(), 1);
    assert_eq!(
        next(&mut events).await,
        SchedulerEvent::Stopped(StopReason::TornDown)
    );
    assert_eq!(handle.decline(vec![], None).await, Err(CallError::Stopped));
}

#[tokio::test]
async fn a_silent_stream_is_dropped_after_missed_heartbeats() {
    let leader = FakeMaster::start(Mode::Lead).await;
    let mut c = config(&[&leader]);
    c.heartbeat_misses = 2;
    let (_handle, mut events) = connect(c);
    leader.wait_calls(Type::Subscribe, 1).await;
    leader.send(&subscribed("f1", 0.1));
    expect_subscribed(&mut events, &leader).await;
    match next(&mut events).await {
        SchedulerEvent::Disconnected { reason } => {
            assert!(reason.contains("heartbeat"), "{reason}")
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let subs = leader.wait_calls(Type::Subscribe, 2).await;
    let info = &subs[1].call.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.id.as_ref().unwrap().value, "f1");
}

#[tokio::test]
async fn a_call_answered_307_moves_the_scheduler_to_the_new_leader() {
    let a = FakeMaster::start(Mode::Unavailable).await;
    let b = FakeMaster::start(Mode::Lead).await;
    let (handle, mut events) = connect(config(&[&a, &b]));
    // a answers 503: the scheduler moves on to b.
    b.wait_calls(Type::Subscribe, 1).await;
    b.send(&subscribed("f1", 15.0));
    expect_subscribed(&mut events, &b).await;

    // Leadership moves to a; b redirects there. The next call learns it.
    a.set_mode(Mode::Lead);
    b.set_mode(Mode::RedirectTo(a.addr.clone()));
    let e = handle
        .decline(vec![OfferId { value: "o1".into() }], None)
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::NotLeader { .. }), "{e}");
    assert!(e.certainly_not_acted_on());
    expect_resubscribed(&mut events, &a, 1).await;
    handle
        .decline(vec![OfferId { value: "o1".into() }], None)
        .await
        .unwrap();
    let declines = a.wait_calls(Type::Decline, 1).await;
    assert_eq!(declines[0].stream_id, a.stream_id());
}

#[tokio::test]
async fn a_removed_framework_stops_for_good() {
    let leader = FakeMaster::start(Mode::Lead).await;
    let (handle, mut events) = connect(config(&[&leader]));
    leader.wait_calls(Type::Subscribe, 1).await;
    leader.send(r#"{"type":"ERROR","error":{"message":"Framework has been removed"}}"#);
    match next(&mut events).await {
        SchedulerEvent::Stopped(StopReason::Removed(m)) => assert!(m.contains("removed")),
        other => panic!("expected Stopped(Removed), got {other:?}"),
    }
    assert!(events.recv().await.is_none(), "Stopped is the last event");
    assert_eq!(handle.subscribed().await, Err(CallError::Stopped));
    assert_eq!(leader.calls_of(Type::Subscribe).len(), 1);
}

#[tokio::test]
async fn a_refused_subscribe_stops_with_the_masters_words() {
    let m = FakeMaster::start(Mode::Refuse(400, "Failed to validate: no user".into())).await;
    let (_handle, mut events) = connect(config(&[&m]));
    match next(&mut events).await {
        SchedulerEvent::Stopped(StopReason::SubscribeRefused { status, body, .. }) => {
            assert_eq!(
                (status, body.as_str()),
                (400, "Failed to validate: no user")
            );
        }
        other => panic!("expected SubscribeRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn no_leader_gives_up_after_the_configured_time_and_says_why() {
    let m = FakeMaster::start(Mode::Unavailable).await;
    let mut c = config(&[&m]);
    c.give_up_after = Some(Duration::from_millis(200));
    let (_handle, mut events) = connect(c);
    match next(&mut events).await {
        SchedulerEvent::Stopped(e @ StopReason::NoLeader { .. }) => {
            assert!(e.to_string().contains("HTTP 503"), "{e}")
        }
        other => panic!("expected NoLeader, got {other:?}"),
    }
}

#[tokio::test]
async fn the_cluster_secret_travels_on_every_request() {
    let leader = FakeMaster::start(Mode::Lead).await;
    let mut c = config(&[&leader]);
    let token = mesoraft_ctl::security::SecretToken::from_bytes(b"0123456789abcdef");
    c.security.secret = Some(token.clone());
    c.reconciliation = ReconcileTiming {
        first_wait: Duration::from_secs(60),
        max_wait: Duration::from_secs(60),
    };
    c.known_tasks = vec![(
        TaskId {
            value: "old".into(),
        },
        None,
    )];
    let (handle, mut events) = connect(c);
    leader.wait_calls(Type::Subscribe, 1).await;
    leader.send(&subscribed("f1", 15.0));
    expect_subscribed(&mut events, &leader).await;
    handle.revive(vec![]).await.unwrap();
    // Known tasks from the configuration are reconciled explicitly.
    let recs = leader.wait_calls(Type::Reconcile, 2).await;
    assert_eq!(
        recs[0].call.reconcile.as_ref().unwrap().tasks[0]
            .task_id
            .value,
        "old"
    );
    let calls = wait_for("the revive", || {
        let c = leader.calls();
        c.iter().any(|r| r.kind() == Type::Revive).then_some(c)
    })
    .await;
    for call in calls {
        assert_eq!(call.auth.as_deref(), Some(token.header_value().as_str()));
    }
}
