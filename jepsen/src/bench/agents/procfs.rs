//! What the kernel says of a process: resident memory (`VmRSS` of
//! `/proc/<pid>/status`) and CPU time (`utime + stime` of
//! `/proc/<pid>/stat`, through the throughput bench's reader); and the
//! bench's own limit of open files, which spawned processes inherit.

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// The resident memory of `pid` now, in KiB; None if it is gone.
pub fn rss_kib(pid: i32) -> Option<u64> {
    vm_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// CPU seconds `pid` has used so far (all threads); None if it is gone.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    crate::bench::throughput::cpu_seconds(&[pid])
}

/// Raises the soft limit of open files to at least `needed` (and the
/// hard limit too when allowed, as root), so masters and simulators
/// spawned afterwards can hold one socket per connection. Returns the
/// soft limit in force.
pub fn ensure_open_files(needed: u64) -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur >= needed {
            return Ok(limit.rlim_cur);
        }
        let raised = libc::rlimit {
            rlim_cur: needed,
            rlim_max: limit.rlim_max.max(needed),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return Ok(needed);
        }
        // Not allowed past the hard limit: take what it allows.
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tmesoraft\nVmPeak:\t  900 kB\nVmRSS:\t   52340 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_kib(status), Some(52_340));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\t12 MB\n"), None);
        let me = rss_kib(std::process::id() as i32).unwrap();
        assert!(me > 0);
        assert!(cpu_seconds(std::process::id() as i32).is_some());
        assert_eq!(rss_kib(i32::MAX), None);
    }
}
