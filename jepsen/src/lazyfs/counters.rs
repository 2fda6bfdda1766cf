//! Diagnostic counters of a mounted filesystem: how much the processes
//! wrote, how much of it an `fsync` made durable, and what crashes dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    bytes_written: AtomicU64,
    bytes_fsynced: AtomicU64,
    fsyncs: AtomicU64,
    crashes: AtomicU64,
    bytes_dropped_total: AtomicU64,
    bytes_dropped_last_crash: AtomicU64,
    files_dropped_last_crash: AtomicU64,
}

impl Counters {
    pub(crate) fn wrote(&self, n: u64) {
        self.bytes_written.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn fsynced(&self, bytes: u64) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.bytes_fsynced.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn crashed(&self, report: &CrashReport) {
        self.crashes.fetch_add(1, Ordering::Relaxed);
        self.bytes_dropped_total
            .fetch_add(report.bytes_dropped, Ordering::Relaxed);
        self.bytes_dropped_last_crash
            .store(report.bytes_dropped, Ordering::Relaxed);
        self.files_dropped_last_crash
            .store(report.files_dropped, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, unsynced: (u64, u64)) -> LazyFsStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LazyFsStats {
            bytes_written: get(&self.bytes_written),
            bytes_fsynced: get(&self.bytes_fsynced),
            fsyncs: get(&self.fsyncs),
            crashes: get(&self.crashes),
            bytes_dropped_total: get(&self.bytes_dropped_total),
            bytes_dropped_last_crash: get(&self.bytes_dropped_last_crash),
            files_dropped_last_crash: get(&self.files_dropped_last_crash),
            unsynced_bytes: unsynced.0,
            unsynced_files: unsynced.1,
        }
    }
}

/// Counters since the mount, for diagnostics (e.g. in a nemesis record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LazyFsStats {
    /// Bytes passed to `write` by the processes.
    pub bytes_written: u64,
    /// Bytes written to the backing files by `fsync`/`fdatasync`.
    pub bytes_fsynced: u64,
    /// `fsync`/`fdatasync` calls on files.
    pub fsyncs: u64,
    pub crashes: u64,
    pub bytes_dropped_total: u64,
    pub bytes_dropped_last_crash: u64,
    pub files_dropped_last_crash: u64,
    /// What a crash now would drop: dirty bytes, and files with unsynced
    /// data or length.
    pub unsynced_bytes: u64,
    pub unsynced_files: u64,
}

/// What one [`crate::lazyfs::LazyFsHandle::crash`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CrashReport {
    /// Unsynced bytes in dirty pages.
    pub bytes_dropped: u64,
    /// Files whose unsynced data or length changed was dropped.
    pub files_dropped: u64,
}
