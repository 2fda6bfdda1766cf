//! One OS process of the cluster: the test kit's process group (its own
//! group, output appended to the node's log), started inside a network
//! namespace when the node has one, and tracked for emergency cleanup
//! while it lives.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use mesoraft_testkit::ProcessGroup;

use crate::cleanup;

pub struct NodeProcess {
    /// Always Some until dropped.
    group: Option<ProcessGroup>,
    pub pgid: i32,
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
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let banner = format!(
            "==== jepsen: starting {}{} {}",
            netns.map(|n| format!("[netns {n}] ")).unwrap_or_default(),
            program.display(),
            args.join(" ")
        );
        let group = ProcessGroup::spawn(cmd, log, Some(&banner))
            .with_context(|| format!("starting {} (log {})", program.display(), log.display()))?;
        let pgid = group.pgid();
        cleanup::track_group(pgid);
        Ok(NodeProcess {
            group: Some(group),
            pgid,
        })
    }

    /// SIGKILL to the whole group, then reap (bounded wait).
    pub fn kill(self) {
        drop(self);
    }

    pub fn pause(&mut self) {
        if let Some(g) = self.group.as_mut() {
            g.pause();
        }
    }

    pub fn resume(&mut self) {
        if let Some(g) = self.group.as_mut() {
            g.resume();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.group.as_ref().is_some_and(ProcessGroup::is_paused)
    }

    /// Some(description) when the process has exited by itself.
    pub fn exited(&mut self) -> Option<String> {
        match self.group.as_mut()?.exited()? {
            Ok(status) => Some(status.to_string()),
            Err(e) => Some(format!("unknown ({e})")),
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            group.kill9();
        }
        cleanup::untrack_group(self.pgid);
    }
}
