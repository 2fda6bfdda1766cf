//! Executor containers: starting an executor process, watching it end,
//! killing all of it. The I/O edge of the executor table's
//! [`Action::Launch`](crate::executors::model::Action),
//! `Destroy` and `UpdateLimits`.
//!
//! An executor runs in its own session (`setsid`), so it and everything
//! it starts survive an agent restart, and a container is "every process
//! of that session" (plus its cgroup where cgroups v2 is usable): killing
//! a container kills the session, so nothing it started is orphaned
//! (unless a process leaves the session on purpose; only a cgroup stops
//! that). When the executor process ends its container is destroyed, as
//! Mesos does. After an agent restart the executors are no longer the
//! agent's children: they are found by pid and start time and watched
//! through a pidfd.
//!
//! - [`launch`]: the sandbox, the command and Mesos's executor
//!   environment (pure);
//! - [`cgroups`]: `cpu.max` and `memory.max`, and telling an out-of-memory
//!   kill.
//!
//! Without a usable cgroup v2 hierarchy, memory is still enforced, by
//! sampling: one task reads every session's resident memory from `/proc`
//! every [`MEMORY_SAMPLE`] (while a container watches), and a container
//! whose session is over its limit is destroyed with
//! REASON_CONTAINER_LIMITATION_MEMORY. A burst shorter than a sample
//! period, or a process that left the session, escapes it; cpu is not
//! enforced at all there.

pub mod cgroups;
pub mod launch;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::TaskState;
use tokio::sync::mpsc;

use crate::executors::model::{LaunchSpec, Limits, RunKey, Termination};
use crate::procfs;
use cgroups::{CgroupDir, Cgroups};
pub use launch::LaunchSettings;
use launch::{executor_command, sandbox_dir};

/// How often a container with a memory limit is checked for an
/// out-of-memory kill.
const OOM_POLL: Duration = Duration::from_millis(500);
/// How often a container's memory is sampled where cgroups cannot limit it.
pub const MEMORY_SAMPLE: Duration = Duration::from_millis(200);

/// An executor process ended (its container is destroyed by then).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerExit {
    pub run: RunKey,
    /// Set when the container was ended for exceeding a limit.
    pub limitation: Option<Termination>,
}

/// A started executor, as checkpointed for recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    pub pid: i32,
    /// The process's start time (tells it from a later one with its pid).
    pub start_time: Option<u64>,
    pub sandbox: PathBuf,
}

struct Container {
    pid: i32,
    cgroup: Option<CgroupDir>,
    /// The memory limit in bytes (0: none) the sampling watcher enforces
    /// when there is no cgroup.
    memory_limit: Arc<AtomicU64>,
    watcher: tokio::task::JoinHandle<()>,
}

pub struct Containerizer {
    settings: LaunchSettings,
    cgroups: Option<Cgroups>,
    containers: HashMap<RunKey, Container>,
    exits: mpsc::UnboundedSender<ContainerExit>,
    /// Without cgroups: the one sampler of every session's memory, started
    /// with the first container.
    memory_samples: Option<MemorySamples>,
}

/// Every session's resident memory, sampled by one task every
/// [`MEMORY_SAMPLE`] for all containers: a scan of `/proc` per container
/// and sample cost the agent a full scan for each running executor.
pub type MemorySamples = tokio::sync::watch::Receiver<Arc<HashMap<i32, u64>>>;

/// Starts the sampler. It scans only while some container watches, and
/// ends when the containerizer (the last receiver's owner) is gone.
fn start_memory_sampler() -> MemorySamples {
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(HashMap::new()));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(MEMORY_SAMPLE);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if tx.is_closed() {
                return;
            }
            // The containerizer's own receiver is one; watchers add theirs.
            if tx.receiver_count() <= 1 {
                continue;
            }
            let samples = tokio::task::spawn_blocking(procfs::resident_by_session)
                .await
                .unwrap_or_default();
            tx.send_replace(Arc::new(samples));
        }
    });
    rx
}

