//! The lose-unsynced filesystem mounted for real: what survives a crash
//! and what does not, for plain files, the temp-file-and-rename recipe, and
//! a sled database written by a process that is then killed with SIGKILL.
//!
//! Every test is skipped, with the reason printed, where FUSE cannot be
//! mounted (no /dev/fuse, or neither root nor fusermount3).
//!
//! Throughput of a sled append+fsync loop on the mount and on the plain
//! disk (figures printed, not judged; a short run in every suite, longer
//! with `LAZYFS_BENCH_APPENDS=2000`):
//! `cargo test --release -p jepsen --test lazyfs -- bench_sled --nocapture`

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jepsen::lazyfs::{LazyFs, LazyFsHandle};

/// A mount in a temp dir; unmounted before the dir is removed.
struct Mounted {
    fs: Option<LazyFsHandle>,
    dir: tempfile::TempDir,
}

impl Mounted {
    fn new(test: &str) -> Option<Self> {
        if let Err(why) = LazyFs::supported() {
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let fs = LazyFs::mount(&dir.path().join("backing"), &dir.path().join("mnt"))
            .expect("mount lazyfs");
        Some(Self { fs: Some(fs), dir })
    }

    fn fs(&self) -> &LazyFsHandle {
        self.fs.as_ref().expect("mounted")
    }

    /// A path on the mount.
    fn at(&self, rel: &str) -> PathBuf {
        self.fs().mountpoint().join(rel)
    }

    /// The same path in the backing directory (the durable content).
    fn durable(&self, rel: &str) -> PathBuf {
        self.fs().backing().join(rel)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(fs) = self.fs.take() {
            if let Err(e) = fs.unmount() {
                eprintln!("unmount of {}: {e:#}", self.dir.path().display());
            }
        }
    }
}

fn write_new(path: &Path, data: &[u8]) -> File {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
    f
}

fn sync_dir(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

#[test]
fn unsynced_write_is_lost_on_crash() {
    let Some(m) = Mounted::new("unsynced_write_is_lost_on_crash") else {
        return;
    };
    let p = m.at("f");
    write_new(&p, b"durable").sync_all().unwrap();
    {
        let mut f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all(b"DURABLE and a longer unsynced tail").unwrap();
    }
    assert_eq!(fs::read(&p).unwrap(), b"DURABLE and a longer unsynced tail");
    assert_eq!(fs::read(m.durable("f")).unwrap(), b"durable");

    let report = m.fs().crash();
    assert_eq!(report.files_dropped, 1);
    assert_eq!(fs::read(&p).unwrap(), b"durable");
    assert_eq!(fs::metadata(&p).unwrap().len(), 7);
}

#[test]
fn fsynced_write_survives_crash() {
    let Some(m) = Mounted::new("fsynced_write_survives_crash") else {
        return;
    };
    write_new(&m.at("all"), b"kept by fsync")
        .sync_all()
        .unwrap();
    write_new(&m.at("data"), b"kept by fdatasync")
        .sync_data()
        .unwrap();
    // fsync through a read-only descriptor, as raft's fsutil::sync_file does.
    write_new(&m.at("ro"), b"kept by fsync of another fd");
    File::open(m.at("ro")).unwrap().sync_all().unwrap();
    m.fs().crash();
    assert_eq!(fs::read(m.at("all")).unwrap(), b"kept by fsync");
    assert_eq!(fs::read(m.at("data")).unwrap(), b"kept by fdatasync");
    assert_eq!(
        fs::read(m.at("ro")).unwrap(),
        b"kept by fsync of another fd"
    );
}

/// The bug class this filesystem exists to catch: a snapshot written to a
/// temp file and renamed into place without fsync is empty after a crash.
#[test]
fn rename_without_fsync_leaves_an_empty_file_after_crash() {
    let Some(m) = Mounted::new("rename_without_fsync_leaves_an_empty_file_after_crash") else {
        return;
    };
    write_new(&m.at("snap.tmp"), b"the new snapshot");
    fs::rename(m.at("snap.tmp"), m.at("snap")).unwrap();
    sync_dir(&m.at(""));
    assert_eq!(fs::read(m.at("snap")).unwrap(), b"the new snapshot");
    m.fs().crash();
    assert!(!m.at("snap.tmp").exists(), "names pass through at once");
    assert_eq!(
        fs::read(m.at("snap")).unwrap(),
        b"",
        "the data never was synced"
    );
}

#[test]
fn durable_rename_recipe_survives_crash() {
    let Some(m) = Mounted::new("durable_rename_recipe_survives_crash") else {
        return;
    };
    fs::create_dir(m.at("snapshots")).unwrap();
    write_new(&m.at("snapshots/s"), b"old").sync_all().unwrap();
    write_new(&m.at("snapshots/s.tmp"), b"new snapshot")
        .sync_all()
        .unwrap();
    fs::rename(m.at("snapshots/s.tmp"), m.at("snapshots/s")).unwrap();
    sync_dir(&m.at("snapshots"));
    m.fs().crash();
    assert_eq!(fs::read(m.at("snapshots/s")).unwrap(), b"new snapshot");
    assert_eq!(fs::read_dir(m.at("snapshots")).unwrap().count(), 1);
}

#[test]
fn truncate_and_extend_are_unsynced_until_fsync() {
    let Some(m) = Mounted::new("truncate_and_extend_are_unsynced_until_fsync") else {
        return;
    };
    let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 + 1).collect();
    let p = m.at("t");
    write_new(&p, &original).sync_all().unwrap();

    // Shrink without fsync: lost.
    OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 100);
    m.fs().crash();
    assert_eq!(fs::read(&p).unwrap(), original);

