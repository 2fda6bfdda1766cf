//! The simulated agents of the scheduling bench: one `mesoraft agent-sim`
//! process whose agents answer launches (`--tasks`), killed with its
//! process group when dropped, also when the bench fails.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesoraft_testkit::{log_tail, AgentSimCmd, ProcessGroup};

use crate::bench::master_figure;

/// How often the leader's agent count is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// A running simulator.
pub struct Agents {
    proc: Option<ProcessGroup>,
    pub count: usize,
}

impl Agents {
    /// Starts `count` agents with `resources` (None: the simulator's
    /// default) whose tasks behave as `tasks` says; report and log in
    /// `dir`.
    pub fn spawn(
        exe: &Path,
        masters: &[String],
        count: usize,
        resources: Option<&str>,
        tasks: &str,
        dir: &Path,
    ) -> anyhow::Result<Agents> {
        std::fs::create_dir_all(dir)?;
        let mut cmd = AgentSimCmd::new(masters.iter().cloned(), count)
            .id_prefix("sched-")
            .hostname_prefix("sched-agent-")
            .tasks_per_agent(0)
            .tasks(tasks)
            .report(dir.join("sim.jsonl"));
        if let Some(resources) = resources {
            cmd = cmd.resources(resources);
        }
        let mut command = std::process::Command::new(exe);
        command.args(cmd.args());
        let banner = format!("$ {} {}", exe.display(), cmd.args().join(" "));
        let proc = ProcessGroup::spawn(command, &dir.join("sim.log"), Some(&banner))
            .with_context(|| format!("starting {}", exe.display()))?;
        crate::cleanup::track_group(proc.pgid());
        Ok(Agents {
            proc: Some(proc),
            count,
        })
    }

    /// Fails (with the end of its log) if the simulator exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        let Some(proc) = &mut self.proc else {
            bail!("the agent simulator was stopped");
        };
        if let Some(status) = proc.exited() {
            let log = &proc.log().path;
            bail!(
                "agent simulator exited ({status:?}); end of {}:\n{}",
                log.display(),
                log_tail(log, 8)
            );
        }
        Ok(())
    }

    /// Waits until the leader at `addr` counts every agent active; fails
    /// early if the simulator exits.
    pub async fn wait_registered(
        &mut self,
        http: &reqwest::Client,
        addr: &str,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let deadline = start + limit;
        let count = self.count as f64;
        loop {
            // A second at a time, so that a simulator that died is seen.
            let slice_end = deadline.min(Instant::now() + Duration::from_secs(1));
            let all_active = crate::wait::until(slice_end, POLL, || async {
                let active = master_figure(http, addr, "master/slaves_active").await?;
                (active >= count).then_some(())
            })
            .await;
            if all_active.is_some() {
                return Ok(start.elapsed());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                let active = master_figure(http, addr, "master/slaves_active").await;
                bail!(
                    "the leader counts {active:?} active agents, not {}, after {limit:?}",
                    self.count
                );
            }
        }
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        if let Some(proc) = self.proc.take() {
            let pgid = proc.pgid();
            proc.kill9();
            crate::cleanup::untrack_group(pgid);
        }
    }
}
