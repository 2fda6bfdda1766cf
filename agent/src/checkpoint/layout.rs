//! Where the agent's checkpoint lives in its work dir, in the spirit of
//! Mesos's `meta/slaves/...` layout:
//!
//! ```text
//! <work_dir>/meta/boot_id                        boot id the agent ran under
//! <work_dir>/meta/agents/latest                  id of the current agent
//! <work_dir>/meta/agents/<agent_id>/agent.info   its AgentInfo (a record)
//!   .../frameworks/<fid>/framework.info           FrameworkInfo (checkpointing frameworks)
//!   .../frameworks/<fid>/executors/<eid>/executor.info
//!   .../executors/<eid>/runs/<container_id>/run.info      container, pid
//!   .../runs/<container_id>/tasks/<task_id>/task.info     Task as launched
//!   .../runs/<container_id>/tasks/<task_id>/task.updates  its status update log
//! ```
//!
//! `latest` is a file holding the id rather than Mesos's symlink, so it
//! is replaced atomically like every other file (temp, fsync, rename).

use std::path::{Path, PathBuf};

/// Longest agent id accepted as a directory name (Mesos's NAME_MAX, the
/// registry's limit too).
pub const MAX_AGENT_ID_LEN: usize = 255;

/// The paths of one work dir's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    pub fn agents_dir(&self) -> PathBuf {
        self.meta_dir().join("agents")
    }

    /// The file naming the current agent; removing it makes the next start
    /// a new agent (the remedy of an incompatible agent info).
    pub fn latest_path(&self) -> PathBuf {
        self.agents_dir().join("latest")
    }

    pub fn boot_id_path(&self) -> PathBuf {
        self.meta_dir().join("boot_id")
    }

    /// The directory of agent `agent_id`; check the id with
    /// [`check_agent_id`] before touching it.
    pub fn agent_dir(&self, agent_id: &str) -> PathBuf {
        self.agents_dir().join(agent_id)
    }

    pub fn agent_info_path(&self, agent_id: &str) -> PathBuf {
        self.agent_dir(agent_id).join("agent.info")
    }
}

impl WorkDir {
    pub fn frameworks_dir(&self, agent_id: &str) -> PathBuf {
        self.agent_dir(agent_id).join("frameworks")
    }

    pub fn framework_dir(&self, agent_id: &str, framework_id: &str) -> PathBuf {
        self.frameworks_dir(agent_id).join(framework_id)
    }

    pub fn framework_info_path(&self, agent_id: &str, framework_id: &str) -> PathBuf {
        self.framework_dir(agent_id, framework_id)
            .join("framework.info")
    }

    pub fn executor_dir(&self, agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
        self.framework_dir(agent_id, framework_id)
            .join("executors")
            .join(executor_id)
    }

    pub fn executor_info_path(
        &self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
    ) -> PathBuf {
        self.executor_dir(agent_id, framework_id, executor_id)
            .join("executor.info")
    }

    pub fn run_dir(
        &self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
    ) -> PathBuf {
        self.executor_dir(agent_id, framework_id, executor_id)
            .join("runs")
            .join(container_id)
    }

    pub fn task_dir(&self, run_dir: &Path, task_id: &str) -> PathBuf {
        run_dir.join("tasks").join(task_id)
    }
}

/// The file names inside those directories.
pub const RUN_INFO: &str = "run.info";
pub const TASK_INFO: &str = "task.info";
pub const TASK_UPDATES: &str = "task.updates";

/// Whether an id (framework, executor, container, task) can name a
/// directory: not empty, not `.`/`..`, no `/`, `\` or control
/// characters, at most 255 bytes, not ending in `.tmp`.
pub fn check_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." || id.len() > MAX_AGENT_ID_LEN {
        return Err(format!("{kind} {id:?} cannot name a directory"));
    }
    if id.ends_with(".tmp") {
        return Err(format!(
            "{kind} {id:?} ends in .tmp, which names temp files"
        ));
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(format!(
            "{kind} {id:?} contains '/', '\\' or a control character"
        ));
    }
    Ok(())
}

/// The temp file a durable write of `path` goes through.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Whether `agent_id` can name a directory under `meta/agents`: Mesos's
/// id rules (not empty, not too long, not `.` or `..`, no control
/// characters, `/` or `\`) plus not `latest`, which is taken.
pub fn check_agent_id(agent_id: &str) -> Result<(), String> {
    if agent_id.is_empty() {
        Err("it is empty".into())
    } else if agent_id.len() > MAX_AGENT_ID_LEN {
        Err(format!("it is longer than {MAX_AGENT_ID_LEN} bytes"))
    } else if agent_id == "." || agent_id == ".." || agent_id == "latest" {
        Err(format!("{agent_id:?} is a reserved name"))
    } else if agent_id.ends_with(".tmp") {
        Err("it ends in .tmp, which names temp files".into())
    } else if agent_id
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        Err("it contains a control character, '/' or '\\'".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_follows_mesos() {
        let dir = WorkDir::new("/w");
        assert_eq!(dir.latest_path(), Path::new("/w/meta/agents/latest"));
        assert_eq!(dir.boot_id_path(), Path::new("/w/meta/boot_id"));
        assert_eq!(
            dir.agent_info_path("c-S1"),
            Path::new("/w/meta/agents/c-S1/agent.info")
        );
        assert_eq!(
            tmp_path(&dir.latest_path()),
            Path::new("/w/meta/agents/latest.tmp")
        );
    }

    #[test]
    fn ids_that_would_escape_or_collide_are_refused() {
        assert!(check_agent_id("5e1c-0000-S12").is_ok());
        for bad in ["", ".", "..", "latest", "a/b", "a\\b", "a\nb", "x.tmp"] {
            assert!(check_agent_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_agent_id(&"x".repeat(256)).is_err());
    }
}
