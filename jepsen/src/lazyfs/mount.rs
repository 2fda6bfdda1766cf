//! Mount lifecycle: [`LazyFs::mount`] serves a backing directory on a
//! mount point from a background thread of the calling process, and the
//! returned [`LazyFsHandle`] crashes, reports and unmounts it (also on
//! drop, and from the harness's emergency cleanup).

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use fuser::{Config, INodeNo, MountOption, Notifier, Session, SessionUnmounter};

use super::core::LazyCore;
use super::counters::{CrashReport, LazyFsStats};
use super::fuse::LazyFuse;
use super::stale;
use crate::cleanup;

/// Request-serving threads per mount: one can sit in a backing `fsync`
/// while the others serve reads and writes.
const THREADS: usize = 3;

/// How long an unmount waits for the serving threads to finish before
/// aborting the connection, and again after.
const UNMOUNT_WAIT: Duration = Duration::from_secs(2);

/// Entry points of the lose-unsynced filesystem.
pub struct LazyFs;

impl LazyFs {
    /// Whether a mount can work here; the error says what is missing.
    pub fn supported() -> Result<(), String> {
        if let Err(e) = OpenOptions::new().read(true).write(true).open("/dev/fuse") {
            return Err(format!(
                "cannot open /dev/fuse ({e}): load the fuse module or run where FUSE is available"
            ));
        }
        // SAFETY: plain syscall.
        let root = unsafe { libc::geteuid() } == 0;
        if !root && find_in_path("fusermount3").is_none() {
            return Err(
                "not root and no fusermount3 on PATH: apt-get install -y fuse3".to_string(),
            );
        }
        Ok(())
    }

    /// Serves `backing` (created if missing) on `mountpoint` (created if
    /// missing) until the handle is unmounted or dropped. A stale mount left
    /// on `mountpoint` by a crashed run is detached first.
    pub fn mount(backing: &Path, mountpoint: &Path) -> anyhow::Result<LazyFsHandle> {
        LazyFs::supported().map_err(|e| anyhow::anyhow!(e))?;
        let mountpoint = prepare_mountpoint(mountpoint)?;
        std::fs::create_dir_all(backing)
            .with_context(|| format!("creating backing directory {}", backing.display()))?;
        let backing = backing
            .canonicalize()
            .with_context(|| format!("resolving backing directory {}", backing.display()))?;
        if backing.starts_with(&mountpoint) || mountpoint.starts_with(&backing) {
            bail!(
                "backing directory {} and mount point {} must not contain each other \
                 (the filesystem would call into itself)",
                backing.display(),
                mountpoint.display()
            );
        }
        let core = Arc::new(
            LazyCore::new(&backing)
                .with_context(|| format!("opening backing directory {}", backing.display()))?,
        );
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("lazyfs".into()),
            MountOption::Subtype("lazyfs".into()),
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        config.n_threads = Some(THREADS);
        let fs = LazyFuse {
            core: Arc::clone(&core),
        };
        let mut session = Session::new(fs, &mountpoint, &config)
            .with_context(|| format!("mounting FUSE on {}", mountpoint.display()))?;
        let notifier = session.notifier();
        let unmounter = session.unmount_callable();
        let (tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lazyfs".into())
            .spawn(move || {
                let _ = tx.send(session.run());
            })
            .context("starting the FUSE thread")?;
        let connection = std::fs::metadata(&mountpoint)
            .ok()
            .map(|m| stale::connection_id(m.dev()));
        let detach_path = mountpoint.clone();
        let teardown = cleanup::register_teardown(Arc::new(move || {
            let _ = stale::detach(&detach_path);
        }));
        tracing::info!(
            backing = %backing.display(),
            mount = %mountpoint.display(),
            "lazyfs mounted"
        );
        Ok(LazyFsHandle {
            core,
            backing,
            mountpoint,
            notifier,
            unmounter,
            done: Mutex::new(done),
            thread: Some(thread),
            connection,
            teardown,
            mounted: true,
        })
    }

    /// Lazily unmounts every FUSE mount at or below `prefix` (leftovers of
    /// a harness that died while serving them); returns those detached.
    pub fn unmount_stale(prefix: &Path) -> Vec<PathBuf> {
        stale::unmount_stale(prefix)
    }
}

/// A mounted lose-unsynced filesystem. Unmounts on drop.
pub struct LazyFsHandle {
    core: Arc<LazyCore>,
    backing: PathBuf,
    mountpoint: PathBuf,
    notifier: Notifier,
    unmounter: SessionUnmounter,
    /// The serving thread's result (in a Mutex so the handle is Sync and
    /// can be shared, e.g. in an `Arc`, between the cluster and a nemesis).
    done: Mutex<mpsc::Receiver<io::Result<()>>>,
    thread: Option<JoinHandle<()>>,
    connection: Option<u64>,
    teardown: u64,
    mounted: bool,
}

impl LazyFsHandle {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// A power loss: every file's unsynced data and length change is
    /// dropped, and every file open on the mount is ended (its later
    /// reads and writes fail with EIO). Kill the processes using the mount
    /// first: a process that lives on would see its files change under it.
    pub fn crash(&self) -> CrashReport {
        let (report, inodes) = self.core.crash();
        for ino in inodes {
            // Drop the kernel's cached pages and length of each file; ENOENT
            // (the kernel no longer holds the inode) is expected.
            let _ = self.notifier.inval_inode(INodeNo(ino), 0, 0);
        }
        tracing::info!(
            mount = %self.mountpoint.display(),
            bytes_dropped = report.bytes_dropped,
            files_dropped = report.files_dropped,
            "lazyfs crash"
        );
        report
    }

