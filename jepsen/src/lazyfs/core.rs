//! The filesystem's semantics over a backing directory, independent of the
//! FUSE protocol: file data goes to per-file [`FileOverlay`]s until `fsync`,
//! everything else passes through to the backing directory at once, and
//! [`LazyCore::crash`] drops every overlay.
//!
//! Every call returns `io::Result`; the FUSE adapter turns errors into
//! errno replies. One lock guards the tables; the backing `fsync` itself,
//! the slow part, runs outside it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use fuser::{FileAttr, FileType, TimeOrNow};

use super::backing;
use super::counters::{Counters, CrashReport, LazyFsStats};
use super::inodes::InodeTable;
use super::model::{FileOverlay, SyncPlan, PAGE_SIZE};

/// Unsynced data kept in memory across all files before writes fail with
/// `ENOSPC` (a real kernel would write back; this model never does).
pub const MAX_DIRTY_BYTES: u64 = 1 << 30;

/// Largest read served at once (the kernel asks for far less).
const MAX_READ: u32 = 16 << 20;

/// A created or looked-up entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ino: u64,
    pub attr: FileAttr,
}

#[derive(Debug, Clone)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: OsString,
}

/// Attribute changes of a `setattr`.
#[derive(Debug, Default, Clone)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
}

pub(super) enum Handle {
    File {
        ino: u64,
        file: Arc<File>,
        /// Crash count when opened: a crash ends every open file, so a
        /// handle from before it must not write into the new life.
        epoch: u64,
    },
    Dir {
        ino: u64,
        entries: Vec<DirEntry>,
    },
}

pub(super) struct State {
    pub(super) inodes: InodeTable,
    pub(super) overlays: HashMap<u64, FileOverlay>,
    pub(super) handles: HashMap<u64, Handle>,
    next_fh: u64,
    dirty_pages: u64,
    epoch: u64,
}

pub struct LazyCore {
    pub(super) backing: PathBuf,
    state: Mutex<State>,
    counters: Counters,
}

