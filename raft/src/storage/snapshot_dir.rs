//! The snapshot directory: at most one current snapshot file, replaced
//! atomically and durably.
//!
//! Files are named `snapshot-<seq>-<term>-<index>.snap`. `seq` grows with
//! every file written, and a file only ever replaces one with an older or
//! equal `last_log_id`, so the highest `seq` on disk is the current
//! snapshot. (Two can coexist briefly: after a crash between the rename of
//! the new file and the removal of the old one.)
//!
//! Every method here blocks on file I/O: call them from `spawn_blocking`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use openraft::{ErrorSubject, ErrorVerb};

use super::error::{corrupt_err, storage_err};
use super::purge_guard::DurableSnapshots;
use super::snapshot_file::{self, SnapshotBody};
use crate::{SnapshotMeta, StorageError};
use mesoraft_proto::durable;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";

/// Whether a new snapshot may replace a current one with a greater
/// `last_log_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// A locally built snapshot: keep the current one if it is newer (an
    /// installed snapshot can overtake a slow build).
    IfNotOlder,
    /// A snapshot installed from the leader: openraft requires it to become
    /// the current one.
    Always,
}

#[derive(Clone, Debug)]
struct Current {
    meta: SnapshotMeta,
    path: PathBuf,
}

struct Inner {
    current: Option<Current>,
    next_seq: u64,
}

pub struct SnapshotDir {
    dir: PathBuf,
    /// Held across the file operations, so concurrent writers (a build task
    /// and an install) and readers see one consistent current file.
    inner: Mutex<Inner>,
    /// What is on disk, for the log store's purge guard; updated only
    /// after the file and its directory entry are fsynced.
    durable: DurableSnapshots,
}

fn file_name(seq: u64, meta: &SnapshotMeta) -> String {
    match &meta.last_log_id {
        Some(id) => format!(
            "{PREFIX}{seq:010}-{}-{}{SUFFIX}",
            id.leader_id.term, id.index
        ),
        None => format!("{PREFIX}{seq:010}-none{SUFFIX}"),
    }
}

