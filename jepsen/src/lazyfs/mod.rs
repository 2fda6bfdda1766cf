//! A FUSE filesystem that loses unsynced writes, for the `lose-unsynced`
//! fault (after Jepsen's LazyFS).
//!
//! `kill -9` keeps the kernel's page cache, so a process crash cannot tell
//! a store that fsyncs from one that does not. Mounted over a backing
//! directory, this filesystem keeps each file's written data (4 KiB pages)
//! and length changes in memory until that file is `fsync`ed or
//! `fdatasync`ed; [`LazyFsHandle::crash`] then drops everything unsynced,
//! as a power loss drops the page cache, leaving each file with its last
//! synced content and length.
//!
//! Names are never lost: create, mkdir, unlink, rmdir, rename, chmod and
//! utimens go to the backing directory at once (so a directory `fsync` is
//! not needed for them to survive, unlike on ext4). A rename carries the
//! file's unsynced data along; so writing a temp file, renaming it without
//! `fsync`, and crashing leaves the new name with the old (often empty)
//! content, the bug class this exists to catch. `sync_file_range` and
//! `close` make nothing durable; only `fsync`/`fdatasync` do (also through
//! a read-only descriptor). `flock`/`fcntl` locks are kept by the kernel.
//! Not modelled: partial (torn) loss of unsynced pages, writeback of
//! unsynced data over time, hard links (EPERM), extended attributes, and
//! mmap writes are seen only when the kernel writes them back (`msync`).
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use jepsen::lazyfs::LazyFs;
//! let fs = LazyFs::mount("/tmp/n1.backing".as_ref(), "/tmp/n1.data".as_ref())?;
//! // ... run a process on /tmp/n1.data, kill -9 it ...
//! let dropped = fs.crash();
//! eprintln!("lost {} unsynced bytes; {:?}", dropped.bytes_dropped, fs.stats());
//! fs.unmount()?;
//! # Ok(()) }
//! ```

mod backing;
mod core;
#[cfg(test)]
mod core_tests;
mod counters;
mod dirops;
mod fuse;
mod inodes;
mod model;
mod mount;
mod serve;
mod stale;

pub use counters::{CrashReport, LazyFsStats};
pub use mount::{LazyFs, LazyFsHandle};
pub use serve::{serve, ServeArgs};
