//! The processes of one kind a run started (masters or agents), by id:
//! starting over one that exited, kill -9, SIGSTOP/SIGCONT, and the exits
//! nothing in the run caused (a checker's evidence). `Cluster` and
//! `AgentFleet` each hold one.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::process::NodeProcess;

pub struct Processes {
    /// "master" or "agent", for the log line of an exit.
    kind: &'static str,
    procs: Mutex<BTreeMap<u64, NodeProcess>>,
    exits: Mutex<Vec<(u64, String)>>,
}

impl Processes {
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            procs: Mutex::new(BTreeMap::new()),
            exits: Mutex::new(Vec::new()),
        }
    }

    fn procs(&self) -> MutexGuard<'_, BTreeMap<u64, NodeProcess>> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exits(&self) -> MutexGuard<'_, Vec<(u64, String)>> {
        self.exits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note_exit(&self, id: u64, status: String) {
        tracing::warn!(id, kind = self.kind, %status, "process exited by itself");
        self.exits().push((id, status));
    }

    /// Notes and reaps `id` if it exited; whether it still runs.
    fn reap(&self, procs: &mut BTreeMap<u64, NodeProcess>, id: u64) -> bool {
        let Some(status) = procs.get_mut(&id).and_then(|p| p.exited()) else {
            return procs.contains_key(&id);
        };
        self.note_exit(id, status);
        if let Some(p) = procs.remove(&id) {
            p.kill();
        }
        false
    }

    /// Starts `id` with `spawn` unless it runs; the new process's group
    /// when one was started.
    pub fn start_with(
        &self,
        id: u64,
        spawn: impl FnOnce() -> anyhow::Result<NodeProcess>,
    ) -> anyhow::Result<Option<i32>> {
        let mut procs = self.procs();
        if self.reap(&mut procs, id) {
            return Ok(None);
        }
        let proc = spawn()?;
        let pgid = proc.pgid;
        procs.insert(id, proc);
        Ok(Some(pgid))
    }

    /// kill -9 of `id`: None if it was not started, else whether it was
    /// still running (an exit found on the way is noted).
    pub fn kill(&self, id: u64) -> Option<bool> {
        let mut p = self.procs().remove(&id)?;
        let exited = p.exited();
        p.kill();
        match exited {
            Some(status) => {
                self.note_exit(id, status);
                Some(false)
            }
            None => Some(true),
        }
    }

    pub fn kill_all(&self) {
        let all: Vec<NodeProcess> = std::mem::take(&mut *self.procs()).into_values().collect();
        for p in all {
            p.kill();
        }
    }

    /// SIGSTOP; true if it was running and not paused yet.
    pub fn pause(&self, id: u64) -> bool {
        let mut procs = self.procs();
        if !self.reap(&mut procs, id) {
            return false;
        }
        match procs.get_mut(&id) {
            Some(p) if !p.is_paused() => {
                p.pause();
                true
            }
            _ => false,
        }
    }

    pub fn resume(&self, id: u64) -> bool {
        match self.procs().get_mut(&id) {
            Some(p) if p.is_paused() => {
                p.resume();
                true
            }
            _ => false,
        }
    }

    pub fn resume_all(&self) -> Vec<u64> {
        let mut resumed = Vec::new();
        for (id, p) in self.procs().iter_mut() {
            if p.is_paused() {
                p.resume();
                resumed.push(*id);
            }
        }
        resumed
    }

    /// Ids with a live process (exited ones are reaped and noted).
    pub fn running(&self) -> Vec<u64> {
        let mut procs = self.procs();
        let ids: Vec<u64> = procs.keys().copied().collect();
        ids.into_iter()
            .filter(|id| self.reap(&mut procs, *id))
            .collect()
    }

    /// (id, process group) of every process started and not killed.
    pub fn pids(&self) -> Vec<(u64, i32)> {
        self.procs().iter().map(|(id, p)| (*id, p.pgid)).collect()
    }

    /// Every exit nothing caused, so far.
    pub fn exits_so_far(&self) -> Vec<(u64, String)> {
        self.exits().clone()
    }

    /// The exits nothing caused since the last call.
    pub fn take_exits(&self) -> Vec<(u64, String)> {
        self.running();
        std::mem::take(&mut *self.exits())
    }
}