/// The `seq` of a snapshot file name, None for other names.
fn parse_seq(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn io_err(verb: ErrorVerb, what: impl std::fmt::Display, e: io::Error) -> StorageError {
    storage_err(ErrorSubject::Snapshot(None), verb, what, e)
}

impl SnapshotDir {
    /// Opens `dir` (creating it), removes leftovers of interrupted writes,
    /// and loads the current snapshot if there is one.
    ///
    /// A damaged current snapshot is an error, never skipped: the log before
    /// it may have been purged, so an older state would leave a gap.
    pub fn open(dir: &Path) -> Result<(Self, Option<SnapshotBody>), StorageError> {
        durable::create_dir_durable(dir).map_err(|e| {
            io_err(
                ErrorVerb::Write,
                format_args!("creating {}", dir.display()),
                e,
            )
        })?;

        let mut snapshots = Vec::new();
        let listing = fs::read_dir(dir).map_err(|e| {
            io_err(
                ErrorVerb::Read,
                format_args!("listing {}", dir.display()),
                e,
            )
        })?;
        for entry in listing {
            let entry = entry.map_err(|e| {
                io_err(
                    ErrorVerb::Read,
                    format_args!("listing {}", dir.display()),
                    e,
                )
            })?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(TMP_SUFFIX) {
                tracing::info!(path = %path.display(), "removing unfinished snapshot file");
                fs::remove_file(&path).map_err(|e| {
                    io_err(
                        ErrorVerb::Delete,
                        format_args!("removing {}", path.display()),
                        e,
                    )
                })?;
            } else if let Some(seq) = parse_seq(&name) {
                snapshots.push((seq, path));
            } else {
                tracing::warn!(path = %path.display(), "ignoring unexpected file in the snapshot directory");
            }
        }
        snapshots.sort();

        let next_seq = snapshots.last().map_or(0, |(seq, _)| seq + 1);
        let Some((_, latest)) = snapshots.pop() else {
            let inner = Inner {
                current: None,
                next_seq,
            };
            return Ok((Self::new(dir, inner), None));
        };

        let bytes = fs::read(&latest).map_err(|e| {
            io_err(
                ErrorVerb::Read,
                format_args!("reading {}", latest.display()),
                e,
            )
        })?;
        let body = snapshot_file::decode(&bytes).map_err(|e| {
            corrupt_err(
                ErrorSubject::Snapshot(None),
                format_args!("snapshot file {} is unusable", latest.display()),
                e,
            )
        })?;
        tracing::info!(
            path = %latest.display(),
            last_log_id = ?body.meta.last_log_id,
            bytes = bytes.len(),
            "loaded snapshot"
        );

        // Older files are leftovers of a crash during replacement; the
        // current one is verified, so they are no longer needed.
        for (_, old) in snapshots {
            tracing::info!(path = %old.display(), "removing superseded snapshot file");
            fs::remove_file(&old).map_err(|e| {
                io_err(
                    ErrorVerb::Delete,
                    format_args!("removing {}", old.display()),
                    e,
                )
            })?;
        }

        let inner = Inner {
            current: Some(Current {
                meta: body.meta.clone(),
                path: latest,
            }),
            next_seq,
        };
        Ok((Self::new(dir, inner), Some(body)))
    }

    fn new(dir: &Path, inner: Inner) -> Self {
        let covered = inner.current.as_ref().and_then(|c| c.meta.last_log_id);
        Self {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
            durable: DurableSnapshots::new(covered),
        }
    }

    /// What this directory holds durably (see `purge_guard`).
    pub fn durable(&self) -> &DurableSnapshots {
        &self.durable
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The guarded data is only replaced after the file work succeeded,
        // so it is consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Metadata of the current snapshot.
    pub fn current_meta(&self) -> Option<SnapshotMeta> {
        self.lock().current.as_ref().map(|c| c.meta.clone())
    }

    /// Path of the current snapshot file.
    pub fn current_path(&self) -> Option<PathBuf> {
        self.lock().current.as_ref().map(|c| c.path.clone())
    }

    /// Makes `bytes` (a complete snapshot file for `meta`) the current
    /// snapshot: temp file, fsync, rename, fsync directory; only then is the
    /// previous file deleted. Returns false if `replace` kept a newer one.
    pub fn persist(
        &self,
        meta: &SnapshotMeta,
        bytes: &[u8],
        replace: Replace,
    ) -> Result<bool, StorageError> {
        let mut inner = self.lock();
        if replace == Replace::IfNotOlder {
            if let Some(cur) = &inner.current {
                if cur.meta.last_log_id > meta.last_log_id {
                    tracing::info!(
                        built = ?meta.last_log_id,
                        current = ?cur.meta.last_log_id,
                        "not storing a snapshot older than the current one"
                    );
                    return Ok(false);
                }
            }
        }

        let seq = inner.next_seq;
        inner.next_seq += 1;
        let path = self.dir.join(file_name(seq, meta));
        let mut tmp = path.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);

        if let Err(e) = durable::write_file_durable(&path, &tmp, bytes) {
            let _ = fs::remove_file(&tmp);
            return Err(storage_err(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
                format_args!("writing snapshot file {}", path.display()),
                e,
            ));
        }

        let old = inner.current.replace(Current {
            meta: meta.clone(),
            path: path.clone(),
        });
        // write_file_durable fsynced the file and the directory.
        self.durable.stored(meta.last_log_id);
        tracing::info!(path = %path.display(), last_log_id = ?meta.last_log_id, bytes = bytes.len(), "snapshot stored");

        if let Some(old) = old {
            // Failing to delete only wastes space: on open the newest file
            // wins and older ones are removed then.
            if let Err(e) = fs::remove_file(&old.path) {
                tracing::warn!(path = %old.path.display(), error = %e, "cannot remove superseded snapshot file");
            }
        }
        Ok(true)
    }

    /// The current snapshot's metadata and verified file bytes.
    pub fn read_current(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
        let inner = self.lock();
        let Some(cur) = &inner.current else {
            return Ok(None);
        };
        let subject = || ErrorSubject::Snapshot(Some(cur.meta.signature()));
        let bytes = fs::read(&cur.path).map_err(|e| {
            storage_err(
                subject(),
                ErrorVerb::Read,
                format_args!("reading snapshot file {}", cur.path.display()),
                e,
            )
        })?;
        snapshot_file::verify(&bytes).map_err(|e| {
            corrupt_err(
                subject(),
                format_args!("snapshot file {} is unusable", cur.path.display()),
                e,
            )
        })?;
        Ok(Some((cur.meta.clone(), bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let meta = SnapshotMeta::default();
        assert_eq!(parse_seq(&file_name(42, &meta)), Some(42));
        assert_eq!(parse_seq("snapshot-0000000007-3-120.snap"), Some(7));
        assert_eq!(parse_seq("snapshot-0000000007-3-120.snap.tmp"), None);
        assert_eq!(parse_seq("notes.txt"), None);
    }
}