impl Containerizer {
    /// Limits are enforced with the cgroup v2 hierarchy at `cgroup_root`
    /// when it is usable; the log says what is not enforced otherwise.
    pub fn new(
        settings: LaunchSettings,
        cgroup_root: &Path,
        exits: mpsc::UnboundedSender<ContainerExit>,
    ) -> Self {
        let cgroups = match Cgroups::detect(cgroup_root) {
            Ok(cgroups) => {
                tracing::info!(root = %cgroup_root.display(), "executor containers get cgroup v2 cpu and memory limits");
                Some(cgroups)
            }
            Err(why) => {
                tracing::warn!(
                    %why,
                    "cgroups v2 unusable: cpu and memory limits of tasks are NOT enforced; \
                     an executor's container is its session (every process it starts is killed with it)"
                );
                None
            }
        };
        Containerizer {
            settings,
            cgroups,
            containers: HashMap::new(),
            exits,
            memory_samples: None,
        }
    }

    pub fn enforces_limits(&self) -> bool {
        self.cgroups.is_some()
    }

    /// What a container without a cgroup reads its memory from (None for
    /// one with a cgroup: the kernel limits it).
    fn memory_samples(&mut self, cgroup: Option<&CgroupDir>) -> Option<MemorySamples> {
        if cgroup.is_some() {
            return None;
        }
        Some(
            self.memory_samples
                .get_or_insert_with(start_memory_sampler)
                .clone(),
        )
    }

    /// Where a run's sandbox is.
    pub fn sandbox(&self, agent_id: &str, run: &RunKey) -> Result<PathBuf, String> {
        sandbox_dir(&self.settings.work_dir, agent_id, run)
    }

