//! Programs in their own process group, so a kill takes every thread and
//! child with it, with stdout and stderr appended to a log file; and a
//! program run to completion under a time limit.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::wait::poll_until;

/// How long a kill waits for the kernel to let the process be reaped.
pub const REAP_LIMIT: Duration = Duration::from_secs(10);

/// One run's place in an append-only log file.
#[derive(Clone, Debug)]
pub struct RunLog {
    pub path: PathBuf,
    /// Where this run's output begins.
    pub start: u64,
}

impl RunLog {
    /// Every run's output.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// This run's output only: what explains how it ended, without the
    /// runs before it.
    pub fn run_text(&self) -> String {
        let text = std::fs::read(&self.path).unwrap_or_default();
        let start = usize::try_from(self.start)
            .unwrap_or(usize::MAX)
            .min(text.len());
        String::from_utf8_lossy(&text[start..]).into_owned()
    }
}

/// A running program and its process group (the group id is its pid).
/// Dropping it kills the group.
pub struct ProcessGroup {
    child: Child,
    pgid: i32,
    paused: bool,
    killed: bool,
    log: RunLog,
}

impl ProcessGroup {
    /// Starts `cmd` in a new process group, stdin closed, stdout and
    /// stderr appended to `log`; `banner`, when given, is written to the
    /// log as a line first.
    pub fn spawn(mut cmd: Command, log: &Path, banner: Option<&str>) -> std::io::Result<Self> {
        let mut file = OpenOptions::new().create(true).append(true).open(log)?;
        let start = file.metadata()?.len();
        if let Some(line) = banner {
            writeln!(file, "{line}")?;
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .process_group(0);
        let child = cmd.spawn()?;
        let pgid = i32::try_from(child.id()).map_err(std::io::Error::other)?;
        Ok(Self {
            child,
            pgid,
            paused: false,
            killed: false,
            log: RunLog {
                path: log.to_path_buf(),
                start,
            },
        })
    }

    /// The process group id (the pid of the program started).
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    pub fn log(&self) -> &RunLog {
        &self.log
    }

    /// SIGKILL to the whole group, then reap (waiting at most
    /// [`REAP_LIMIT`]).
    pub fn kill9(mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        kill_group(self.pgid);
        let deadline = Instant::now() + REAP_LIMIT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                // The kernel finishes a SIGKILL within moments; this loop
                // only bridges them, in code that may not be async.
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// SIGTERM to the group: asks it to stop cleanly.
    pub fn terminate(&self) {
        signal_group(self.pgid, libc::SIGTERM);
    }

    /// SIGSTOP to the group: it keeps its sockets but answers nothing.
    pub fn pause(&mut self) {
        signal_group(self.pgid, libc::SIGSTOP);
        self.paused = true;
    }

    /// SIGCONT to the group.
    pub fn resume(&mut self) {
        signal_group(self.pgid, libc::SIGCONT);
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The exit status once the program has ended by itself (reaping it);
    /// None while it runs. An error means its state cannot be known.
    pub fn exited(&mut self) -> Option<std::io::Result<ExitStatus>> {
        self.child.try_wait().transpose()
    }

    /// Waits until the program ends by itself; None if it still runs
    /// after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        poll_until(limit, || {
            let exited = self.exited().and_then(Result::ok);
            async move { exited }
        })
        .await
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

fn signal_group(pgid: i32, sig: libc::c_int) {
    if pgid <= 1 {
        return;
    }
    // SAFETY: a plain syscall on a process group this crate created.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Kills a process group: resumes it first (a stopped group is slow to
/// die on some kernels), then SIGKILL. Ids 0 and 1 are never signalled.
pub fn kill_group(pgid: i32) {
    signal_group(pgid, libc::SIGCONT);
    signal_group(pgid, libc::SIGKILL);
}

/// The last `n` lines of a log file.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `program args` to completion (quiet logging, no backtraces), or
/// kills it after `limit`; returns the exit code (None if killed) and
/// stdout + stderr.
pub fn run_bounded(program: &str, args: &[String], limit: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output handle"))
        .stderr(out)
        .spawn()
        .expect("cannot start command");
    // A waiter thread reaps the child and reports at once; until it has,
    // the pid cannot be reused, so killing it by pid on timeout is safe.
    let pid = child.id() as libc::pid_t;
    let (exited_tx, exited) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = exited_tx.send(());
        status
    });
    let timed_out = exited.recv_timeout(limit).is_err();
    if timed_out {
        // SAFETY: plain syscall on a child we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = waiter.join().expect("waiter thread").ok();
    let code = if timed_out {
        None
    } else {
        status.and_then(|s| s.code())
    };
    (code, std::fs::read_to_string(&out_path).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[tokio::test]
    async fn output_goes_to_the_log_and_each_run_has_its_own_part() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        let mut first = ProcessGroup::spawn(sh("echo one"), &log, Some("== start")).unwrap();
        assert!(first.wait_exit(Duration::from_secs(10)).await.is_some());
        let mut second = ProcessGroup::spawn(sh("echo two >&2; exit 3"), &log, None).unwrap();
        let status = second.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(second.log().text(), "== start\none\ntwo\n");
        assert_eq!(second.log().run_text(), "two\n");
        assert_eq!(log_tail(&log, 2), "one\ntwo");
    }

    #[tokio::test]
    async fn kill9_takes_the_whole_group_also_when_paused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        // A child of the program, in the same group, must die with it.
        let mut p = ProcessGroup::spawn(sh("sleep 60 & echo $!; wait"), &log, None).unwrap();
        let pgid = p.pgid();
        let child: i32 = crate::wait::wait_for("the child's pid", Duration::from_secs(10), || {
            let pid = p.log().text().trim().parse().ok();
            async move { pid }
        })
        .await;
        p.pause();
        assert!(p.is_paused());
        assert!(p.exited().is_none());
        p.kill9();
        let gone = |pid: i32| {
            // SAFETY: signal 0 only asks whether the process exists.
            unsafe { libc::kill(pid, 0) != 0 }
        };
        assert!(gone(pgid));
        crate::wait::wait_for("the group's child to die", Duration::from_secs(10), || {
            // The orphan is reaped by init; until then it is a zombie.
            let status = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let dead = status.is_empty() || status.contains(") Z ");
            async move { dead.then_some(()) }
        })
        .await;
    }

    #[test]
    fn a_bounded_run_reports_its_code_or_is_killed() {
        let args = |s: &str| vec!["-c".to_string(), s.to_string()];
        let (code, out) = run_bounded("sh", &args("echo hi; exit 2"), Duration::from_secs(10));
        assert_eq!((code, out.as_str()), (Some(2), "hi\n"));
        let (code, _) = run_bounded("sh", &args("sleep 30"), Duration::from_millis(100));
        assert_eq!(code, None);
    }
}
