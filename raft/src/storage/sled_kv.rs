//! [`KvStore`] on sled 0.34.
//!
//! All spaces live in sled's default tree under a one-byte key prefix, so a
//! [`WriteBatch`] touching several spaces is one `sled::Batch`, which sled
//! applies atomically (also across a crash).
//!
//! Durability: sled's `flush` writes its buffers and then calls
//! `sync_file_range`, which neither persists file metadata (a grown file's
//! size) nor flushes the disk cache. [`SledKv::flush_durable`] therefore
//! follows it with a real `fsync` of the data file, of any blob files (sled
//! never syncs those) and of the directory (sled renames its own snapshot
//! files into place without syncing the directory).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::kv::{BatchOp, Direction, KeyRange, KvError, KvStore, Space, Visitor, WriteBatch};
use mesoraft_proto::durable;

/// sled's page cache size. Its default (1 GiB) is far more than a Raft log
/// of small entries needs on a master.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// Values above this size are written by sled to separate blob files
/// (segment size 512 KiB / 4). The log store keeps entries far smaller, but
/// a huge command must still be durable, so such writes are logged and the
/// blob files are synced on flush.
pub const SLED_BLOB_THRESHOLD: usize = 128 * 1024;

pub struct SledKv {
    db: sled::Db,
    path: PathBuf,
    /// sled's single data file (`<path>/db`), kept open for `fsync`.
    db_file: Arc<File>,
    /// Blob files already fsynced, with their length then. sled writes a
    /// blob file once (`create_new`) and never changes it, so each needs
    /// one fsync; syncing them all on every flush made every write pay for
    /// every large entry still in the log.
    synced_blobs: Arc<Mutex<HashMap<OsString, u64>>>,
    durability: super::Durability,
}

impl SledKv {
    /// Opens (or creates) the sled database in `path`.
    pub async fn open(path: &Path, durability: super::Durability) -> Result<Self, KvError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, durability))
            .await
            .map_err(|e| KvError::Io {
                path: "<sled open task>".into(),
                source: io::Error::other(e),
            })?
    }

    fn open_blocking(path: PathBuf, durability: super::Durability) -> Result<Self, KvError> {
        let io_err = |p: &Path| {
            let p = p.display().to_string();
            move |source| KvError::Io { path: p, source }
        };
        durable::create_dir_durable(&path).map_err(io_err(&path))?;
        remove_unfinished_snapshots(&path).map_err(io_err(&path))?;

        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|e| sled_err(&path, e))?;

        let db_path = path.join("db");
        let db_file = File::open(&db_path).map_err(io_err(&db_path))?;
        // sled writes `conf` once at creation and never syncs it or the
        // directory: do it now so a new store's layout survives a crash.
        let conf = path.join("conf");
        if conf.exists() {
            durable::sync_file(&conf).map_err(io_err(&conf))?;
        }
        db_file.sync_all().map_err(io_err(&db_path))?;
        durable::sync_dir(&path).map_err(io_err(&path))?;

        tracing::debug!(path = %path.display(), "opened sled");
        Ok(Self {
            db,
            path,
            db_file: Arc::new(db_file),
            synced_blobs: Arc::default(),
            durability,
        })
    }

    fn err(&self, e: sled::Error) -> KvError {
        sled_err(&self.path, e)
    }
}

/// Removes sled's page-cache snapshots that a crash left half written.
///
/// sled writes its snapshot to `snap.<lsn>.generating`, fsyncs it and
/// renames it to `snap.<lsn>`; the rename is its commit point, and older
/// snapshots are removed only after it. But sled 0.34.7 reads back the
/// greatest `snap.*` file name, `.generating` ones included, and refuses to
/// open on a bad checksum ("Read corrupted data"): a kill -9 while it
/// wrote one left a master that could never start again. Such a file is
/// never a complete snapshot, so removing it leaves sled the last complete
/// one and its log, as after any crash.
fn remove_unfinished_snapshots(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut removed = false;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(path = %entry.path().display(),
                "removing a sled snapshot left unfinished by a crash");
            std::fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        durable::sync_dir(dir)?;
    }
    Ok(())
}

