//! For tests that run real agents: executors outlive their agent by
//! design (SPEC 7), so a test that kills agents must also end the
//! executors they started, also when it fails.

use std::path::PathBuf;

use crate::procfs;

/// Kills, when dropped, every process whose `MESOS_DIRECTORY` lies under
/// `root` (executors) and everything in their sessions (their tasks).
pub struct SandboxReaper {
    pub root: PathBuf,
}

impl SandboxReaper {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SandboxReaper { root: root.into() }
    }

    /// The live executors (pid, session) started for sandboxes under the
    /// root, or any session leader started with such a sandbox.
    pub fn executors(&self) -> Vec<(i32, i32)> {
        let wanted = format!("MESOS_DIRECTORY={}", self.root.display());
        procfs::all()
            .into_iter()
            // Executors lead their sessions; their tasks inherit the
            // variable but not the leadership.
            .filter(|p| p.is_alive() && p.pid == p.session)
            .filter(|p| {
                std::fs::read(format!("/proc/{}/environ", p.pid))
                    .map(|environ| {
                        environ
                            .split(|b| *b == 0)
                            .any(|var| var.starts_with(wanted.as_bytes()))
                    })
                    .unwrap_or(false)
            })
            .map(|p| (p.pid, p.session))
            .collect()
    }

    pub fn kill_all(&self) {
        for (pid, session) in self.executors() {
            for member in procfs::session_members(session) {
                // SAFETY: plain kill(2) of processes this test started.
                unsafe {
                    libc::kill(member.pid, libc::SIGKILL);
                }
            }
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for SandboxReaper {
    fn drop(&mut self) {
        self.kill_all();
    }
}