pub(super) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl LazyCore {
    /// Serves `backing` (an existing directory).
    pub fn new(backing: &Path) -> io::Result<Self> {
        let backing = backing.canonicalize()?;
        let m = std::fs::metadata(&backing)?;
        if !m.is_dir() {
            return Err(errno(libc::ENOTDIR));
        }
        Ok(Self {
            state: Mutex::new(State {
                inodes: InodeTable::new(backing::key_of(&m)),
                overlays: HashMap::new(),
                handles: HashMap::new(),
                next_fh: 1,
                dirty_pages: 0,
                epoch: 0,
            }),
            backing,
            counters: Counters::default(),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn abs(&self, rel: &Path) -> PathBuf {
        self.backing.join(rel)
    }

    /// Backing path of a live inode.
    pub(super) fn live_path(&self, st: &State, ino: u64) -> io::Result<PathBuf> {
        st.inodes
            .path(ino)
            .map(|p| self.abs(p))
            .ok_or_else(|| errno(libc::ENOENT))
    }

    /// Relative path of `name` in directory `parent`.
    pub(super) fn child(st: &State, parent: u64, name: &OsStr) -> io::Result<PathBuf> {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name);
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            return Err(errno(libc::EINVAL));
        }
        let dir = st.inodes.path(parent).ok_or_else(|| errno(libc::ENOENT))?;
        Ok(dir.join(name))
    }

    /// The backing metadata of an inode: by path, or through an open
    /// handle once the file is deleted.
    pub(super) fn stat(&self, st: &State, ino: u64) -> io::Result<Metadata> {
        if let Some(p) = st.inodes.path(ino) {
            return std::fs::symlink_metadata(self.abs(p));
        }
        match open_file(st, ino) {
            Some(f) => f.metadata(),
            None => Err(errno(libc::ENOENT)),
        }
    }

    pub(super) fn attr_of(st: &State, ino: u64, m: &Metadata) -> FileAttr {
        let overlay = st.overlays.get(&ino).map(|o| (o.len(), o.mtime()));
        backing::attr(ino, m, overlay)
    }

    /// A looked-up or created entry the kernel now holds a reference to.
    pub(super) fn entry(&self, st: &mut State, rel: PathBuf) -> io::Result<Entry> {
        let m = std::fs::symlink_metadata(self.abs(&rel))?;
        let ino = st.inodes.resolve(rel, backing::key_of(&m));
        st.inodes.add_lookup(ino);
        Ok(Entry {
            ino,
            attr: Self::attr_of(st, ino, &m),
        })
    }

    pub(super) fn new_handle(st: &mut State, h: Handle) -> u64 {
        let fh = st.next_fh;
        st.next_fh += 1;
        st.handles.insert(fh, h);
        fh
    }

    pub fn getattr(&self, ino: u64) -> io::Result<FileAttr> {
        let st = self.lock();
        let m = self.stat(&st, ino)?;
        Ok(Self::attr_of(&st, ino, &m))
    }

    pub fn forget(&self, ino: u64, count: u64) {
        let mut st = self.lock();
        if st.inodes.forget(ino, count) {
            prune(&mut st, ino);
        }
    }

    pub fn setattr(&self, ino: u64, change: &SetAttr) -> io::Result<FileAttr> {
        let mut st = self.lock();
        // A deleted file is reached through its open descriptor.
        let (target, follow) = match st.inodes.path(ino) {
            Some(p) => (self.abs(p), false),
            None => match open_file(&st, ino) {
                Some(f) => (
                    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd())),
                    true,
                ),
                None => return Err(errno(libc::ENOENT)),
            },
        };
        if let Some(mode) = change.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if change.uid.is_some() || change.gid.is_some() {
            if follow {
                std::os::unix::fs::chown(&target, change.uid, change.gid)?;
            } else {
                std::os::unix::fs::lchown(&target, change.uid, change.gid)?;
            }
        }
        if let Some(size) = change.size {
            let m = self.stat(&st, ino)?;
            if m.is_dir() {
                return Err(errno(libc::EISDIR));
            }
            if !m.is_file() {
                return Err(errno(libc::EINVAL));
            }
            let now = SystemTime::now();
            let st = &mut *st;
            let overlay = st
                .overlays
                .entry(ino)
                .or_insert_with(|| FileOverlay::new(m.len()));
            let before = overlay.dirty_pages();
            let res = overlay.set_len(size, now);
            let after = overlay.dirty_pages();
            st.dirty_pages = (st.dirty_pages + after as u64).saturating_sub(before as u64);
            res?;
        }
        if change.atime.is_some() || change.mtime.is_some() {
            backing::set_times(&target, change.atime, change.mtime, follow)?;
            if change.mtime.is_some() {
                if let Some(o) = st.overlays.get_mut(&ino) {
                    o.clear_mtime();
                }
            }
        }
        let m = self.stat(&st, ino)?;
        Ok(Self::attr_of(&st, ino, &m))
    }

    /// Opens a regular file. The backing file is always opened read-write
    /// (the model reads durable bytes for partial pages, and an `fsync`
    /// through a read-only descriptor must still write), never with
    /// `O_TRUNC`/`O_APPEND`/`O_DIRECT`: those act on the overlay or on
    /// the kernel's offsets.
    pub fn open(&self, ino: u64, flags: i32) -> io::Result<u64> {
        let mut st = self.lock();
        let path = self.live_path(&st, ino)?;
        let file = open_backing(&path, false, false, 0)?;
        self.register_open(&mut st, ino, file, flags)
    }

    pub fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> io::Result<(Entry, u64)> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        let exclusive = flags & libc::O_EXCL != 0;
        let file = open_backing(&self.abs(&rel), true, exclusive, mode & 0o7777)?;
        let e = self.entry(&mut st, rel)?;
        let fh = self.register_open(&mut st, e.ino, file, flags)?;
        let m = file_meta(&st, fh)?;
        let attr = Self::attr_of(&st, e.ino, &m);
        Ok((Entry { ino: e.ino, attr }, fh))
    }

    fn register_open(&self, st: &mut State, ino: u64, file: File, flags: i32) -> io::Result<u64> {
        if flags & libc::O_TRUNC != 0 && flags & libc::O_ACCMODE != libc::O_RDONLY {
            let len = file.metadata()?.len();
            let overlay = st
                .overlays
                .entry(ino)
                .or_insert_with(|| FileOverlay::new(len));
            let before = overlay.dirty_pages() as u64;
            overlay.set_len(0, SystemTime::now())?;
            st.dirty_pages = st.dirty_pages.saturating_sub(before);
        }
        st.inodes.opened(ino);
        let epoch = st.epoch;
        Ok(Self::new_handle(
            st,
            Handle::File {
                ino,
                file: Arc::new(file),
                epoch,
            },
        ))
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> io::Result<Vec<u8>> {
        let size = size.min(MAX_READ);
        let st = self.lock();
        let (ino, file) = live_file(&st, fh)?;
        match st.overlays.get(&ino) {
            Some(o) => o.read(offset, size, &*file),
            None => read_plain(&file, offset, size),
        }
    }

    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> io::Result<u32> {
        let written = u32::try_from(data.len()).map_err(|_| errno(libc::EINVAL))?;
        let mut st = self.lock();
        let (ino, file) = live_file(&st, fh)?;
        let worst = data.len() as u64 / PAGE_SIZE + 2;
        if (st.dirty_pages + worst) * PAGE_SIZE > MAX_DIRTY_BYTES {
            tracing::warn!(
                backing = %self.backing.display(),
                limit = MAX_DIRTY_BYTES,
                "unsynced data limit reached; write refused with ENOSPC"
            );
            return Err(errno(libc::ENOSPC));
        }
        let st = &mut *st;
        let overlay = match st.overlays.entry(ino) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(FileOverlay::new(file.metadata()?.len()))
            }
        };
        let before = overlay.dirty_pages() as u64;
        let res = overlay.write(offset, data, &*file, SystemTime::now());
        st.dirty_pages = (st.dirty_pages + overlay.dirty_pages() as u64).saturating_sub(before);
        res?;
        self.counters.wrote(data.len() as u64);
        Ok(written)
    }

    /// Writes the file's unsynced pages and length to the backing file,
    /// then fsyncs it.
    pub fn fsync(&self, fh: u64, datasync: bool) -> io::Result<()> {
        let (file, bytes) = {
            let mut st = self.lock();
            let (ino, file) = live_file(&st, fh)?;
            let mut bytes = 0;
            if let Some(o) = st.overlays.get(&ino) {
                let plan = o.sync_plan();
                apply(&file, &plan)?;
                bytes = plan.bytes();
                let pages = o.dirty_pages() as u64;
                st.overlays.remove(&ino);
                st.dirty_pages = st.dirty_pages.saturating_sub(pages);
            }
            (file, bytes)
        };
        if datasync {
            file.sync_data()?;
        } else {
            file.sync_all()?;
        }
        self.counters.fsynced(bytes);
        Ok(())
    }

    /// `fallocate`: mode 0 extends the visible length; `KEEP_SIZE` changes
    /// nothing visible; hole punching and the rest are not supported.
    pub fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> io::Result<()> {
        let mut st = self.lock();
        let (ino, file) = live_file(&st, fh)?;
        match mode {
            0 => {
                let end = offset
                    .checked_add(length)
                    .ok_or_else(|| errno(libc::EFBIG))?;
                let st = &mut *st;
                let overlay = match st.overlays.entry(ino) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(FileOverlay::new(file.metadata()?.len()))
                    }
                };
                if end > overlay.len() {
                    overlay.set_len(end, SystemTime::now())?;
                }
                Ok(())
            }
            libc::FALLOC_FL_KEEP_SIZE => Ok(()),
            _ => Err(errno(libc::EOPNOTSUPP)),
        }
    }

    pub fn release(&self, fh: u64) {
        let mut st = self.lock();
        let ino = match st.handles.remove(&fh) {
            Some(Handle::File { ino, .. }) => ino,
            Some(Handle::Dir { .. }) | None => return,
        };
        st.inodes.closed(ino);
        prune(&mut st, ino);
    }

    /// Drops every file's unsynced data and length, and ends every open
    /// file. Returns what was dropped and the inodes whose kernel caches
    /// must be invalidated.
    pub fn crash(&self) -> (CrashReport, Vec<u64>) {
        let mut st = self.lock();
        let mut report = CrashReport::default();
        let mut touched = Vec::new();
        for (&ino, o) in &st.overlays {
            if !o.is_clean() {
                report.files_dropped += 1;
                report.bytes_dropped += o.dirty_bytes();
            }
            touched.push(ino);
        }
        st.overlays.clear();
        st.dirty_pages = 0;
        st.epoch += 1;
        for ino in st.inodes.unreferenced() {
            prune(&mut st, ino);
        }
        drop(st);
        self.counters.crashed(&report);
        (report, touched)
    }

    pub fn stats(&self) -> LazyFsStats {
        let st = self.lock();
        let dirty: Vec<&FileOverlay> = st.overlays.values().filter(|o| !o.is_clean()).collect();
        let bytes = dirty.iter().map(|o| o.dirty_bytes()).sum();
        self.counters.snapshot((bytes, dirty.len() as u64))
    }
}

