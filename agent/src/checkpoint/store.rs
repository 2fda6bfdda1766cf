//! Reading and writing the checkpoint files of [`super::layout`]. Writes
//! go through `mesoraft_proto::durable` (temp, fsync, rename, fsync dir).
//! Reads answer `None` for an absent file and an error carrying the path
//! and what to do for anything unreadable, truncated or undecodable:
//! never a half-loaded state, never a panic.
//!
//! Blocking: call from `spawn_blocking` on the async runtime.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mesoraft_proto::durable::{create_dir_durable, write_file_durable};
use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

use super::boot_id::parse_boot_id;
use super::layout::{check_agent_id, tmp_path, WorkDir, MAX_AGENT_ID_LEN};
use super::record::{self, RecordProblem, MAX_RECORD_BYTES};

/// What a checkpoint file held that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("{0}")]
    Record(RecordProblem),
    #[error("it is over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("it does not hold a valid agent id: {0}")]
    BadAgentId(String),
    #[error("it does not hold a valid boot id: {0}")]
    BadBootId(String),
    #[error("it is missing, but {latest} names agent {agent_id:?}")]
    MissingAgentInfo { latest: PathBuf, agent_id: String },
    #[error(
        "it is the info of agent {found:?}, but it lies in the directory of agent {expected:?}"
    )]
    IdMismatch { expected: String, found: String },
}

/// Why the checkpoint cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "cannot read checkpoint file {path}: {source}; check the work dir's permissions and disk"
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write checkpoint file {path}: {source}; check the work dir's permissions and free space")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("checkpoint file {path} is corrupt: {problem}; {remedy}")]
    Corrupt {
        path: PathBuf,
        problem: Corruption,
        remedy: String,
    },
    #[error("agent id {agent_id:?} cannot be checkpointed: {problem}")]
    BadAgentId { agent_id: String, problem: String },
    #[error("the agent info to checkpoint has no agent id")]
    NoAgentId,
    #[error("{0}: it cannot be checkpointed")]
    BadId(String),
}

/// What the work dir remembers of the agent that last ran there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkpoint {
    /// `None`: no agent ran here (or `latest` was removed).
    pub agent: Option<CheckpointedAgent>,
    /// The boot id the agent last ran under; `None` if never recorded.
    pub boot_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointedAgent {
    pub agent_id: AgentId,
    /// Its `id` is `agent_id`.
    pub info: AgentInfo,
}

/// Everything the work dir remembers, checked for consistency: `latest`
/// naming an agent whose info is missing or names another id is corrupt.
pub fn load(dir: &WorkDir) -> Result<Checkpoint, CheckpointError> {
    let boot_id = read_boot_id(dir)?;
    let Some(agent_id) = read_latest(dir)? else {
        return Ok(Checkpoint {
            agent: None,
            boot_id,
        });
    };
    let info_path = dir.agent_info_path(&agent_id);
    let info = read_agent_info(dir, &agent_id)?.ok_or_else(|| {
        corrupt(
            dir,
            &info_path,
            Corruption::MissingAgentInfo {
                latest: dir.latest_path(),
                agent_id: agent_id.clone(),
            },
        )
    })?;
    Ok(Checkpoint {
        agent: Some(CheckpointedAgent {
            agent_id: AgentId { value: agent_id },
            info,
        }),
        boot_id,
    })
}

/// The id `meta/agents/latest` names, if the file exists.
pub fn read_latest(dir: &WorkDir) -> Result<Option<String>, CheckpointError> {
    let path = dir.latest_path();
    let Some(bytes) = read_bounded(dir, &path, MAX_AGENT_ID_LEN + 2)? else {
        return Ok(None);
    };
    let id = std::str::from_utf8(&bytes)
        .map_err(|_| "it is not UTF-8 text".to_string())
        .map(str::trim)
        .and_then(|id| check_agent_id(id).map(|()| id.to_string()))
        .map_err(|problem| corrupt(dir, &path, Corruption::BadAgentId(problem)))?;
    Ok(Some(id))
}

