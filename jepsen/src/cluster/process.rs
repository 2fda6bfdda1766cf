//! One OS process of the cluster: spawned in its own process group (so a
//! kill takes every thread and child with it), with stdout and stderr
//! appended to the node's log file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cleanup;

pub struct NodeProcess {
    child: Child,
    pub pgid: i32,
    paused: bool,
}

impl NodeProcess {
    /// Starts `program args`, inside network namespace `netns` when given.
    pub fn spawn(
        program: &Path,
        args: &[String],
        netns: Option<&str>,
        log: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<NodeProcess> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening node log {}", log.display()))?;
        let mut cmd = match netns {
            Some(ns) => {
                // `ip netns exec` enters the namespace and execs the program,
                // so the pid (and process group) stays the master's.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file.try_clone()?))
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        writeln!(
            file,
            "==== jepsen: starting {}{} {}",
            netns.map(|n| format!("[netns {n}] ")).unwrap_or_default(),
            program.display(),
            args.join(" ")
        )?;
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pgid = child.id() as i32;
        cleanup::track_group(pgid);
        Ok(NodeProcess {
            child,
            pgid,
            paused: false,
        })
    }

    /// SIGKILL to the whole group, then reap (bounded wait).
    pub fn kill(mut self) {
        cleanup::kill_group(self.pgid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        cleanup::untrack_group(self.pgid);
    }

    pub fn pause(&mut self) {
        // SAFETY: signalling our own process group.
        unsafe {
            libc::kill(-self.pgid, libc::SIGSTOP);
        }
        self.paused = true;
    }

    pub fn resume(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::kill(-self.pgid, libc::SIGCONT);
        }
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Some(description) when the process has exited by itself.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }
}
