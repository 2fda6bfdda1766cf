//! The checkpoint of what a checkpointing framework runs on the agent:
//! its info, its executors (info, container, process), their tasks and
//! each task's status update log (see [`super::layout`] for the paths).
//! A restarted agent reads it back ([`load_runtime`]) to reattach to the
//! executors that still run and to replay unacknowledged updates.
//!
//! Info files are records written atomically (temp, fsync, rename); the
//! update log is appended record by record, each made durable before the
//! update is sent on. Reading reports damage with the path and the
//! remedy, never a half-loaded state; only a log's last record cut short
//! by a crash is dropped (it was never acknowledged to its executor, which
//! sends it again). Blocking: call from `spawn_blocking` or a thread that
//! may block.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mesoraft_proto::agent::{status_update_record, ExecutorRunRecord, StatusUpdateRecord};
use mesoraft_proto::durable::{create_dir_durable, sync_dir, write_file_durable};
use mesoraft_proto::mesos::v1::{ExecutorInfo, FrameworkInfo, Task};
use prost::Message;

use super::layout::{check_id, tmp_path, WorkDir, RUN_INFO, TASK_INFO, TASK_UPDATES};
use super::record::{self, split_log, MAX_RECORD_BYTES};
use super::store::{CheckpointError, Corruption};
use crate::keys::{ExecutorKey, RunKey};
use crate::updates::manager::Record;

/// A log longer than this is damage, not state.
const MAX_LOG_BYTES: u64 = 64 << 20;