/// Forgets an inode nobody refers to, unless it still has unsynced data
/// under a live name (a later lookup must find that data again). A deleted
/// file's data goes with it.
pub(super) fn prune(st: &mut State, ino: u64) {
    let Some(node) = st.inodes.get(ino) else {
        return;
    };
    let deleted = node.path.is_none();
    if deleted && !node.is_open() {
        if let Some(o) = st.overlays.remove(&ino) {
            st.dirty_pages = st.dirty_pages.saturating_sub(o.dirty_pages() as u64);
        }
    }
    let Some(node) = st.inodes.get(ino) else {
        return;
    };
    if node.unreferenced() && !st.overlays.contains_key(&ino) {
        st.inodes.remove(ino);
    }
}

fn open_file(st: &State, ino: u64) -> Option<Arc<File>> {
    st.handles.values().find_map(|h| match h {
        Handle::File { ino: i, file, .. } if *i == ino => Some(Arc::clone(file)),
        _ => None,
    })
}

fn handle_file(st: &State, fh: u64) -> Option<Arc<File>> {
    match st.handles.get(&fh) {
        Some(Handle::File { file, .. }) => Some(Arc::clone(file)),
        _ => None,
    }
}

/// The file behind a handle opened since the last crash.
fn live_file(st: &State, fh: u64) -> io::Result<(u64, Arc<File>)> {
    match st.handles.get(&fh) {
        Some(Handle::File { ino, file, epoch }) if *epoch == st.epoch => {
            Ok((*ino, Arc::clone(file)))
        }
        Some(Handle::File { .. }) => Err(errno(libc::EIO)),
        Some(Handle::Dir { .. }) => Err(errno(libc::EISDIR)),
        None => Err(errno(libc::EBADF)),
    }
}