/// The info of agent `agent_id`, if its file exists; its id must be
/// `agent_id`.
pub fn read_agent_info(
    dir: &WorkDir,
    agent_id: &str,
) -> Result<Option<AgentInfo>, CheckpointError> {
    check_agent_id(agent_id).map_err(|problem| CheckpointError::BadAgentId {
        agent_id: agent_id.to_string(),
        problem,
    })?;
    let path = dir.agent_info_path(agent_id);
    let Some(bytes) = read_bounded(dir, &path, MAX_RECORD_BYTES)? else {
        return Ok(None);
    };
    let info: AgentInfo = record::decode(&bytes)
        .map_err(|problem| corrupt(dir, &path, Corruption::Record(problem)))?;
    let found = info.id.as_ref().map(|id| id.value.as_str()).unwrap_or("");
    if found != agent_id {
        let mismatch = Corruption::IdMismatch {
            expected: agent_id.to_string(),
            found: found.to_string(),
        };
        return Err(corrupt(dir, &path, mismatch));
    }
    Ok(Some(info))
}

/// The boot id recorded in `meta/boot_id`, if the file exists.
pub fn read_boot_id(dir: &WorkDir) -> Result<Option<String>, CheckpointError> {
    let path = dir.boot_id_path();
    let Some(bytes) = read_bounded(dir, &path, 4096)? else {
        return Ok(None);
    };
    parse_boot_id(&bytes)
        .map(Some)
        .map_err(|problem| corrupt(dir, &path, Corruption::BadBootId(problem)))
}

/// Records `info` (which must carry its id) as the current agent: its
/// info file first, then `latest`, so `latest` never names an agent
/// without info.
pub fn save_agent(dir: &WorkDir, info: &AgentInfo) -> Result<(), CheckpointError> {
    let agent_id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .ok_or(CheckpointError::NoAgentId)?;
    check_agent_id(&agent_id).map_err(|problem| CheckpointError::BadAgentId {
        agent_id: agent_id.clone(),
        problem,
    })?;
    let agent_dir = dir.agent_dir(&agent_id);
    create_dir_durable(&agent_dir).map_err(|source| CheckpointError::Unwritable {
        path: agent_dir,
        source,
    })?;
    write(&dir.agent_info_path(&agent_id), &record::encode(info))?;
    write(&dir.latest_path(), format!("{agent_id}\n").as_bytes())
}

/// Records the boot id the agent runs under.
pub fn save_boot_id(dir: &WorkDir, boot_id: &str) -> Result<(), CheckpointError> {
    let meta = dir.meta_dir();
    create_dir_durable(&meta)
        .map_err(|source| CheckpointError::Unwritable { path: meta, source })?;
    write(&dir.boot_id_path(), format!("{boot_id}\n").as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_file_durable(path, &tmp_path(path), bytes).map_err(|source| CheckpointError::Unwritable {
        path: path.to_path_buf(),
        source,
    })
}

/// The file's bytes, `None` if it does not exist; refused unread past
/// `limit` bytes.
fn read_bounded(
    dir: &WorkDir,
    path: &Path,
    limit: usize,
) -> Result<Option<Vec<u8>>, CheckpointError> {
    let unreadable = |source| CheckpointError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > limit {
        return Err(corrupt(dir, path, Corruption::TooLarge { limit }));
    }
    Ok(Some(bytes))
}

fn corrupt(dir: &WorkDir, path: &Path, problem: Corruption) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        remedy: remedy(dir, path),
        problem,
    }
}