    /// Starts the executor of `spec`.
    pub fn launch(&mut self, spec: &LaunchSpec, agent_id: &str) -> Result<Launched, String> {
        let command = executor_command(spec, &self.settings, agent_id, |name| {
            std::env::var(name).ok()
        })?;
        std::fs::create_dir_all(&command.sandbox).map_err(|e| {
            format!(
                "cannot create the sandbox {}: {e}",
                command.sandbox.display()
            )
        })?;
        let output = |name: &str| {
            let path = command.sandbox.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))
        };
        let cgroup = match &self.cgroups {
            Some(cgroups) => match cgroups.create(&spec.run.container_id, spec.limits) {
                Ok(dir) => Some(dir),
                Err(e) => {
                    tracing::warn!(run = %spec.run.container_id, error = %e, "cannot create the container's cgroup: its limits are not enforced");
                    None
                }
            },
            None => None,
        };
        let join_fd = cgroup.as_ref().and_then(|dir| {
            OpenOptions::new()
                .write(true)
                .open(dir.procs_path())
                .ok()
                .map(OwnedFd::from)
        });

        let mut process = std::process::Command::new(&command.program);
        if let Some((argv0, rest)) = command.argv.split_first() {
            process.arg0(argv0).args(rest);
        }
        process
            .env_clear()
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&command.sandbox)
            .stdin(Stdio::null())
            .stdout(output("stdout")?)
            .stderr(output("stderr")?);
        let raw_join_fd = join_fd.as_ref().map(|fd| fd.as_raw_fd());
        // SAFETY: only async-signal-safe calls between fork and exec:
        // setsid(2) and write(2) to a descriptor opened before the fork.
        unsafe {
            process.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = raw_join_fd {
                    libc::write(fd, b"0".as_ptr().cast(), 1);
                }
                Ok(())
            });
        }
        let mut child = tokio::process::Command::from(process)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", command.program.display()))?;
        drop(join_fd);
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| "the executor exited before its pid was read".to_string())?;
        let start_time = procfs::stat(pid).map(|s| s.start_time);
        let run = spec.run.clone();
        let exits = self.exits.clone();
        let watched_cgroup = cgroup.clone();
        let memory_limit = Arc::new(AtomicU64::new(limit_bytes(spec.limits)));
        let sampled_limit = memory_limit.clone();
        let samples = self.memory_samples(cgroup.as_ref());
        let watcher = tokio::spawn(async move {
            let limitation = watch(
                pid,
                watched_cgroup.as_ref(),
                &sampled_limit,
                samples,
                async {
                    let _ = child.wait().await;
                },
            )
            .await;
            finish(pid, watched_cgroup.as_ref());
            let _ = exits.send(ContainerExit { run, limitation });
        });
        tracing::info!(
            run = %spec.run.container_id,
            executor = %spec.run.executor,
            pid,
            sandbox = %command.sandbox.display(),
            "executor started"
        );
        self.containers.insert(
            spec.run.clone(),
            Container {
                pid,
                cgroup,
                memory_limit,
                watcher,
            },
        );
        Ok(Launched {
            pid,
            start_time,
            sandbox: command.sandbox,
        })
    }

    /// Watches an executor started before an agent restart; false if it
    /// no longer runs (its exit is reported as for any other).
    pub fn reattach(&mut self, run: RunKey, pid: i32, start_time: Option<u64>) -> bool {
        let cgroup = self
            .cgroups
            .as_ref()
            .and_then(|c| c.existing(&run.container_id));
        let alive = procfs::is_running(pid, start_time);
        let exits = self.exits.clone();
        let watched_run = run.clone();
        let watched_cgroup = cgroup.clone();
        // Set again by the table's next UpdateLimits for the run.
        let memory_limit = Arc::new(AtomicU64::new(0));
        let sampled_limit = memory_limit.clone();
        let samples = self.memory_samples(cgroup.as_ref());
        let watcher = tokio::spawn(async move {
            let limitation = if alive {
                watch(
                    pid,
                    watched_cgroup.as_ref(),
                    &sampled_limit,
                    samples,
                    wait_foreign(pid, start_time),
                )
                .await
            } else {
                None
            };
            finish(pid, watched_cgroup.as_ref());
            let _ = exits.send(ContainerExit {
                run: watched_run,
                limitation,
            });
        });
        self.containers.insert(
            run,
            Container {
                pid,
                cgroup,
                memory_limit,
                watcher,
            },
        );
        alive
    }

    /// Kills everything of the run's container; its exit is reported by
    /// its watcher.
    pub fn destroy(&mut self, run: &RunKey) {
        if let Some(container) = self.containers.get(run) {
            tracing::info!(run = %run.container_id, executor = %run.executor, pid = container.pid, "destroying the container");
            kill_container(container.pid, container.cgroup.as_ref());
        }
    }

    pub fn update_limits(&mut self, run: &RunKey, limits: Limits) {
        if let Some(container) = self.containers.get(run) {
            container
                .memory_limit
                .store(limit_bytes(limits), Ordering::Relaxed);
        }
        if let Some(dir) = self.containers.get(run).and_then(|c| c.cgroup.as_ref()) {
            if let Err(e) = dir.set_limits(limits) {
                tracing::warn!(run = %run.container_id, error = %e, "cannot update the container's limits");
            }
        }
    }

    /// Forgets a container whose exit was handled.
    pub fn forget(&mut self, run: &RunKey) {
        if let Some(container) = self.containers.remove(run) {
            container.watcher.abort();
            if let Some(dir) = container.cgroup {
                dir.remove();
            }
        }
    }

    /// Stops watching every container without killing any (the agent
    /// stops; checkpointing frameworks' executors live on).
    pub fn detach_all(&mut self) {
        for (_, container) in self.containers.drain() {
            container.watcher.abort();
        }
    }
}

/// A memory limit in bytes, 0 for none.
fn limit_bytes(limits: Limits) -> u64 {
    match limits.mem_mb.filter(|m| m.is_finite() && *m > 0.0) {
        Some(mb) => (mb * 1024.0 * 1024.0) as u64,
        None => 0,
    }
}

/// Whether a sampled container is over its limit (0: no limit).
pub fn over_memory_limit(resident_bytes: u64, limit_bytes: u64) -> bool {
    limit_bytes > 0 && resident_bytes > limit_bytes
}

fn memory_limitation(message: String) -> Termination {
    Termination {
        state: TaskState::TaskFailed,
        reason: Reason::ContainerLimitationMemory,
        message,
    }
}

