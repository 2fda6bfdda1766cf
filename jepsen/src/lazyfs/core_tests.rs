//! [`LazyCore`] driven directly, without a mount: the cases the kernel
//! rarely produces on demand (a file deleted while open, a rename over a
//! file with unsynced data, handles from before a crash, bad names).

use std::ffi::OsStr;

use super::core::{LazyCore, SetAttr};
use super::inodes::ROOT_INO;

fn core() -> (tempfile::TempDir, LazyCore) {
    let dir = tempfile::tempdir().unwrap();
    let core = LazyCore::new(dir.path()).unwrap();
    (dir, core)
}

fn create(core: &LazyCore, name: &str, data: &[u8]) -> (u64, u64) {
    let (e, fh) = core
        .create(ROOT_INO, OsStr::new(name), 0o644, libc::O_RDWR)
        .unwrap();
    core.write(fh, 0, data).unwrap();
    (e.ino, fh)
}

#[test]
fn a_file_deleted_while_open_keeps_its_data_until_released() {
    let (dir, core) = core();
    let (ino, fh) = create(&core, "f", b"unsynced");
    core.unlink(ROOT_INO, OsStr::new("f")).unwrap();
    assert!(!dir.path().join("f").exists());
    assert_eq!(core.read(fh, 0, 100).unwrap(), b"unsynced");
    assert_eq!(core.getattr(ino).unwrap().size, 8);
    assert_eq!(core.stats().unsynced_files, 1);
    core.release(fh);
    assert_eq!(core.stats().unsynced_files, 0);
}

#[test]
fn rename_over_a_file_drops_the_replaced_files_data_and_moves_the_sources() {
    let (dir, core) = core();
    let (_, old_fh) = create(&core, "target", b"old unsynced");
    core.release(old_fh);
    let (src, fh) = create(&core, "tmp", b"new unsynced");
    core.rename(
        ROOT_INO,
        OsStr::new("tmp"),
        ROOT_INO,
        OsStr::new("target"),
        false,
    )
    .unwrap();
    assert_eq!(
        core.stats().unsynced_files,
        1,
        "only the source's data is left"
    );
    assert_eq!(
        core.lookup(ROOT_INO, OsStr::new("target")).unwrap().ino,
        src
    );
    core.fsync(fh, false).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("target")).unwrap(),
        b"new unsynced"
    );
    let (_, other) = create(&core, "other", b"");
    core.release(other);
    let err = core
        .rename(
            ROOT_INO,
            OsStr::new("target"),
            ROOT_INO,
            OsStr::new("other"),
            true,
        )
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    let err = core
        .rename(ROOT_INO, OsStr::new("x"), ROOT_INO, OsStr::new("y"), false)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn handles_from_before_a_crash_fail_and_new_ones_see_the_durable_state() {
    let (_dir, core) = core();
    let (ino, fh) = create(&core, "f", b"durable");
    core.fsync(fh, true).unwrap();
    core.write(fh, 7, b" lost").unwrap();
    let (report, touched) = core.crash();
    assert_eq!((report.files_dropped, report.bytes_dropped), (1, 12));
    assert_eq!(touched, vec![ino]);
    for res in [
        core.write(fh, 0, b"x").map(|_| ()),
        core.read(fh, 0, 1).map(|_| ()),
        core.fsync(fh, false),
    ] {
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EIO));
    }
    core.release(fh);
    let fh = core.open(ino, libc::O_RDONLY).unwrap();
    assert_eq!(core.read(fh, 0, 100).unwrap(), b"durable");
}

#[test]
fn truncate_by_setattr_and_o_trunc_are_unsynced() {
    let (dir, core) = core();
    let (ino, fh) = create(&core, "f", b"0123456789");
    core.fsync(fh, false).unwrap();
    let size = |n| SetAttr {
        size: Some(n),
        ..SetAttr::default()
    };
    assert_eq!(core.setattr(ino, &size(4)).unwrap().size, 4);
    assert_eq!(core.read(fh, 0, 100).unwrap(), b"0123");
    core.release(fh);
    let fh = core.open(ino, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(core.getattr(ino).unwrap().size, 0);
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"0123456789");
    core.release(fh);
    let dir_ino = core.mkdir(ROOT_INO, OsStr::new("d"), 0o755).unwrap().ino;
    let err = core.setattr(dir_ino, &size(0)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EISDIR));
}

#[test]
fn bad_names_and_unknown_handles_are_errors_not_panics() {
    let (_dir, core) = core();
    for name in ["", ".", "..", "a/b"] {
        let err = core
            .create(ROOT_INO, OsStr::new(name), 0o644, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{name:?}");
        let err = core.lookup(ROOT_INO, OsStr::new(name)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{name:?}");
    }
    assert_eq!(
        core.getattr(999).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    assert_eq!(
        core.read(999, 0, 1).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    assert_eq!(
        core.write(999, 0, b"x").unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    assert_eq!(
        core.readdir(999, 0).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    let (_, fh) = create(&core, "f", b"");
    let err = core.write(fh, u64::MAX - 1, b"xy").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
    assert_eq!(core.read(fh, u64::MAX, u32::MAX).unwrap(), b"");
    assert_eq!(
        core.fallocate(fh, 0, 10, 0x08).unwrap_err().raw_os_error(),
        Some(libc::EOPNOTSUPP)
    );
    core.release(fh);
    core.release(fh);
    core.forget(ROOT_INO, u64::MAX);
    assert!(core.getattr(ROOT_INO).is_ok());
}

#[test]
fn readdir_lists_once_with_stable_offsets() {
    let (_dir, core) = core();
    for n in ["a", "b", "c"] {
        let (_, fh) = create(&core, n, b"");
        core.release(fh);
    }
    let fh = core.opendir(ROOT_INO).unwrap();
    let all = core.readdir(fh, 0).unwrap();
    assert_eq!(all.len(), 5);
    let rest = core.readdir(fh, 3).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].0, 4);
    assert!(core.readdir(fh, u64::MAX).unwrap().is_empty());
    core.releasedir(fh);
}
