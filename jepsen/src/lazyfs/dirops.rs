//! Namespace operations of [`LazyCore`]: they pass through to the backing
//! directory at once (this model loses only file data and lengths, never
//! names), keep the inode table in step, and drop the unsynced data of a
//! file that loses its last name.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use fuser::FileType;

use super::backing::{self, FsStats};
use super::core::{errno, prune, DirEntry, Entry, Handle, LazyCore, State};
use super::inodes::ROOT_INO;

impl LazyCore {
    pub fn lookup(&self, parent: u64, name: &OsStr) -> io::Result<Entry> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name).map_err(|e| {
            // `.` and `..` are resolved by the kernel; anything else is absent.
            if e.raw_os_error() == Some(libc::EINVAL) {
                errno(libc::ENOENT)
            } else {
                e
            }
        })?;
        self.entry(&mut st, rel)
    }

    pub fn mkdir(&self, parent: u64, name: &OsStr, mode: u32) -> io::Result<Entry> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        std::fs::DirBuilder::new()
            .mode(mode & 0o7777)
            .create(self.abs(&rel))?;
        self.entry(&mut st, rel)
    }

    /// Regular files, FIFOs and sockets; device nodes are refused.
    pub fn mknod(&self, parent: u64, name: &OsStr, mode: u32, rdev: u32) -> io::Result<Entry> {
        let fmt = mode & libc::S_IFMT;
        if fmt != libc::S_IFREG && fmt != libc::S_IFIFO && fmt != libc::S_IFSOCK && fmt != 0 {
            return Err(errno(libc::EPERM));
        }
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        backing::mknod(&self.abs(&rel), mode, rdev)?;
        self.entry(&mut st, rel)
    }

    pub fn symlink(&self, parent: u64, name: &OsStr, target: &Path) -> io::Result<Entry> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        std::os::unix::fs::symlink(target, self.abs(&rel))?;
        self.entry(&mut st, rel)
    }

    pub fn readlink(&self, ino: u64) -> io::Result<Vec<u8>> {
        let st = self.lock();
        let path = self.live_path(&st, ino)?;
        Ok(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
    }

    pub fn unlink(&self, parent: u64, name: &OsStr) -> io::Result<()> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        let abs = self.abs(&rel);
        let m = std::fs::symlink_metadata(&abs)?;
        if m.is_dir() {
            return Err(errno(libc::EISDIR));
        }
        std::fs::remove_file(&abs)?;
        if m.nlink() <= 1 {
            forget_deleted(&mut st, &m);
        }
        Ok(())
    }

    pub fn rmdir(&self, parent: u64, name: &OsStr) -> io::Result<()> {
        let mut st = self.lock();
        let rel = Self::child(&st, parent, name)?;
        let abs = self.abs(&rel);
        let m = std::fs::symlink_metadata(&abs)?;
        std::fs::remove_dir(&abs)?;
        forget_deleted(&mut st, &m);
        Ok(())
    }

    /// A replaced target loses its name (and its unsynced data with it);
    /// the source keeps its inode, so its unsynced data moves with it.
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> io::Result<()> {
        let mut st = self.lock();
        let from = Self::child(&st, parent, name)?;
        let to = Self::child(&st, newparent, newname)?;
        let source = std::fs::symlink_metadata(self.abs(&from))?;
        let replaced = std::fs::symlink_metadata(self.abs(&to)).ok();
        backing::rename(&self.abs(&from), &self.abs(&to), noreplace)?;
        if let Some(t) = replaced {
            let same = backing::key_of(&t) == backing::key_of(&source);
            if !same && (t.is_dir() || t.nlink() <= 1) {
                forget_deleted(&mut st, &t);
            }
        }
        st.inodes.renamed(&from, &to);
        Ok(())
    }

    /// Lists the directory once, at open, so offsets stay stable while the
    /// kernel reads it in pieces.
    pub fn opendir(&self, ino: u64) -> io::Result<u64> {
        let mut st = self.lock();
        let rel = st
            .inodes
            .path(ino)
            .ok_or_else(|| errno(libc::ENOENT))?
            .to_path_buf();
        let parent_ino = match rel.parent() {
            Some(p) if ino != ROOT_INO => {
                let m = std::fs::symlink_metadata(self.abs(p))?;
                st.inodes.resolve(p.to_path_buf(), backing::key_of(&m))
            }
            _ => ROOT_INO,
        };
        let mut entries = vec![
            DirEntry {
                ino,
                kind: FileType::Directory,
                name: OsString::from("."),
            },
            DirEntry {
                ino: parent_ino,
                kind: FileType::Directory,
                name: OsString::from(".."),
            },
        ];
        for item in std::fs::read_dir(self.abs(&rel))? {
            let item = item?;
            // Deleted between listing and stat: skip it, as a listing may.
            let Ok(m) = item.metadata() else { continue };
            let child = st
                .inodes
                .resolve(rel.join(item.file_name()), backing::key_of(&m));
            entries.push(DirEntry {
                ino: child,
                kind: backing::kind_of(m.file_type()),
                name: item.file_name(),
            });
        }
        Ok(Self::new_handle(&mut st, Handle::Dir { ino, entries }))
    }

    /// Entries from `offset` on, each with the offset of the next one.
    pub fn readdir(&self, fh: u64, offset: u64) -> io::Result<Vec<(u64, DirEntry)>> {
        let st = self.lock();
        match st.handles.get(&fh) {
            Some(Handle::Dir { entries, .. }) => Ok(entries
                .iter()
                .enumerate()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .map(|(i, e)| (i as u64 + 1, e.clone()))
                .collect()),
            Some(Handle::File { .. }) => Err(errno(libc::ENOTDIR)),
            None => Err(errno(libc::EBADF)),
        }
    }

    pub fn releasedir(&self, fh: u64) {
        let mut st = self.lock();
        if let Some(Handle::Dir { ino, .. }) = st.handles.get(&fh) {
            let ino = *ino;
            st.handles.remove(&fh);
            prune(&mut st, ino);
        }
    }

    /// Names already are in the backing directory; its fsync keeps the
    /// timing of a real one.
    pub fn fsyncdir(&self, ino: u64) -> io::Result<()> {
        let path = {
            let st = self.lock();
            self.live_path(&st, ino)?
        };
        std::fs::File::open(path)?.sync_all()
    }

    pub fn statfs(&self) -> io::Result<FsStats> {
        backing::statvfs(&self.backing)
    }
}

/// The backing file lost its last name.
fn forget_deleted(st: &mut State, m: &std::fs::Metadata) {
    if let Some(ino) = st.inodes.deleted(backing::key_of(m)) {
        prune(st, ino);
    }
}