/// Waits for `exited`; ends the container early when it exceeds its
/// memory: told by the kernel's out-of-memory kill with a cgroup, by
/// sampling its session's resident memory without one.
async fn watch(
    pid: i32,
    cgroup: Option<&CgroupDir>,
    memory_limit: &AtomicU64,
    samples: Option<MemorySamples>,
    exited: impl std::future::Future<Output = ()>,
) -> Option<Termination> {
    let Some(dir) = cgroup else {
        let Some(samples) = samples else {
            exited.await;
            return None;
        };
        return sample_memory(pid, memory_limit, samples, exited).await;
    };
    tokio::pin!(exited);
    let mut ticks = tokio::time::interval(OOM_POLL);
    let mut limitation = None;
    loop {
        tokio::select! {
            _ = &mut exited => break,
            _ = ticks.tick(), if limitation.is_none() => {
                if dir.oom_kills() > 0 {
                    tracing::warn!(pid, cgroup = %dir.path().display(), "memory limit exceeded: destroying the container");
                    limitation = Some(Termination {
                        state: TaskState::TaskFailed,
                        reason: Reason::ContainerLimitationMemory,
                        message: "Memory limit exceeded: the container was killed by the kernel".into(),
                    });
                    kill_container(pid, Some(dir));
                }
            }
        }
    }
    if limitation.is_none() && dir.oom_kills() > 0 {
        limitation = Some(Termination {
            state: TaskState::TaskFailed,
            reason: Reason::ContainerLimitationMemory,
            message: "Memory limit exceeded: the container was killed by the kernel".into(),
        });
    }
    limitation
}

/// The sampling watcher of a container without a cgroup.
async fn sample_memory(
    pid: i32,
    memory_limit: &AtomicU64,
    mut samples: MemorySamples,
    exited: impl std::future::Future<Output = ()>,
) -> Option<Termination> {
    tokio::pin!(exited);
    let mut limitation = None;
    loop {
        tokio::select! {
            _ = &mut exited => break,
            changed = samples.changed(), if limitation.is_none() => {
                if changed.is_err() {
                    // The sampler is gone with the containerizer.
                    std::future::pending::<()>().await;
                }
                let limit = memory_limit.load(Ordering::Relaxed);
                if limit == 0 {
                    continue;
                }
                // The executor leads its session: the session id is its pid.
                let resident = samples.borrow_and_update().get(&pid).copied().unwrap_or(0);
                if over_memory_limit(resident, limit) {
                    tracing::warn!(pid, resident, limit, "memory limit exceeded (sampled): destroying the container");
                    limitation = Some(memory_limitation(format!(
                        "Memory limit exceeded: {} MB resident, limit {} MB",
                        resident / (1024 * 1024),
                        limit / (1024 * 1024)
                    )));
                    kill_container(pid, None);
                }
            }
        }
    }
    limitation
}

/// The executor ended: nothing of its container may outlive it.
fn finish(pid: i32, cgroup: Option<&CgroupDir>) {
    kill_container(pid, cgroup);
}

/// SIGKILL to every process of the executor's session (and cgroup).
pub fn kill_container(pid: i32, cgroup: Option<&CgroupDir>) {
    if let Some(dir) = cgroup {
        dir.kill();
    }
    kill_session(pid);
}

/// SIGKILL to the process `sid` and every live process of its session,
/// repeated while members remain (one may fork meanwhile).
pub fn kill_session(sid: i32) {
    if sid <= 1 {
        return;
    }
    for _ in 0..5 {
        let members = procfs::session_members(sid);
        if members.is_empty() {
            return;
        }
        for member in members {
            // SAFETY: kill(2) of a process found in the executor's session.
            unsafe {
                libc::kill(member.pid, libc::SIGKILL);
            }
        }
    }
}

/// Waits for a process that is not this one's child to end: a pidfd
/// becomes readable then; without pidfds, `/proc` is polled.
async fn wait_foreign(pid: i32, start_time: Option<u64>) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 && procfs::is_running(pid, start_time) {
        // SAFETY: `fd` was just returned by pidfd_open and is owned here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the OwnedFd stays open, as the same descriptor, for as
        // long as the AsyncFd owning it lives.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        };
        if let Ok(async_fd) = registered {
            let _ = async_fd.readable().await;
            return;
        }
    } else if fd >= 0 {
        // SAFETY: as above; closed at once.
        drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    }
    while procfs::is_running(pid, start_time) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests;