    /// Counters since the mount.
    pub fn stats(&self) -> LazyFsStats {
        self.core.stats()
    }

    /// Unmounts and stops the serving threads. A mount still in use is
    /// detached lazily, and its connection aborted if it stays busy.
    pub fn unmount(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        self.mounted = false;
        cleanup::unregister_teardown(self.teardown);
        if let Err(e) = self.unmounter.unmount() {
            tracing::debug!(mount = %self.mountpoint.display(), error = %e, "umount failed; detaching lazily");
            if let Err(e2) = stale::detach(&self.mountpoint) {
                tracing::debug!(mount = %self.mountpoint.display(), error = %e2, "lazy detach failed");
            }
        }
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let finished = match wait(&done) {
            Some(r) => Some(r),
            None => {
                let aborted = self.abort_connection();
                tracing::warn!(
                    mount = %self.mountpoint.display(),
                    abort = ?aborted,
                    "lazyfs still in use after unmount (a process or another mount \
                     namespace holds it); aborted its connection"
                );
                wait(&done)
            }
        };
        drop(done);
        match finished {
            Some(r) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                r.with_context(|| format!("serving {}", self.mountpoint.display()))
            }
            None => bail!(
                "lazyfs on {} did not stop: some process still uses it (its thread is left running)",
                self.mountpoint.display()
            ),
        }
    }

    fn abort_connection(&self) -> Result<(), String> {
        let id = self.connection.ok_or("connection id unknown")?;
        stale::abort_connection(id).map_err(|e| e.to_string())
    }
}

impl Drop for LazyFsHandle {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = format!("{e:#}"), "lazyfs unmount on drop");
        }
    }
}

/// The serving thread's result, or `None` if it is still running.
fn wait(done: &mpsc::Receiver<io::Result<()>>) -> Option<io::Result<()>> {
    match done.recv_timeout(UNMOUNT_WAIT) {
        Ok(r) => Some(r),
        Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(io::Error::other(
            "the FUSE thread ended without a result (it panicked)",
        ))),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
    }
}

/// Creates the mount point and resolves it; a dead FUSE mount left on it
/// (every access fails with ENOTCONN) is detached first.
fn prepare_mountpoint(mountpoint: &Path) -> anyhow::Result<PathBuf> {
    let attempt = || -> io::Result<PathBuf> {
        std::fs::create_dir_all(mountpoint)?;
        let m = std::fs::metadata(mountpoint)?;
        if !m.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        mountpoint.canonicalize()
    };
    match attempt() {
        Ok(p) => Ok(p),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            tracing::warn!(mount = %mountpoint.display(), "detaching a dead FUSE mount left by an earlier run");
            stale::detach(mountpoint)
                .with_context(|| format!("detaching dead mount {}", mountpoint.display()))?;
            attempt().with_context(|| format!("preparing mount point {}", mountpoint.display()))
        }
        Err(e) => Err(e).with_context(|| format!("preparing mount point {}", mountpoint.display())),
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::LazyFsHandle>();
    }
}
