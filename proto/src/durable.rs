//! Blocking filesystem helpers for making files and renames durable: temp
//! file, fsync, rename, fsync the directory. One implementation for every
//! process that keeps state on disk (the masters' Raft storage and work-dir
//! records, the agents' checkpoints); it lives here because this is the
//! crate all of them depend on.
//!
//! Call these from `spawn_blocking` when on the async runtime.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// fsyncs a directory, which persists creations, renames and deletions of
/// its entries (the file contents need their own `sync_all`).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// fsyncs an existing file by path. `fsync` works on a read-only
/// descriptor on Linux, so no write access is needed.
pub fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Creates `dir` (and parents) and fsyncs it and its parent, so the new
/// directory entry survives a crash.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    let existed = dir.is_dir();
    fs::create_dir_all(dir)?;
    if !existed {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    sync_dir(dir)
}

/// Writes `bytes` to `path` atomically and durably: a temp file beside it,
/// fsync, rename over `path`, fsync the directory. A crash leaves either the
/// old `path` (plus perhaps a stray `.tmp`) or the complete new one.
pub fn write_file_durable(path: &Path, tmp_path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp_path)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(tmp_path, path)?;
    sync_dir(dir)
}