/// A framework as checkpointed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredFramework {
    pub info: FrameworkInfo,
    pub executors: Vec<RecoveredExecutor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredExecutor {
    pub info: ExecutorInfo,
    pub run: RunKey,
    pub command_executor: bool,
    /// `None` if the agent died before the process started.
    pub pid: Option<i32>,
    pub start_time: Option<u64>,
    pub tasks: Vec<RecoveredTask>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredTask {
    pub task: Task,
    /// Its status update log, in order.
    pub updates: Vec<Record>,
}

pub fn save_framework(
    dir: &WorkDir,
    agent_id: &str,
    info: &FrameworkInfo,
) -> Result<(), CheckpointError> {
    let fid = framework_id(info)?;
    let path = dir.framework_info_path(agent_id, &fid);
    create_dirs(&dir.framework_dir(agent_id, &fid))?;
    write(&path, &record::encode(info))
}

/// Records a new run of an executor (before its process starts).
pub fn save_executor(
    dir: &WorkDir,
    agent_id: &str,
    run: &RunKey,
    info: &ExecutorInfo,
    command_executor: bool,
) -> Result<(), CheckpointError> {
    check_run(run)?;
    let key = &run.executor;
    create_dirs(&dir.executor_dir(agent_id, &key.framework_id, &key.executor_id))?;
    write(
        &dir.executor_info_path(agent_id, &key.framework_id, &key.executor_id),
        &record::encode(info),
    )?;
    save_run(
        dir,
        agent_id,
        run,
        &ExecutorRunRecord {
            container_id: run.container_id.clone(),
            command_executor: Some(command_executor),
            pid: None,
            start_time: None,
        },
    )
}

/// Records the run's process once it started.
pub fn save_run(
    dir: &WorkDir,
    agent_id: &str,
    run: &RunKey,
    record: &ExecutorRunRecord,
) -> Result<(), CheckpointError> {
    check_run(run)?;
    let run_dir = run_dir(dir, agent_id, run);
    create_dirs(&run_dir)?;
    write(&run_dir.join(RUN_INFO), &record::encode(record))
}

pub fn save_task(
    dir: &WorkDir,
    agent_id: &str,
    run: &RunKey,
    task: &Task,
) -> Result<(), CheckpointError> {
    check_run(run)?;
    check(check_id("task id", &task.task_id.value))?;
    let task_dir = dir.task_dir(&run_dir(dir, agent_id, run), &task.task_id.value);
    create_dirs(&task_dir)?;
    write(&task_dir.join(TASK_INFO), &record::encode(task))
}

/// Appends `record` to the task's update log and makes it durable.
pub fn append_update(
    dir: &WorkDir,
    agent_id: &str,
    run: &RunKey,
    task_id: &str,
    record: &Record,
) -> Result<(), CheckpointError> {
    check_run(run)?;
    check(check_id("task id", task_id))?;
    let task_dir = dir.task_dir(&run_dir(dir, agent_id, run), task_id);
    create_dirs(&task_dir)?;
    let path = task_dir.join(TASK_UPDATES);
    let line = record::encode(&to_proto(record));
    append_durable(&path, &line).map_err(|source| CheckpointError::Unwritable { path, source })
}

pub fn remove_executor(
    dir: &WorkDir,
    agent_id: &str,
    key: &ExecutorKey,
) -> Result<(), CheckpointError> {
    check(check_id("framework id", &key.framework_id))?;
    check(check_id("executor id", &key.executor_id))?;
    remove_dir(&dir.executor_dir(agent_id, &key.framework_id, &key.executor_id))
}

pub fn remove_framework(
    dir: &WorkDir,
    agent_id: &str,
    framework_id: &str,
) -> Result<(), CheckpointError> {
    check(check_id("framework id", framework_id))?;
    remove_dir(&dir.framework_dir(agent_id, framework_id))
}

/// Everything checkpointed for agent `agent_id`.
pub fn load_runtime(
    dir: &WorkDir,
    agent_id: &str,
) -> Result<Vec<RecoveredFramework>, CheckpointError> {
    let mut frameworks = Vec::new();
    for fid in subdirs(&dir.frameworks_dir(agent_id))? {
        let info_path = dir.framework_info_path(agent_id, &fid);
        let Some(info) = read_record::<FrameworkInfo>(dir, &info_path)? else {
            // Created, never written: the framework never ran anything.
            continue;
        };
        let mut executors = Vec::new();
        let executors_dir = dir.framework_dir(agent_id, &fid).join("executors");
        for eid in subdirs(&executors_dir)? {
            if let Some(executor) = load_executor(dir, agent_id, &fid, &eid)? {
                executors.push(executor);
            }
        }
        frameworks.push(RecoveredFramework { info, executors });
    }
    Ok(frameworks)
}

fn load_executor(
    dir: &WorkDir,
    agent_id: &str,
    fid: &str,
    eid: &str,
) -> Result<Option<RecoveredExecutor>, CheckpointError> {
    let Some(info) = read_record::<ExecutorInfo>(dir, &dir.executor_info_path(agent_id, fid, eid))?
    else {
        return Ok(None);
    };
    let runs_dir = dir.executor_dir(agent_id, fid, eid).join("runs");
    let runs = subdirs(&runs_dir)?;
    let [container_id] = &runs[..] else {
        if runs.is_empty() {
            return Ok(None);
        }
        return Err(corrupt(
            dir,
            &runs_dir,
            Corruption::Record(record::RecordProblem::Undecodable(format!(
                "it holds {} runs of one executor; one was expected",
                runs.len()
            ))),
        ));
    };
    let run = RunKey {
        executor: ExecutorKey {
            framework_id: fid.to_string(),
            executor_id: eid.to_string(),
        },
        container_id: container_id.clone(),
    };
    let run_dir = run_dir(dir, agent_id, &run);
    let Some(run_record) = read_record::<ExecutorRunRecord>(dir, &run_dir.join(RUN_INFO))? else {
        return Ok(None);
    };
    let mut tasks = Vec::new();
    for tid in subdirs(&run_dir.join("tasks"))? {
        let task_dir = dir.task_dir(&run_dir, &tid);
        let Some(task) = read_record::<Task>(dir, &task_dir.join(TASK_INFO))? else {
            continue;
        };
        let updates = read_updates(dir, &task_dir.join(TASK_UPDATES))?;
        tasks.push(RecoveredTask { task, updates });
    }
    Ok(Some(RecoveredExecutor {
        info,
        run,
        command_executor: run_record.command_executor.unwrap_or(false),
        pid: run_record.pid,
        start_time: run_record.start_time,
        tasks,
    }))
}

/// A task's update log; a torn last record is cut off the file.
pub fn read_updates(dir: &WorkDir, path: &Path) -> Result<Vec<Record>, CheckpointError> {
    let bytes = match read_bounded(path, MAX_LOG_BYTES)? {
        Some(bytes) => bytes,
        None => return Ok(Vec::new()),
    };
    let split = split_log(&bytes).map_err(|(offset, problem)| {
        corrupt(
            dir,
            path,
            Corruption::Record(record::RecordProblem::Undecodable(format!(
                "the record at byte {offset}: {problem}"
            ))),
        )
    })?;
    let mut records = Vec::new();
    for bytes in &split.records {
        let line: StatusUpdateRecord =
            record::decode(bytes).map_err(|p| corrupt(dir, path, Corruption::Record(p)))?;
        records.push(from_proto(line).map_err(|problem| {
            corrupt(
                dir,
                path,
                Corruption::Record(record::RecordProblem::Undecodable(problem)),
            )
        })?);
    }
    if let Some(offset) = split.torn_tail {
        tracing::warn!(path = %path.display(), offset, "dropping a status update record cut short by a crash");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| CheckpointError::Unwritable {
                path: path.to_path_buf(),
                source,
            })?;
        file.set_len(offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(|source| CheckpointError::Unwritable {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(records)
}

fn to_proto(record: &Record) -> StatusUpdateRecord {
    match record {
        Record::Update(update) => StatusUpdateRecord {
            r#type: status_update_record::Type::Update as i32,
            update: Some((**update).clone()),
            uuid: None,
        },
        Record::Ack(uuid) => StatusUpdateRecord {
            r#type: status_update_record::Type::Ack as i32,
            update: None,
            uuid: Some(uuid.clone()),
        },
    }
}

fn from_proto(line: StatusUpdateRecord) -> Result<Record, String> {
    match status_update_record::Type::try_from(line.r#type) {
        Ok(status_update_record::Type::Update) => line
            .update
            .map(|u| Record::Update(Box::new(u)))
            .ok_or_else(|| "an UPDATE record without its update".to_string()),
        Ok(status_update_record::Type::Ack) => line
            .uuid
            .map(Record::Ack)
            .ok_or_else(|| "an ACK record without its uuid".to_string()),
        Err(_) => Err(format!("unknown record type {}", line.r#type)),
    }
}

fn framework_id(info: &FrameworkInfo) -> Result<String, CheckpointError> {
    let fid = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    check(check_id("framework id", &fid))?;
    Ok(fid)
}

fn check_run(run: &RunKey) -> Result<(), CheckpointError> {
    check(check_id("framework id", &run.executor.framework_id))?;
    check(check_id("executor id", &run.executor.executor_id))?;
    check(check_id("container id", &run.container_id))
}

fn check(result: Result<(), String>) -> Result<(), CheckpointError> {
    result.map_err(CheckpointError::BadId)
}

fn run_dir(dir: &WorkDir, agent_id: &str, run: &RunKey) -> PathBuf {
    dir.run_dir(
        agent_id,
        &run.executor.framework_id,
        &run.executor.executor_id,
        &run.container_id,
    )
}

fn create_dirs(path: &Path) -> Result<(), CheckpointError> {
    create_dir_durable(path).map_err(|source| CheckpointError::Unwritable {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_file_durable(path, &tmp_path(path), bytes).map_err(|source| CheckpointError::Unwritable {
        path: path.to_path_buf(),
        source,
    })
}

fn remove_dir(path: &Path) -> Result<(), CheckpointError> {
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CheckpointError::Unwritable {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    if let Some(parent) = path.parent() {
        let _ = sync_dir(parent);
    }
    Ok(())
}

/// Appends and fsyncs; a new file's directory entry is made durable too.
fn append_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let existed = path.exists();
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    if !existed {
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// The names of the directories in `path` (none if it does not exist).
fn subdirs(path: &Path) -> Result<Vec<String>, CheckpointError> {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CheckpointError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if let Some(name) = entry.file_name().to_str() {
                if check_id("directory", name).is_ok() {
                    names.push(name.to_string());
                }
            }
        }
    }
    names.sort();
    Ok(names)
}

fn read_record<M: Message + Default>(
    dir: &WorkDir,
    path: &Path,
) -> Result<Option<M>, CheckpointError> {
    let Some(bytes) = read_bounded(path, MAX_RECORD_BYTES as u64)? else {
        return Ok(None);
    };
    record::decode(&bytes)
        .map(Some)
        .map_err(|problem| corrupt(dir, path, Corruption::Record(problem)))
}

fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, CheckpointError> {
    use std::io::Read;
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| CheckpointError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(CheckpointError::Corrupt {
            path: path.to_path_buf(),
            problem: Corruption::TooLarge {
                limit: limit as usize,
            },
            remedy: "remove the agent's meta directory to start afresh".into(),
        });
    }
    Ok(Some(bytes))
}

fn corrupt(dir: &WorkDir, path: &Path, problem: Corruption) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        problem,
        remedy: format!(
            "to start as a new agent (its executors not recovered), remove {} and restart; \
             keep the corrupt file for inspection",
            dir.latest_path().display()
        ),
    }
}

#[cfg(test)]
mod tests;
