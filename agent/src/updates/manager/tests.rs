//! The update manager's rules, call by call.

use super::*;
use crate::keys::ExecutorKey;
use mesoraft_proto::mesos::v1::{FrameworkId, TaskId, TaskState, TaskStatus};

fn update(task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
    StatusUpdate {
        framework_id: FrameworkId { value: "f1".into() },
        status: TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(vec![uuid; 16]),
        ..Default::default()
    }
}

fn run() -> RunKey {
    RunKey {
        executor: ExecutorKey {
            framework_id: "f1".into(),
            executor_id: "e1".into(),
        },
        container_id: "c1".into(),
    }
}

/// The uuids forwarded among `actions`.
fn forwarded(actions: &[UpdateAction]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            UpdateAction::Forward(u) => Some(u.uuid.as_ref().unwrap()[0]),
            _ => None,
        })
        .collect()
}

fn resumed(now: Instant) -> UpdateManager {
    let mut manager = UpdateManager::new(Duration::from_secs(10));
    assert!(manager.resume(now).is_empty());
    manager
}

#[test]
fn an_update_is_recorded_before_it_is_forwarded_and_only_the_head_is_in_flight() {
    let now = Instant::now();
    let mut m = resumed(now);
    let actions = m
        .update(update("t1", TaskState::TaskStarting, 1), Some(run()), now)
        .unwrap();
    assert!(matches!(
        &actions[0],
        UpdateAction::Record {
            record: Record::Update(_),
            ..
        }
    ));
    assert_eq!(forwarded(&actions), [1]);
    // The next waits behind the head, recorded but not sent.
    let actions = m
        .update(update("t1", TaskState::TaskRunning, 2), Some(run()), now)
        .unwrap();
    assert_eq!(actions.len(), 1);
    assert!(forwarded(&actions).is_empty());
    // Another task's stream is independent.
    let actions = m
        .update(update("t2", TaskState::TaskRunning, 3), Some(run()), now)
        .unwrap();
    assert_eq!(forwarded(&actions), [3]);

    let acked = m.acknowledge("f1", "t1", &[1; 16], now).unwrap();
    assert!(!acked.stream_closed);
    assert!(matches!(
        &acked.actions[0],
        UpdateAction::Record {
            record: Record::Ack(_),
            ..
        }
    ));
    assert_eq!(forwarded(&acked.actions), [2]);
}

#[test]
fn duplicates_of_updates_and_acks_change_nothing() {
    let now = Instant::now();
    let mut m = resumed(now);
    m.update(update("t1", TaskState::TaskRunning, 1), None, now)
        .unwrap();
    assert!(m
        .update(update("t1", TaskState::TaskRunning, 1), None, now)
        .unwrap()
        .is_empty());
    m.acknowledge("f1", "t1", &[1; 16], now).unwrap();
    // Acknowledged already: a resent copy from the executor is dropped.
    assert!(m
        .update(update("t1", TaskState::TaskRunning, 1), None, now)
        .unwrap()
        .is_empty());
    assert_eq!(
        m.acknowledge("f1", "t1", &[1; 16], now),
        Err(AckError::Duplicate)
    );
    m.update(update("t1", TaskState::TaskFinished, 2), None, now)
        .unwrap();
    assert_eq!(
        m.acknowledge("f1", "t1", &[9; 16], now),
        Err(AckError::Unexpected)
    );
    assert!(matches!(
        m.acknowledge("f1", "t9", &[2; 16], now),
        Err(AckError::UnknownStream { .. })
    ));
}

#[test]
fn the_head_is_resent_with_the_interval_doubling_up_to_ten_minutes() {
    let start = Instant::now();
    let mut m = resumed(start);
    m.update(update("t1", TaskState::TaskRunning, 1), None, start)
        .unwrap();
    assert_eq!(m.next_due(), Some(start + Duration::from_secs(10)));
    assert!(m.tick(start + Duration::from_secs(9)).is_empty());
    let mut now = start + Duration::from_secs(10);
    let mut intervals = Vec::new();
    for _ in 0..8 {
        assert_eq!(forwarded(&m.tick(now)), [1]);
        let due = m.next_due().unwrap();
        intervals.push((due - now).as_secs());
        now = due;
    }
    assert_eq!(intervals, [20, 40, 80, 160, 320, 600, 600, 600]);
    // An acknowledgement ends the retries.
    m.acknowledge("f1", "t1", &[1; 16], now).unwrap();
    assert_eq!(m.next_due(), None);
}

