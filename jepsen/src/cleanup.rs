//! Leaving nothing behind: every process group and network object a run
//! creates is registered here, so it can be removed by the run's guard (on
//! success, error or panic unwinding), by the Ctrl-C / SIGTERM handler of
//! the binary, or, after a crash, by the next run that takes the same slot.
//!
//! A *slot* (an exclusive `flock` on `/tmp/mesoraft-jepsen/slot-K.lock`)
//! gives a run its own names and addresses (bridge `jepKbr`, namespaces
//! `jepKnI`, subnet 10.77.K.0/24), so concurrent runs (e.g. parallel cargo
//! tests) never touch each other's objects, and leftovers found under a slot
//! we hold can only belong to a run that died.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};

/// Process groups to kill and teardown actions to run in an emergency.
#[derive(Default)]
struct Registry {
    groups: BTreeSet<i32>,
    teardowns: BTreeMap<u64, Arc<dyn Fn() + Send + Sync>>,
    next: u64,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Registry::default))
}

pub fn track_group(pgid: i32) {
    with(|r| r.groups.insert(pgid));
}

pub fn untrack_group(pgid: i32) {
    with(|r| r.groups.remove(&pgid));
}

/// Registers an idempotent teardown; returns a handle for `unregister`.
pub fn register_teardown(f: Arc<dyn Fn() + Send + Sync>) -> u64 {
    with(|r| {
        r.next += 1;
        r.teardowns.insert(r.next, f);
        r.next
    })
}

pub fn unregister_teardown(id: u64) {
    with(|r| r.teardowns.remove(&id));
}

/// Kills a process group (SIGCONT, then SIGKILL).
pub use mesoraft_testkit::kill_group;

/// Kills every tracked process group and runs every teardown. Safe to call
/// more than once and from any thread.
pub fn emergency_cleanup() {
    let (groups, teardowns) = with(|r| {
        (
            std::mem::take(&mut r.groups),
            std::mem::take(&mut r.teardowns),
        )
    });
    for pgid in groups {
        kill_group(pgid);
    }
    for (_, f) in teardowns {
        f();
    }
}

/// For the binary only (tests rely on unwinding guards instead, so that one
/// failing test does not tear down the clusters of others): a panic or a
/// Ctrl-C / SIGTERM removes everything before the process goes away.
pub fn install_process_handlers() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        emergency_cleanup();
    }));
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        let which = tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted",
            _ = term.recv() => "terminated",
        };
        eprintln!("jepsen: {which}; killing the cluster and removing namespaces");
        emergency_cleanup();
        std::process::exit(130);
    });
}

pub const MAX_SLOTS: u32 = 16;

/// Per user, so that runs by different users never fight over lock files
/// (only root can create namespaces anyway).
fn slot_dir() -> String {
    // SAFETY: geteuid has no preconditions.
    format!("/tmp/mesoraft-jepsen-{}", unsafe { libc::geteuid() })
}

/// An exclusive claim on one set of names and addresses.
pub struct Slot {
    pub index: u32,
    lock: File,
    pids: Mutex<File>,
}

impl Slot {
    /// Takes the first free slot, killing processes a crashed holder left.
    pub fn acquire() -> anyhow::Result<Arc<Slot>> {
        let dir = slot_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        for index in 0..MAX_SLOTS {
            let path = PathBuf::from(format!("{dir}/slot-{index}.lock"));
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            // SAFETY: flock on a descriptor we own.
            let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                continue;
            }
            let pid_path = PathBuf::from(format!("{dir}/slot-{index}.pids"));
            kill_leftover_pids(&pid_path);
            let pids = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&pid_path)?;
            return Ok(Arc::new(Slot {
                index,
                lock,
                pids: Mutex::new(pids),
            }));
        }
        bail!("all {MAX_SLOTS} jepsen slots are in use (see {dir})")
    }

    /// Remembers a process group so a later run can kill it if we crash.
    pub fn record_group(&self, pgid: i32) {
        let mut f = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{pgid}");
        let _ = f.flush();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor (closing would also do it).
        unsafe {
            libc::flock(self.lock.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Kills process groups recorded by a previous holder of a slot, but only
/// when the pid still names one of our programs (pids are reused).
fn kill_leftover_pids(path: &PathBuf) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for pgid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let cmdline = std::fs::read(format!("/proc/{pgid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("mesoraft") || cmdline.contains("fake-master") {
            tracing::warn!(pgid, "killing a master left behind by a crashed run");
            kill_group(pgid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_exclusive() {
        let a = Slot::acquire().unwrap();
        let b = Slot::acquire().unwrap();
        assert_ne!(a.index, b.index);
    }

    #[test]
    fn unregistered_teardowns_are_forgotten() {
        let id = register_teardown(Arc::new(|| {}));
        assert!(with(|r| r.teardowns.contains_key(&id)));
        unregister_teardown(id);
        assert!(!with(|r| r.teardowns.contains_key(&id)));
    }
}