fn sled_err(path: &Path, e: sled::Error) -> KvError {
    KvError::Engine {
        engine: "sled",
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn prefix(space: Space) -> u8 {
    match space {
        Space::Log => b'L',
        Space::Meta => b'M',
    }
}

fn full_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(prefix(space));
    k.extend_from_slice(key);
    k
}

/// Maps a range inside `space` onto the prefixed keys of the shared tree.
fn full_range(space: Space, (start, end): KeyRange) -> KeyRange {
    let p = prefix(space);
    let start = match start {
        Bound::Included(k) => Bound::Included(full_key(space, &k)),
        Bound::Excluded(k) => Bound::Excluded(full_key(space, &k)),
        Bound::Unbounded => Bound::Included(vec![p]),
    };
    let end = match end {
        Bound::Included(k) => Bound::Included(full_key(space, &k)),
        Bound::Excluded(k) => Bound::Excluded(full_key(space, &k)),
        // Every key of the space sorts before the next prefix byte.
        Bound::Unbounded => Bound::Excluded(vec![p + 1]),
    };
    (start, end)
}

/// fsyncs every blob file sled has written since the last call (a file
/// not in `synced`, or grown since), then their directory. `synced` then
/// holds exactly the files present.
fn sync_blobs(dir: &Path, synced: &Mutex<HashMap<OsString, u64>>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut synced = synced.lock().unwrap_or_else(PoisonError::into_inner);
    let mut present = HashMap::new();
    let mut any = false;
    for entry in entries {
        let entry = entry?;
        // sled garbage-collects blobs concurrently: a vanished file is fine.
        let len = match entry.metadata() {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let name = entry.file_name();
        if synced.get(&name) != Some(&len) {
            match durable::sync_file(&entry.path()) {
                Ok(()) => any = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        present.insert(name, len);
    }
    if any {
        durable::sync_dir(dir)?;
    }
    // Recorded only once the directory entries are durable too.
    *synced = present;
    Ok(())
}

impl KvStore for SledKv {
    fn path(&self) -> &Path {
        &self.path
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let v = self.db.get(full_key(space, key)).map_err(|e| self.err(e))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        space: Space,
        range: KeyRange,
        direction: Direction,
        visit: &mut Visitor<'_>,
    ) -> Result<(), KvError> {
        let iter = self.db.range(full_range(space, range));
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match direction
        {
            Direction::Forward => Box::new(iter),
            Direction::Reverse => Box::new(iter.rev()),
        };
        for item in iter {
            let (k, v) = item.map_err(|e| self.err(e))?;
            // Every key in the range carries the space's prefix byte.
            if visit(&k[1..], &v).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), KvError> {
        let mut b = sled::Batch::default();
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { space, key, value } => {
                    if value.len() > SLED_BLOB_THRESHOLD {
                        tracing::warn!(
                            len = value.len(),
                            "value above sled's blob threshold; it goes to a blob file"
                        );
                    }
                    b.insert(full_key(space, &key), value);
                }
                BatchOp::Delete { space, key } => b.remove(full_key(space, &key)),
            }
        }
        self.db.apply_batch(b).map_err(|e| self.err(e))
    }

    async fn flush_durable(&self) -> Result<(), KvError> {
        if self.durability.unsafe_skip_fsync {
            return Ok(());
        }
        let db = self.db.clone();
        let db_file = Arc::clone(&self.db_file);
        let synced_blobs = Arc::clone(&self.synced_blobs);
        let path = self.path.clone();
        // sled's flush and the fsyncs on one blocking thread: `flush_async`
        // would hand the flush to sled's own pool and back first, two more
        // thread wake-ups on every append. (Single-writer throughput did not
        // move measurably with it; the hop was simply not needed.)
        let res = tokio::task::spawn_blocking(move || -> Result<(), KvError> {
            let at = |p: &Path| {
                let p = p.display().to_string();
                move |source| KvError::Io { path: p, source }
            };
            db.flush().map_err(|e| sled_err(&path, e))?;
            db_file.sync_all().map_err(at(&path.join("db")))?;
            let blobs = path.join("blobs");
            sync_blobs(&blobs, &synced_blobs).map_err(at(&blobs))?;
            durable::sync_dir(&path).map_err(at(&path))?;
            Ok(())
        })
        .await;
        match res {
            Ok(r) => r,
            Err(e) => Err(KvError::Io {
                path: self.path.display().to_string(),
                source: io::Error::other(e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store killed while sled wrote its page-cache snapshot opens again
    /// with everything it had flushed.
    #[tokio::test]
    async fn a_half_written_sled_snapshot_does_not_stop_the_store_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv");
        {
            let db = sled::Config::new().path(&path).open().unwrap();
            db.insert(b"k", b"v".to_vec()).unwrap();
            db.flush().unwrap();
        }
        // What a kill -9 in the middle of sled's snapshot write leaves.
        std::fs::write(
            path.join("snap.00000000FFFFFFFF.generating"),
            b"half of a snapshot, no checksum",
        )
        .unwrap();
        assert!(
            sled::Config::new().path(&path).open().is_err(),
            "sled itself no longer trips over the unfinished snapshot"
        );

        let kv = SledKv::open(&path, crate::storage::Durability::default())
            .await
            .unwrap();
        assert_eq!(kv.db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn blob_bookkeeping_follows_the_files_present() {
        let dir = tempfile::tempdir().unwrap();
        let synced = Mutex::new(HashMap::new());
        sync_blobs(&dir.path().join("missing"), &synced).unwrap();
        assert!(synced.lock().unwrap().is_empty());

        std::fs::write(dir.path().join("1"), b"one").unwrap();
        std::fs::write(dir.path().join("2"), b"two").unwrap();
        sync_blobs(dir.path(), &synced).unwrap();
        let names = |m: &HashMap<OsString, u64>| {
            let mut v: Vec<_> = m.iter().map(|(k, l)| (k.clone(), *l)).collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&synced.lock().unwrap()),
            vec![("1".into(), 3), ("2".into(), 3)]
        );

        std::fs::remove_file(dir.path().join("1")).unwrap();
        std::fs::write(dir.path().join("2"), b"grown").unwrap();
        std::fs::write(dir.path().join("3"), b"three").unwrap();
        sync_blobs(dir.path(), &synced).unwrap();
        assert_eq!(
            names(&synced.lock().unwrap()),
            vec![("2".into(), 5), ("3".into(), 5)]
        );
    }
}
