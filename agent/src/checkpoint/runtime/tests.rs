//! The runtime checkpoint written and read back, and damage reported.

use super::*;
use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::{AgentId, ExecutorId, FrameworkId, TaskId, TaskState, TaskStatus};

fn work_dir() -> (tempfile::TempDir, WorkDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::new(tmp.path().join("work"));
    (tmp, dir)
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

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "fw".into(),
        id: Some(FrameworkId { value: "f1".into() }),
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn task() -> Task {
    Task {
        name: "t1".into(),
        task_id: TaskId { value: "t1".into() },
        framework_id: FrameworkId { value: "f1".into() },
        executor_id: Some(ExecutorId { value: "e1".into() }),
        agent_id: AgentId {
            value: "c-S1".into(),
        },
        state: TaskState::TaskStaging as i32,
        ..Default::default()
    }
}

fn update(uuid: u8) -> Record {
    Record::Update(Box::new(StatusUpdate {
        framework_id: FrameworkId { value: "f1".into() },
        status: TaskStatus {
            task_id: TaskId { value: "t1".into() },
            state: TaskState::TaskRunning as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(vec![uuid; 16]),
        ..Default::default()
    }))
}

fn saved(dir: &WorkDir) {
    save_framework(dir, "c-S1", &framework()).unwrap();
    let info = ExecutorInfo {
        executor_id: ExecutorId { value: "e1".into() },
        ..Default::default()
    };
    save_executor(dir, "c-S1", &run(), &info, true).unwrap();
    save_run(
        dir,
        "c-S1",
        &run(),
        &ExecutorRunRecord {
            container_id: "c1".into(),
            command_executor: Some(true),
            pid: Some(4242),
            start_time: Some(99),
        },
    )
    .unwrap();
    save_task(dir, "c-S1", &run(), &task()).unwrap();
    append_update(dir, "c-S1", &run(), "t1", &update(1)).unwrap();
    append_update(dir, "c-S1", &run(), "t1", &Record::Ack(vec![1; 16])).unwrap();
    append_update(dir, "c-S1", &run(), "t1", &update(2)).unwrap();
}

#[test]
fn what_is_saved_loads_back() {
    let (_tmp, dir) = work_dir();
    saved(&dir);
    let frameworks = load_runtime(&dir, "c-S1").unwrap();
    assert_eq!(frameworks.len(), 1);
    assert_eq!(frameworks[0].info, framework());
    let executor = &frameworks[0].executors[0];
    assert_eq!(executor.run, run());
    assert!(executor.command_executor);
    assert_eq!((executor.pid, executor.start_time), (Some(4242), Some(99)));
    assert_eq!(executor.tasks[0].task, task());
    assert_eq!(
        executor.tasks[0].updates,
        vec![update(1), Record::Ack(vec![1; 16]), update(2)]
    );
    assert!(load_runtime(&dir, "c-S9").unwrap().is_empty());

    remove_executor(&dir, "c-S1", &run().executor).unwrap();
    assert!(load_runtime(&dir, "c-S1").unwrap()[0].executors.is_empty());
    remove_framework(&dir, "c-S1", "f1").unwrap();
    assert!(load_runtime(&dir, "c-S1").unwrap().is_empty());
}

#[test]
fn a_log_record_cut_short_is_dropped_and_the_file_repaired() {
    let (_tmp, dir) = work_dir();
    saved(&dir);
    let log = dir
        .task_dir(&dir.run_dir("c-S1", "f1", "e1", "c1"), "t1")
        .join(TASK_UPDATES);
    let whole = std::fs::read(&log).unwrap();
    std::fs::write(&log, &whole[..whole.len() - 5]).unwrap();
    let updates = &load_runtime(&dir, "c-S1").unwrap()[0].executors[0].tasks[0].updates;
    assert_eq!(updates.len(), 2);
    // The file was cut back to whole records: appending works again.
    append_update(&dir, "c-S1", &run(), "t1", &update(3)).unwrap();
    let updates = &load_runtime(&dir, "c-S1").unwrap()[0].executors[0].tasks[0].updates;
    assert_eq!(updates.last(), Some(&update(3)));
}

#[test]
fn damage_is_reported_with_the_path_not_half_loaded() {
    let (_tmp, dir) = work_dir();
    saved(&dir);
    let log = dir
        .task_dir(&dir.run_dir("c-S1", "f1", "e1", "c1"), "t1")
        .join(TASK_UPDATES);
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let err = load_runtime(&dir, "c-S1").unwrap_err();
    assert!(
        matches!(err, CheckpointError::Corrupt { ref path, .. } if path == &log),
        "{err}"
    );
    assert!(err.to_string().contains("remove"), "{err}");

    let (_tmp, dir) = work_dir();
    saved(&dir);
    std::fs::write(dir.framework_info_path("c-S1", "f1"), b"garbage").unwrap();
    assert!(matches!(
        load_runtime(&dir, "c-S1"),
        Err(CheckpointError::Corrupt { .. })
    ));
}

#[test]
fn ids_that_cannot_name_a_directory_are_refused() {
    let (_tmp, dir) = work_dir();
    let mut bad = run();
    bad.executor.executor_id = "../x".into();
    assert!(matches!(
        save_executor(&dir, "c-S1", &bad, &ExecutorInfo::default(), true),
        Err(CheckpointError::BadId(_))
    ));
}