    // Shrink, grow again: the gap reads as zeros, and fsync makes it so.
    let f = OpenOptions::new().read(true).write(true).open(&p).unwrap();
    f.set_len(100).unwrap();
    f.set_len(5000).unwrap();
    let mut want = original[..100].to_vec();
    want.resize(5000, 0);
    assert_eq!(fs::read(&p).unwrap(), want);
    f.sync_all().unwrap();
    drop(f);
    m.fs().crash();
    assert_eq!(fs::read(&p).unwrap(), want);
    assert_eq!(fs::read(m.durable("t")).unwrap(), want);

    // Extend by a write far past the end, without fsync: lost.
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all_at(b"far", 20_000).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 20_003);
    drop(f);
    m.fs().crash();
    assert_eq!(fs::metadata(&p).unwrap().len(), 5000);

    // truncate(path) with no open file, and O_TRUNC.
    fs::write(&p, b"replaced").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"replaced");
    m.fs().crash();
    assert_eq!(
        fs::read(&p).unwrap(),
        want,
        "O_TRUNC and the write were unsynced"
    );
}

#[test]
fn names_pass_through_and_unlink_drops_unsynced_data() {
    let Some(m) = Mounted::new("names_pass_through_and_unlink_drops_unsynced_data") else {
        return;
    };
    fs::create_dir_all(m.at("a/b")).unwrap();
    write_new(&m.at("a/b/f"), b"unsynced");
    assert!(m.durable("a/b/f").exists(), "create is immediate");
    fs::set_permissions(m.at("a/b/f"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        fs::metadata(m.durable("a/b/f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let mut names: Vec<String> = fs::read_dir(m.at("a/b"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["f"]);

    // A directory rename carries its files' unsynced data along.
    fs::rename(m.at("a"), m.at("c")).unwrap();
    assert_eq!(fs::read(m.at("c/b/f")).unwrap(), b"unsynced");
    let before = m.fs().stats();
    assert_eq!(before.unsynced_files, 1);

    fs::remove_file(m.at("c/b/f")).unwrap();
    assert_eq!(m.fs().stats().unsynced_files, 0, "unlink drops the data");
    fs::remove_dir(m.at("c/b")).unwrap();
    assert!(!m.durable("c/b").exists());

    // Recreating the name gives a new, empty file.
    write_new(&m.at("c/f"), b"");
    m.fs().crash();
    assert_eq!(fs::read(m.at("c/f")).unwrap(), b"");

    // statfs answers with the backing filesystem's figures.
    let c = std::ffi::CString::new(m.at("").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid path and out-parameter.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    assert!(s.f_blocks > 0);
}

#[test]
fn files_open_across_a_crash_are_ended() {
    let Some(m) = Mounted::new("files_open_across_a_crash_are_ended") else {
        return;
    };
    let mut f = write_new(&m.at("f"), b"x");
    f.sync_all().unwrap();
    m.fs().crash();
    let err = f.write_all(b"written by a dead process").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert_eq!(fs::read(m.at("f")).unwrap(), b"x");
}

#[test]
fn flock_is_exclusive_on_the_mount() {
    let Some(m) = Mounted::new("flock_is_exclusive_on_the_mount") else {
        return;
    };
    let a = write_new(&m.at("db"), b"");
    let b = File::open(m.at("db")).unwrap();
    // SAFETY: plain syscalls on open descriptors.
    unsafe {
        assert_eq!(libc::flock(a.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB), 0);
        assert_eq!(
            libc::flock(b.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB),
            -1
        );
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EWOULDBLOCK)
        );
        drop(a);
        assert_eq!(libc::flock(b.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB), 0);
    }
}

#[test]
fn stats_count_written_synced_and_dropped_bytes() {
    let Some(m) = Mounted::new("stats_count_written_synced_and_dropped_bytes") else {
        return;
    };
    write_new(&m.at("a"), &[1u8; 10_000]).sync_data().unwrap();
    write_new(&m.at("b"), &[2u8; 5000]);
    let s = m.fs().stats();
    assert_eq!(s.bytes_written, 15_000);
    assert_eq!(s.bytes_fsynced, 10_000);
    assert_eq!(s.fsyncs, 1);
    assert_eq!((s.unsynced_files, s.unsynced_bytes), (1, 5000));
    let r = m.fs().crash();
    assert_eq!((r.files_dropped, r.bytes_dropped), (1, 5000));
    let s = m.fs().stats();
    assert_eq!((s.crashes, s.bytes_dropped_last_crash), (1, 5000));
    assert_eq!(s.unsynced_bytes, 0);
}

#[test]
fn stale_mounts_under_a_prefix_are_detached() {
    let Some(m) = Mounted::new("stale_mounts_under_a_prefix_are_detached") else {
        return;
    };
    let mountpoint = m.fs().mountpoint().to_path_buf();
    let detached = LazyFs::unmount_stale(m.dir.path());
    assert_eq!(detached, vec![mountpoint.clone()]);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&format!(" {} ", mountpoint.display())));
    assert!(LazyFs::unmount_stale(m.dir.path()).is_empty());
    // The handle's own unmount then finds nothing left to do.
}

// ---- sled 0.34 on the mount, written by a process killed with SIGKILL ----

const SLED_CHILD_ENV: &str = "LAZYFS_SLED_CHILD_DIR";
const KEYS: u32 = 200;

fn sled_config(dir: &Path) -> sled::Config {
    // No background flusher: it would fsync on its own every 500 ms.
    sled::Config::new()
        .path(dir)
        .cache_capacity(8 << 20)
        .flush_every_ms(None)
}

/// sled's data file and directory fsynced, as the master's SledKv does
/// after `flush_async`.
fn sync_sled_files(dir: &Path) {
    File::open(dir.join("db")).unwrap().sync_all().unwrap();
    if dir.join("conf").exists() {
        File::open(dir.join("conf")).unwrap().sync_all().unwrap();
    }
    sync_dir(dir);
}

/// Run as a child process by the sled tests: writes keys `a*` with
/// flush + fsync, then keys `b*` with sled's flush alone
/// (`sync_file_range`, no fsync), says READY and waits to be killed.
/// In a plain test run (no directory given) it has nothing to do.
#[test]
fn sled_child() {
    let Some(dir) = std::env::var_os(SLED_CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let db = sled_config(&dir).open().unwrap();
    sync_sled_files(&dir);
    for i in 0..KEYS {
        db.insert(format!("a{i:05}"), vec![b'a'; 300]).unwrap();
    }
    db.flush().unwrap();
    sync_sled_files(&dir);
    for i in 0..KEYS {
        db.insert(format!("b{i:05}"), vec![b'b'; 300]).unwrap();
    }
    db.flush().unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    // Blocks until the parent kills this process (or closes its end).
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// Kills the child on drop, also when an assertion fails.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs [`sled_child`] on `dir` until READY, then kills it with SIGKILL.
fn run_sled_child_and_kill(dir: &Path) {
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sled_child", "--nocapture"])
            .env(SLED_CHILD_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == "READY" {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("sled child did not get ready within 60 s");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

/// Counts the `a*` and `b*` keys of the database, or says why it does not
/// open.
fn count_keys(dir: &Path) -> Result<(usize, usize), String> {
    let db = sled_config(dir).open().map_err(|e| e.to_string())?;
    let count = |p: &str| {
        db.scan_prefix(p)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.len())
    };
    Ok((count("a")?, count("b")?))
}

/// Control: with no crash, SIGKILL loses nothing sled flushed, fsynced or
/// not (the page cache keeps it), which is why this filesystem is needed.
#[test]
fn sled_flushed_data_survives_sigkill_without_crash() {
    let Some(m) = Mounted::new("sled_flushed_data_survives_sigkill_without_crash") else {
        return;
    };
    let dir = m.at("sled");
    run_sled_child_and_kill(&dir);
    assert_eq!(count_keys(&dir), Ok((KEYS as usize, KEYS as usize)));
}

/// With a crash after the SIGKILL, what was flushed and fsynced survives
/// and the database reopens; what sled only flushed (`sync_file_range`)
/// is gone.
#[test]
fn sled_loses_unsynced_data_on_crash_and_keeps_synced() {
    let Some(m) = Mounted::new("sled_loses_unsynced_data_on_crash_and_keeps_synced") else {
        return;
    };
    let dir = m.at("sled");
    run_sled_child_and_kill(&dir);
    let report = m.fs().crash();
    assert!(
        report.bytes_dropped > 0,
        "the b keys were unsynced: {report:?}"
    );
    assert_eq!(count_keys(&dir), Ok((KEYS as usize, 0)));
}

// ---- throughput (run by hand; see the module doc) ----

/// Durable appends per second: insert, flush, fsync of the data file.
fn sled_append_fsync_rate(dir: &Path, n: u32) -> f64 {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let db_file = File::open(dir.join("db")).unwrap();
    let value = vec![7u8; 512];
    let start = Instant::now();
    for i in 0..n {
        db.insert(i.to_be_bytes(), value.as_slice()).unwrap();
        db.flush().unwrap();
        db_file.sync_all().unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

#[test]
fn bench_sled_append_fsync() {
    let Some(m) = Mounted::new("bench_sled_append_fsync") else {
        return;
    };
    let n = std::env::var("LAZYFS_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let plain = tempfile::tempdir().unwrap();
    let direct = sled_append_fsync_rate(&plain.path().join("sled"), n);
    let mounted = sled_append_fsync_rate(&m.at("sled"), n);
    let s = m.fs().stats();
    println!("sled insert(512 B) + flush + fsync, {n} appends:");
    println!("  plain disk ({}): {direct:.0}/s", plain.path().display());
    println!(
        "  lazyfs mount:      {mounted:.0}/s ({:.2}x)",
        mounted / direct
    );
    println!("  lazyfs stats: {s:?}");
}
