//! The agent simulators the bench runs (`mesoraft agent-sim`, spelled by
//! the test kit's `AgentSimCmd`), and their report files read as they
//! grow: every (re-)registration with its time.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesoraft_testkit::{log_tail, AgentSimCmd, ProcessGroup};
use serde::Deserialize;

use super::figures::{arrival, Arrival, Registration, UnixNs};

/// How often the report files are read while waiting.
const POLL: Duration = Duration::from_millis(50);

/// The lines of a simulator's report the bench reads (the simulator's
/// `sim::book::ReportLine`); other kinds are skipped.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SimLine {
    Registered {
        at_ns: UnixNs,
        agent: String,
        master: String,
        again: bool,
        attempt_started_ns: UnixNs,
        attempts: u32,
    },
    Stopped {
        agent: String,
        why: String,
    },
    #[serde(other)]
    Other,
}

/// A report file read as it grows: only complete lines are taken.
pub struct ReportReader {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl ReportReader {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// The lines appended since the last call (none while the file does
    /// not exist yet). A line that does not parse is an error naming it.
    pub fn read_new(&mut self) -> anyhow::Result<Vec<SimLine>> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let complete = match self.partial.rfind('\n') {
            Some(end) => {
                let rest = self.partial.split_off(end + 1);
                std::mem::replace(&mut self.partial, rest)
            }
            None => return Ok(Vec::new()),
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).with_context(|| {
                    format!("{}: a line that is no report: {l}", self.path.display())
                })
            })
            .collect()
    }
}

/// How the simulators are started.
#[derive(Clone, Debug)]
pub struct SimOpts {
    pub processes: usize,
    pub agents_per_connection: usize,
    pub connect_rate: usize,
    pub tasks_per_agent: usize,
    pub registration_backoff_factor: Duration,
    /// The simulator's `--reconnect` (None: its default, the agent's).
    pub reconnect: Option<String>,
}

/// Running simulators and everything they reported so far.
pub struct Simulators {
    procs: Vec<ProcessGroup>,
    readers: Vec<ReportReader>,
    pub agents: usize,
    pub registrations: Vec<Registration>,
    /// Agents that stopped for good, with why.
    pub stopped: Vec<(String, String)>,
}

impl Simulators {
    /// Starts `opts.processes` simulators sharing `agents` between them
    /// (`s<P>-` name prefixes), reports and logs in `dir`.
    pub fn spawn(
        exe: &Path,
        masters: &[String],
        agents: usize,
        opts: &SimOpts,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let processes = opts.processes.clamp(1, agents.max(1));
        let mut sims = Simulators {
            procs: Vec::new(),
            readers: Vec::new(),
            agents,
            registrations: Vec::new(),
            stopped: Vec::new(),
        };
        for p in 0..processes {
            let share = agents / processes + usize::from(p < agents % processes);
            let report = dir.join(format!("sim{p}.jsonl"));
            let cmd = AgentSimCmd::new(masters.iter().cloned(), share)
                .id_prefix(format!("s{p}-"))
                .hostname_prefix(format!("sim{p}-agent-"))
                .tasks_per_agent(opts.tasks_per_agent)
                .report(&report)
                .connect_rate(opts.connect_rate)
                .registration_backoff_factor(opts.registration_backoff_factor)
                .agents_per_connection(opts.agents_per_connection);
            let cmd = match &opts.reconnect {
                Some(policy) => cmd.reconnect(policy.clone()),
                None => cmd,
            };
            let mut command = std::process::Command::new(exe);
            command.args(cmd.args());
            let log = dir.join(format!("sim{p}.log"));
            let banner = format!("$ {} {}", exe.display(), cmd.args().join(" "));
            let proc = ProcessGroup::spawn(command, &log, Some(&banner))
                .with_context(|| format!("starting {}", exe.display()))?;
            crate::cleanup::track_group(proc.pgid());
            sims.procs.push(proc);
            sims.readers.push(ReportReader::new(&report));
        }
        Ok(sims)
    }

    pub fn pids(&self) -> Vec<i32> {
        self.procs.iter().map(ProcessGroup::pgid).collect()
    }

    /// CPU seconds of every simulator so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        crate::bench::throughput::cpu_seconds(&self.pids())
    }

    /// Reads what the simulators reported since the last call; fails if
    /// one of them exited.
    pub fn poll(&mut self) -> anyhow::Result<()> {
        for reader in &mut self.readers {
            for line in reader.read_new()? {
                match line {
                    SimLine::Registered {
                        at_ns,
                        agent,
                        master,
                        again,
                        attempt_started_ns,
                        attempts,
                    } => self.registrations.push(Registration {
                        agent,
                        master,
                        again,
                        at_ns,
                        attempt_started_ns,
                        attempts,
                    }),
                    SimLine::Stopped { agent, why } => self.stopped.push((agent, why)),
                    SimLine::Other => {}
                }
            }
        }
        for proc in &mut self.procs {
            if let Some(status) = proc.exited() {
                let log = &proc.log().path;
                bail!(
                    "agent simulator exited ({status:?}); end of {}:\n{}",
                    log.display(),
                    log_tail(log, 8)
                );
            }
        }
        Ok(())
    }

    /// Waits until every agent (re-)registered at or after `from_ns`
    /// (with `master`'s share counted), or `limit` passed: the arrival
    /// either way.
    pub async fn wait_arrival(
        &mut self,
        from_ns: UnixNs,
        master: Option<&str>,
        limit: Duration,
    ) -> anyhow::Result<Arrival> {
        let deadline = Instant::now() + limit;
        loop {
            self.poll()?;
            let seen = arrival(&self.registrations, from_ns, self.agents, master);
            if seen.arrived >= self.agents || Instant::now() >= deadline {
                return Ok(seen);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Simulators {
    fn drop(&mut self) {
        for proc in self.procs.drain(..) {
            let pgid = proc.pgid();
            proc.kill9();
            crate::cleanup::untrack_group(pgid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_growing_report_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut reader = ReportReader::new(&path);
        assert!(reader.read_new().unwrap().is_empty(), "no file yet");
        let mut file = std::fs::File::create(&path).unwrap();
        write!(
            file,
            "{{\"kind\":\"start\",\"at_ns\":1,\"agents\":2}}\n\
             {{\"kind\":\"registered\",\"at_ns\":5,\"agent\":\"s0-1\",\"agent_id\":\"c-S1\",\
             \"master\":\"m1\",\"again\":false,\"attempt_started_ns\":4,\"attempts\":1}}\n\
             {{\"kind\":\"progress\",\"at_ns\":6"
        )
        .unwrap();
        file.flush().unwrap();
        let lines = reader.read_new().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], SimLine::Other);
        assert!(
            matches!(&lines[1], SimLine::Registered { agent, at_ns: 5, .. } if agent == "s0-1")
        );
        // The rest of the half-written line arrives.
        writeln!(file, ",\"registered_now\":1}}").unwrap();
        writeln!(
            file,
            "{{\"kind\":\"stopped\",\"at_ns\":9,\"agent\":\"s0-2\",\"why\":\"gone\"}}"
        )
        .unwrap();
        let lines = reader.read_new().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], SimLine::Other);
        assert_eq!(
            lines[1],
            SimLine::Stopped {
                agent: "s0-2".into(),
                why: "gone".into()
            }
        );
        writeln!(file, "not json").unwrap();
        assert!(reader
            .read_new()
            .unwrap_err()
            .to_string()
            .contains("not json"));
    }
}
