//! The facts the agent's defaults come from, read from the machine: its
//! hostname, online CPUs, physical memory and the size of the filesystem
//! holding the work dir. The only I/O behind the flags; what is done with
//! the facts is pure (`resources::with_defaults`, `flags`).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::resources::MachineResources;

/// Everything the flags' defaults need from the machine. A fact that could
/// not be read carries why; it matters only if a default needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFacts {
    pub hostname: Result<String, String>,
    pub resources: MachineResources,
}

impl MachineFacts {
    /// Reads the facts; `work_dir` need not exist yet (its nearest existing
    /// ancestor decides the filesystem).
    pub fn detect(work_dir: &Path) -> Self {
        let problem = |e: io::Error| e.to_string();
        MachineFacts {
            hostname: hostname().map_err(problem),
            resources: MachineResources {
                cpus: online_cpus().map_err(problem),
                memory_bytes: total_memory_bytes().map_err(problem),
                disk_bytes: filesystem_bytes(work_dir).map_err(problem),
            },
        }
    }
}

/// The kernel's hostname (`gethostname`), as Mesos takes it before its
/// DNS lookup (which the agent skips: `--hostname` overrides).
pub fn hostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the name is
    // NUL-terminated when it fits, and the last byte stays 0 otherwise.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..len].to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "hostname is not UTF-8"))
}

/// CPUs online now (`sysconf(_SC_NPROCESSORS_ONLN)`), Mesos's `os::cpus`.
pub fn online_cpus() -> io::Result<u64> {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(io::Error::last_os_error)
}

/// Total physical memory (`sysinfo`), Mesos's `os::memory().total`.
pub fn total_memory_bytes() -> io::Result<u64> {
    // SAFETY: sysinfo fills the zeroed struct it is given.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info.totalram as u64).saturating_mul(u64::from(info.mem_unit.max(1))))
}

/// Size of the filesystem holding `path` (`statvfs`: blocks times
/// fragment size), Mesos's `fs::size`. Walks up to the nearest existing
/// ancestor, so a work dir not created yet still has an answer.
pub fn filesystem_bytes(path: &Path) -> io::Result<u64> {
    let existing = path
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."));
    let c_path = CString::new(existing.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: a valid C string and a zeroed struct for statvfs to fill.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((stat.f_blocks as u64).saturating_mul(stat.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_name_cpus_memory_and_a_filesystem() {
        let facts = MachineFacts::detect(Path::new("/nonexistent/work/dir"));
        assert!(!facts.hostname.unwrap().is_empty());
        assert!(facts.resources.cpus.unwrap() >= 1);
        assert!(facts.resources.memory_bytes.unwrap() > 1 << 20);
        assert!(facts.resources.disk_bytes.unwrap() > 0);
    }
}
