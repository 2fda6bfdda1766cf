//! cgroups v2 limits for executor containers, where the machine offers
//! them: a cgroup per container under `<root>/mesoraft`, `cpu.max` from
//! its cpus, `memory.max` from its mem, `memory.events` to tell a
//! container the kernel killed for memory, `cgroup.kill` to end all of it.
//!
//! Without a writable cgroup v2 hierarchy with the cpu and memory
//! controllers nothing is enforced (the agent says so in its log at
//! start): an executor is then contained by its session only. The text
//! formats are pure functions; the directory work is best effort and
//! reports what failed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::executors::model::Limits;

/// Where cgroups v2 is mounted on a unified-hierarchy machine.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The period `cpu.max` quotas are expressed in (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel takes.
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// `cpu.max` for `cpus` cpus: `QUOTA PERIOD`, or `max` when unlimited.
pub fn cpu_max(cpus: Option<f64>) -> String {
    match cpus.filter(|c| c.is_finite() && *c > 0.0) {
        Some(cpus) => {
            let quota = ((cpus * CPU_PERIOD_US as f64) as u64).max(MIN_CPU_QUOTA_US);
            format!("{quota} {CPU_PERIOD_US}")
        }
        None => format!("max {CPU_PERIOD_US}"),
    }
}

/// `memory.max` for `mem_mb` megabytes, or `max`.
pub fn memory_max(mem_mb: Option<f64>) -> String {
    match mem_mb.filter(|m| m.is_finite() && *m > 0.0) {
        Some(mb) => format!("{}", (mb * 1024.0 * 1024.0) as u64),
        None => "max".into(),
    }
}

/// The `oom_kill` count of a `memory.events` file.
pub fn oom_kills(memory_events: &str) -> u64 {
    memory_events
        .lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == "oom_kill")
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the controllers a `cgroup.controllers` file lists include cpu
/// and memory.
pub fn has_cpu_and_memory(controllers: &str) -> bool {
    let listed: Vec<&str> = controllers.split_whitespace().collect();
    listed.contains(&"cpu") && listed.contains(&"memory")
}

/// A usable hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroups {
    /// `<root>/mesoraft`: the parent of every container's cgroup.
    parent: PathBuf,
}

impl Cgroups {
    /// The hierarchy at `root`, ready for containers; why not otherwise.
    pub fn detect(root: &Path) -> Result<Cgroups, String> {
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).map_err(|e| {
            format!(
                "{} is not a cgroup v2 hierarchy ({e})",
                root.join("cgroup.controllers").display()
            )
        })?;
        if !has_cpu_and_memory(&controllers) {
            return Err(format!(
                "the cgroup v2 hierarchy at {} offers {:?}, not the cpu and memory controllers",
                root.display(),
                controllers.trim()
            ));
        }
        let parent = root.join("mesoraft");
        fs::create_dir_all(&parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        for dir in [root, parent.as_path()] {
            let control = dir.join("cgroup.subtree_control");
            fs::write(&control, "+cpu +memory").map_err(|e| {
                format!("cannot enable cpu and memory in {}: {e}", control.display())
            })?;
        }
        Ok(Cgroups { parent })
    }

    /// A new cgroup for a container, with its limits set.
    pub fn create(&self, container_id: &str, limits: Limits) -> io::Result<CgroupDir> {
        let dir = CgroupDir {
            path: self.parent.join(container_id),
        };
        fs::create_dir_all(&dir.path)?;
        dir.set_limits(limits)?;
        Ok(dir)
    }

    /// The cgroup of an existing container (after an agent restart).
    pub fn existing(&self, container_id: &str) -> Option<CgroupDir> {
        let path = self.parent.join(container_id);
        path.is_dir().then_some(CgroupDir { path })
    }
}

/// One container's cgroup.
#[derive(Debug, Clone)]
pub struct CgroupDir {
    path: PathBuf,
}

impl CgroupDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file a process joins the cgroup through (write `0` to it from
    /// the process itself).
    pub fn procs_path(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    pub fn set_limits(&self, limits: Limits) -> io::Result<()> {
        fs::write(self.path.join("cpu.max"), cpu_max(limits.cpus))?;
        fs::write(self.path.join("memory.max"), memory_max(limits.mem_mb))
    }

    /// How many processes of the container the kernel killed for memory.
    pub fn oom_kills(&self) -> u64 {
        fs::read_to_string(self.path.join("memory.events"))
            .map(|text| oom_kills(&text))
            .unwrap_or(0)
    }

    /// Kills every process in the cgroup (kernels with `cgroup.kill`).
    pub fn kill(&self) {
        let _ = fs::write(self.path.join("cgroup.kill"), "1");
    }

    /// Removes the (empty) cgroup.
    pub fn remove(&self) {
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_become_the_kernel_s_text() {
        assert_eq!(cpu_max(Some(0.5)), "50000 100000");
        assert_eq!(cpu_max(Some(2.0)), "200000 100000");
        assert_eq!(cpu_max(Some(0.001)), "1000 100000");
        assert_eq!(cpu_max(None), "max 100000");
        assert_eq!(cpu_max(Some(f64::NAN)), "max 100000");
        assert_eq!(memory_max(Some(64.0)), "67108864");
        assert_eq!(memory_max(None), "max");
        assert_eq!(memory_max(Some(-1.0)), "max");
    }

    #[test]
    fn memory_events_and_controllers_are_read() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kills(events), 1);
        assert_eq!(oom_kills(""), 0);
        assert!(has_cpu_and_memory("cpuset cpu io memory pids"));
        assert!(!has_cpu_and_memory("hugetlb"));
    }

    #[test]
    fn a_hierarchy_without_the_controllers_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let err = Cgroups::detect(dir.path()).unwrap_err();
        assert!(err.contains("not a cgroup v2 hierarchy"), "{err}");
        fs::write(dir.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
        let err = Cgroups::detect(dir.path()).unwrap_err();
        assert!(err.contains("not the cpu and memory controllers"), "{err}");
    }

    #[test]
    fn a_container_cgroup_gets_its_limits() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let cgroups = Cgroups::detect(dir.path()).unwrap();
        let container = cgroups
            .create(
                "c1",
                Limits {
                    cpus: Some(1.0),
                    mem_mb: Some(32.0),
                },
            )
            .unwrap();
        let read = |f: &str| fs::read_to_string(container.path().join(f)).unwrap();
        assert_eq!(read("cpu.max"), "100000 100000");
        assert_eq!(read("memory.max"), "33554432");
        assert!(cgroups.existing("c1").is_some());
        assert!(cgroups.existing("c2").is_none());
    }
}
