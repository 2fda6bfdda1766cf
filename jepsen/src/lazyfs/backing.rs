//! Calls on the backing directory that std does not offer as such
//! (`utimensat`, `mknod`, `statvfs`, `renameat2`), and the translation of
//! backing metadata into FUSE attributes.

use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo, TimeOrNow};

use super::inodes::BackingKey;

pub fn key_of(m: &Metadata) -> BackingKey {
    BackingKey {
        dev: m.dev(),
        ino: m.ino(),
    }
}

pub fn kind_of(ft: std::fs::FileType) -> FileType {
    FileType::from_std(ft).unwrap_or(FileType::RegularFile)
}

/// The attributes the kernel sees: the backing file's, except the inode
/// number (ours) and, for a file with unsynced state, its length and mtime.
pub fn attr(ino: u64, m: &Metadata, overlay: Option<(u64, Option<SystemTime>)>) -> FileAttr {
    let (size, mtime) = match overlay {
        Some((len, mtime)) => (
            len,
            mtime.unwrap_or_else(|| time(m.mtime(), m.mtime_nsec())),
        ),
        None => (m.size(), time(m.mtime(), m.mtime_nsec())),
    };
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: m.blocks().max(size.div_ceil(512)),
        atime: time(m.atime(), m.atime_nsec()),
        mtime,
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: time(m.ctime(), m.ctime_nsec()),
        kind: kind_of(m.file_type()),
        perm: (m.mode() & 0o7777) as u16,
        nlink: u32::try_from(m.nlink()).unwrap_or(u32::MAX),
        uid: m.uid(),
        gid: m.gid(),
        rdev: u32::try_from(m.rdev()).unwrap_or(0),
        blksize: u32::try_from(m.blksize()).unwrap_or(4096),
        flags: 0,
    }
}

fn time(secs: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs as u64, nsec))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::new(0, nsec)))
    };
    t.unwrap_or(UNIX_EPOCH)
}

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    let (tv_sec, tv_nsec) = match t {
        None => (0, libc::UTIME_OMIT),
        Some(TimeOrNow::Now) => (0, libc::UTIME_NOW),
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                i64::from(d.subsec_nanos()),
            ),
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => (secs, 0),
                    n => (secs - 1, 1_000_000_000 - i64::from(n)),
                }
            }
        },
    };
    libc::timespec { tv_sec, tv_nsec }
}

/// `utimensat`; `follow` for `/proc/self/fd/N` paths of open files.
pub fn set_times(
    path: &Path,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
    follow: bool,
) -> io::Result<()> {
    if atime.is_none() && mtime.is_none() {
        return Ok(());
    }
    let p = cstr(path)?;
    let times = [timespec(atime), timespec(mtime)];
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: valid NUL-terminated path and a two-element timespec array.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), flags) })
}

pub fn mknod(path: &Path, mode: u32, rdev: u32) -> io::Result<()> {
    let p = cstr(path)?;
    // SAFETY: valid NUL-terminated path.
    check(unsafe { libc::mknod(p.as_ptr(), mode as libc::mode_t, libc::dev_t::from(rdev)) })
}

pub struct FsStats {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    let p = cstr(path)?;
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    check(unsafe { libc::statvfs(p.as_ptr(), &mut s) })?;
    Ok(FsStats {
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        bsize: u32::try_from(s.f_bsize).unwrap_or(4096),
        namelen: u32::try_from(s.f_namemax).unwrap_or(255),
        frsize: u32::try_from(s.f_frsize).unwrap_or(4096),
    })
}

/// `rename`, or `renameat2(RENAME_NOREPLACE)`.
pub fn rename(from: &Path, to: &Path, noreplace: bool) -> io::Result<()> {
    if !noreplace {
        return std::fs::rename(from, to);
    }
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid NUL-terminated paths.
    check(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_and_out_of_range_do_not_panic() {
        assert_eq!(time(0, 5), UNIX_EPOCH + Duration::new(0, 5));
        assert!(time(-10, 0) < UNIX_EPOCH);
        let _ = time(i64::MIN, i64::MAX);
        let _ = time(i64::MAX, -1);
        let before = UNIX_EPOCH - Duration::new(1, 250_000_000);
        let ts = timespec(Some(TimeOrNow::SpecificTime(before)));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (-2, 750_000_000));
    }
}