#[test]
fn nothing_is_sent_while_paused_and_every_head_goes_on_resume() {
    let now = Instant::now();
    let mut m = UpdateManager::new(Duration::from_secs(10));
    let actions = m
        .update(update("t1", TaskState::TaskRunning, 1), Some(run()), now)
        .unwrap();
    assert!(forwarded(&actions).is_empty(), "recorded, not sent");
    m.update(update("t1", TaskState::TaskFinished, 2), Some(run()), now)
        .unwrap();
    m.update(update("t2", TaskState::TaskRunning, 3), None, now)
        .unwrap();
    assert!(m.tick(now + Duration::from_secs(3600)).is_empty());
    assert_eq!(m.next_due(), None);
    let mut heads = forwarded(&m.resume(now));
    heads.sort();
    assert_eq!(heads, [1, 3]);

    m.pause();
    let acked = m.acknowledge("f1", "t1", &[1; 16], now).unwrap();
    assert!(
        forwarded(&acked.actions).is_empty(),
        "paused: the next waits"
    );
    assert_eq!(forwarded(&m.resume(now)), [2, 3]);
}

#[test]
fn a_terminal_acknowledgement_closes_the_stream() {
    let now = Instant::now();
    let mut m = resumed(now);
    m.update(update("t1", TaskState::TaskFinished, 1), None, now)
        .unwrap();
    let acked = m.acknowledge("f1", "t1", &[1; 16], now).unwrap();
    assert!(acked.stream_closed);
    assert_eq!(acked.update.status.state(), TaskState::TaskFinished);
    assert!(!m.has_stream("f1", "t1"));
}

#[test]
fn an_update_without_uuid_or_a_checkpoint_mismatch_is_refused() {
    let now = Instant::now();
    let mut m = resumed(now);
    let mut no_uuid = update("t1", TaskState::TaskRunning, 1);
    no_uuid.uuid = None;
    assert_eq!(m.update(no_uuid, None, now), Err(UpdateError::MissingUuid));
    m.update(update("t1", TaskState::TaskRunning, 1), Some(run()), now)
        .unwrap();
    assert!(matches!(
        m.update(update("t1", TaskState::TaskRunning, 2), None, now),
        Err(UpdateError::CheckpointMismatch { .. })
    ));
}

#[test]
fn a_replayed_log_restores_what_is_unacknowledged_and_drops_ended_streams() {
    let now = Instant::now();
    let mut m = UpdateManager::new(Duration::from_secs(10));
    let records = vec![
        Record::Update(Box::new(update("t1", TaskState::TaskStarting, 1))),
        Record::Ack(vec![1; 16]),
        Record::Update(Box::new(update("t1", TaskState::TaskRunning, 2))),
        Record::Update(Box::new(update("t1", TaskState::TaskFinished, 3))),
    ];
    m.replay(run(), records);
    let pending: Vec<u8> = m
        .pending("f1", "t1")
        .iter()
        .map(|u| u.uuid.as_ref().unwrap()[0])
        .collect();
    assert_eq!(pending, [2, 3]);
    // The executor resends what it has: dropped as duplicates.
    assert!(m
        .update(update("t1", TaskState::TaskStarting, 1), Some(run()), now)
        .unwrap()
        .is_empty());
    assert_eq!(forwarded(&m.resume(now)), [2]);

    let mut ended = UpdateManager::new(Duration::from_secs(10));
    ended.replay(
        run(),
        vec![
            Record::Update(Box::new(update("t1", TaskState::TaskFinished, 1))),
            Record::Ack(vec![1; 16]),
        ],
    );
    assert!(!ended.has_stream("f1", "t1"));
}

#[test]
fn dropping_a_framework_forgets_its_streams() {
    let now = Instant::now();
    let mut m = resumed(now);
    m.update(update("t1", TaskState::TaskRunning, 1), None, now)
        .unwrap();
    assert_eq!(m.drop_framework("f1").len(), 1);
    assert!(m.tick(now + Duration::from_secs(60)).is_empty());
}