fn file_meta(st: &State, fh: u64) -> io::Result<Metadata> {
    handle_file(st, fh)
        .ok_or_else(|| errno(libc::EBADF))?
        .metadata()
}

fn open_backing(path: &Path, create: bool, exclusive: bool, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).custom_flags(libc::O_NOFOLLOW);
    if exclusive {
        o.create_new(true).mode(mode);
    } else if create {
        o.create(true).mode(mode);
    }
    match o.open(path) {
        Err(e) if !create && matches!(e.raw_os_error(), Some(libc::EACCES | libc::EROFS)) => {
            // Read-only backing: reads work, an fsync with data fails.
            File::open(path)
        }
        r => r,
    }
}

fn read_plain(file: &File, offset: u64, size: u32) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; size as usize];
    let mut done = 0;
    while done < out.len() {
        let Some(at) = offset.checked_add(done as u64) else {
            break;
        };
        match file.read_at(&mut out[done..], at) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(done);
    Ok(out)
}

fn apply(file: &File, plan: &SyncPlan) -> io::Result<()> {
    if let Some(t) = plan.truncate_to {
        file.set_len(t)?;
    }
    for (offset, data) in &plan.writes {
        file.write_all_at(data, *offset)?;
    }
    file.set_len(plan.final_len)
}