/// What the operator can do about a corrupt file.
fn remedy(dir: &WorkDir, path: &Path) -> String {
    if path == dir.boot_id_path() {
        format!(
            "remove {} and restart (the agent then cannot tell whether the host rebooted, \
             and finds out from its executors)",
            path.display()
        )
    } else {
        format!(
            "to start as a new agent with a new id, remove {} and restart (the old agent's \
             executors are then not recovered); keep the corrupt file for inspection",
            dir.latest_path().display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::parse_resources;

    fn info(id: &str) -> AgentInfo {
        AgentInfo {
            hostname: "a1".into(),
            port: Some(5051),
            resources: parse_resources("cpus:4;mem:1024").unwrap(),
            id: Some(AgentId { value: id.into() }),
            ..AgentInfo::default()
        }
    }

    fn work_dir() -> (tempfile::TempDir, WorkDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = WorkDir::new(tmp.path().join("work"));
        (tmp, dir)
    }

    fn corruption(result: Result<Checkpoint, CheckpointError>) -> (PathBuf, Corruption, String) {
        match result {
            Err(e @ CheckpointError::Corrupt { .. }) => {
                let message = e.to_string();
                let CheckpointError::Corrupt { path, problem, .. } = e else {
                    unreachable!()
                };
                (path, problem, message)
            }
            other => panic!("expected a corrupt checkpoint, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_work_dir_remembers_nothing() {
        let (_tmp, dir) = work_dir();
        assert_eq!(load(&dir).unwrap(), Checkpoint::default());
    }

    #[test]
    fn a_saved_agent_and_boot_id_load_back() {
        let (_tmp, dir) = work_dir();
        save_boot_id(&dir, "boot-1").unwrap();
        save_agent(&dir, &info("c-S1")).unwrap();
        let loaded = load(&dir).unwrap();
        assert_eq!(loaded.boot_id.as_deref(), Some("boot-1"));
        let agent = loaded.agent.unwrap();
        assert_eq!(agent.agent_id.value, "c-S1");
        assert_eq!(agent.info, info("c-S1"));
        assert_eq!(
            std::fs::read_to_string(dir.latest_path()).unwrap(),
            "c-S1\n"
        );
        // A new id replaces latest; the old agent's directory stays.
        save_agent(&dir, &info("c-S2")).unwrap();
        assert_eq!(load(&dir).unwrap().agent.unwrap().agent_id.value, "c-S2");
        assert!(dir.agent_info_path("c-S1").exists());
        assert!(!tmp_path(&dir.latest_path()).exists());
    }

    #[test]
    fn a_truncated_agent_info_is_reported_with_path_and_remedy() {
        let (_tmp, dir) = work_dir();
        save_agent(&dir, &info("c-S1")).unwrap();
        let path = dir.agent_info_path("c-S1");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let (at, problem, message) = corruption(load(&dir));
        assert_eq!(at, path);
        assert!(matches!(problem, Corruption::Record(_)), "{problem:?}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("remove {}", dir.latest_path().display())),
            "{message}"
        );
    }

    #[test]
    fn latest_naming_a_missing_or_foreign_info_is_corrupt() {
        let (_tmp, dir) = work_dir();
        save_agent(&dir, &info("c-S1")).unwrap();
        std::fs::remove_file(dir.agent_info_path("c-S1")).unwrap();
        let (_, problem, _) = corruption(load(&dir));
        assert!(matches!(problem, Corruption::MissingAgentInfo { .. }));

        save_agent(&dir, &info("c-S1")).unwrap();
        let other = record::encode(&info("c-S9"));
        std::fs::write(dir.agent_info_path("c-S1"), other).unwrap();
        let (_, problem, _) = corruption(load(&dir));
        assert_eq!(
            problem,
            Corruption::IdMismatch {
                expected: "c-S1".into(),
                found: "c-S9".into()
            }
        );
    }

    #[test]
    fn a_bad_latest_or_boot_id_is_corrupt_not_a_panic() {
        let (_tmp, dir) = work_dir();
        save_agent(&dir, &info("c-S1")).unwrap();
        for bad in [&b"../../etc"[..], b"", b"\xff\xfe", &[b'x'; 300]] {
            std::fs::write(dir.latest_path(), bad).unwrap();
            let (at, _, _) = corruption(load(&dir));
            assert_eq!(at, dir.latest_path());
        }
        save_agent(&dir, &info("c-S1")).unwrap();
        std::fs::write(dir.boot_id_path(), "two words").unwrap();
        let (at, problem, message) = corruption(load(&dir));
        assert_eq!(at, dir.boot_id_path());
        assert!(matches!(problem, Corruption::BadBootId(_)));
        assert!(message.contains("remove"), "{message}");
    }

    #[test]
    fn an_unreadable_file_is_an_error_with_its_path() {
        let (_tmp, dir) = work_dir();
        save_agent(&dir, &info("c-S1")).unwrap();
        // A directory where the file should be cannot be read as one.
        std::fs::remove_file(dir.boot_id_path()).ok();
        std::fs::create_dir_all(dir.boot_id_path()).unwrap();
        match load(&dir) {
            Err(CheckpointError::Unreadable { path, .. }) => assert_eq!(path, dir.boot_id_path()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn infos_without_a_valid_id_are_not_saved() {
        let (_tmp, dir) = work_dir();
        let mut anonymous = info("x");
        anonymous.id = None;
        assert!(matches!(
            save_agent(&dir, &anonymous),
            Err(CheckpointError::NoAgentId)
        ));
        assert!(matches!(
            save_agent(&dir, &info("latest")),
            Err(CheckpointError::BadAgentId { .. })
        ));
        assert!(!dir.latest_path().exists());
    }
}
