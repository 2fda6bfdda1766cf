//! Forcing FUSE mounts away: detaching those a crashed harness left
//! behind, and aborting a connection that stays busy after an unmount.
//!
//! A harness that dies while serving a mount leaves it in the mount table;
//! every access to it then fails with ENOTCONN and the directory cannot be
//! removed. A lazy unmount (`umount -l`) detaches it at once.
//!
//! A mount stays alive after its unmount while another mount namespace
//! holds a copy of it (`ip netns exec` gives each process started in a
//! namespace its own copy of the mount table) or a process still has a
//! file open on it; aborting its connection (fusectl) ends it.

use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`, the fields this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// Parses `/proc/self/mountinfo` text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            // Optional fields end with a lone "-"; the type follows it.
            let sep = fields.iter().position(|f| *f == "-")?;
            let fs_type = fields.get(sep + 1)?;
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                fs_type: (*fs_type).to_string(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let digits = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], digits) {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    std::ffi::OsString::from_vec(out)
}

/// FUSE mounts at or below `prefix`, deepest first (so nested mounts go
/// before their parents).
pub fn fuse_mounts_under(entries: &[MountEntry], prefix: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = entries
        .iter()
        .filter(|e| e.fs_type == "fuse" || e.fs_type.starts_with("fuse."))
        .filter(|e| e.mount_point.starts_with(prefix))
        .map(|e| e.mount_point.clone())
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Lazily unmounts `path` (`umount2(MNT_DETACH)`, else `fusermount3 -uz`).
pub fn detach(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let umount_err = std::io::Error::last_os_error();
    match std::process::Command::new("fusermount3")
        .args(["-u", "-z", "-q", "--"])
        .arg(path)
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(umount_err),
    }
}

/// Detaches every FUSE mount at or below `prefix`; returns the mount
/// points detached. Failures are logged, not returned: cleanup goes on.
pub fn unmount_stale(prefix: &Path) -> Vec<PathBuf> {
    let text = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read /proc/self/mountinfo; stale FUSE mounts not cleaned");
            return Vec::new();
        }
    };
    let mut done = Vec::new();
    for mp in fuse_mounts_under(&parse_mountinfo(&text), prefix) {
        match detach(&mp) {
            Ok(()) => {
                tracing::info!(mount = %mp.display(), "detached stale FUSE mount");
                done.push(mp);
            }
            Err(e) => {
                tracing::warn!(mount = %mp.display(), error = %e, "cannot detach stale FUSE mount")
            }
        }
    }
    done
}

/// fusectl names a connection by the kernel's `dev_t` of the mount:
/// major << 20 | minor.
pub fn connection_id(st_dev: u64) -> u64 {
    (u64::from(libc::major(st_dev)) << 20) | u64::from(libc::minor(st_dev))
}

const FUSECTL: &str = "/sys/fs/fuse/connections";

/// Aborts the FUSE connection `id` through fusectl (mounted on
/// /sys/fs/fuse/connections first if needed, as systemd does at boot).
/// Every pending and later request on it fails with ENOTCONN.
pub fn abort_connection(id: u64) -> std::io::Result<()> {
    let abort = Path::new(FUSECTL).join(id.to_string()).join("abort");
    if !abort.exists() {
        mount_fusectl()?;
    }
    std::fs::write(abort, "1")
}

fn mount_fusectl() -> std::io::Result<()> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    if parse_mountinfo(&text)
        .iter()
        .any(|e| e.fs_type == "fusectl")
    {
        return Ok(());
    }
    let c = |s: &str| {
        std::ffi::CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
    };
    let (src, target, fstype) = (c("fusectl")?, c(FUSECTL)?, c("fusectl")?);
    // SAFETY: valid NUL-terminated strings; no mount data.
    let ret = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
90 27 0:55 / /tmp/run/n1/data rw,nosuid,nodev,relatime shared:7 - fuse.lazyfs lazyfs rw,user_id=0,group_id=0
91 27 0:56 / /tmp/run/n2\\040x/data rw,nosuid,nodev - fuse lazyfs rw
92 90 0:57 / /tmp/run/n1/data/inner rw - fuse.other x rw
93 27 0:58 / /tmp/runner/data rw - fuse.lazyfs lazyfs rw
94 27 0:59 / /tmp/run/tmpfs rw - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn finds_fuse_mounts_under_a_prefix_deepest_first() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 6);
        let found = fuse_mounts_under(&entries, Path::new("/tmp/run"));
        assert_eq!(
            found,
            vec![
                PathBuf::from("/tmp/run/n1/data/inner"),
                PathBuf::from("/tmp/run/n1/data"),
                PathBuf::from("/tmp/run/n2 x/data"),
            ]
        );
    }

    #[test]
    fn unescape_handles_octal_and_truncated_escapes() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("end\\04"), "end\\04");
        assert_eq!(unescape("\\777"), "\\777");
    }
}
