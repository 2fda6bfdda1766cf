//! The inode table: which backing path and backing inode each FUSE inode
//! number stands for, and how many references the kernel and open handles
//! hold on it.
//!
//! FUSE inode numbers are handed out once and never reused: a backing inode
//! number can be reused after its file is deleted, and the kernel must never
//! mistake the new file for the old one it may still hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// FUSE's inode number of the mount's root.
pub const ROOT_INO: u64 = 1;

/// Identity of a file in the backing filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackingKey {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Path relative to the backing root; `None` once the file is deleted
    /// (it may still be open).
    pub path: Option<PathBuf>,
    pub key: BackingKey,
    /// Lookups the kernel has not forgotten yet.
    lookups: u64,
    /// Open file handles.
    open: u32,
}

impl Node {
    /// Neither the kernel nor an open handle refers to it.
    pub fn unreferenced(&self) -> bool {
        self.lookups == 0 && self.open == 0
    }

    pub fn is_open(&self) -> bool {
        self.open > 0
    }
}

#[derive(Debug)]
pub struct InodeTable {
    nodes: HashMap<u64, Node>,
    by_key: HashMap<BackingKey, u64>,
    next: u64,
}

impl InodeTable {
    /// A table holding only the root, the backing directory itself.
    pub fn new(root: BackingKey) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT_INO,
            Node {
                path: Some(PathBuf::new()),
                key: root,
                lookups: 1,
                open: 0,
            },
        );
        Self {
            nodes,
            by_key: HashMap::from([(root, ROOT_INO)]),
            next: ROOT_INO + 1,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    /// The backing path of a live (not deleted) inode.
    pub fn path(&self, ino: u64) -> Option<&Path> {
        self.nodes.get(&ino)?.path.as_deref()
    }

    /// The inode for the file at `path` with backing identity `key`: the
    /// known one (its path updated), or a new number.
    pub fn resolve(&mut self, path: PathBuf, key: BackingKey) -> u64 {
        if let Some(&ino) = self.by_key.get(&key) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = Some(path);
                return ino;
            }
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                path: Some(path),
                key,
                lookups: 0,
                open: 0,
            },
        );
        self.by_key.insert(key, ino);
        ino
    }

    /// The kernel received an entry for `ino` (lookup, create, mkdir, ...).
    pub fn add_lookup(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.lookups = n.lookups.saturating_add(1);
        }
    }

    /// The kernel forgot `count` lookups; returns whether the inode is now
    /// unreferenced (the caller decides whether to [`Self::remove`] it).
    pub fn forget(&mut self, ino: u64, count: u64) -> bool {
        if ino == ROOT_INO {
            return false;
        }
        match self.nodes.get_mut(&ino) {
            Some(n) => {
                n.lookups = n.lookups.saturating_sub(count);
                n.unreferenced()
            }
            None => false,
        }
    }

    pub fn opened(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.open = n.open.saturating_add(1);
        }
    }

    /// A handle was released; returns whether the inode is now unreferenced.
    pub fn closed(&mut self, ino: u64) -> bool {
        match self.nodes.get_mut(&ino) {
            Some(n) => {
                n.open = n.open.saturating_sub(1);
                n.unreferenced() && ino != ROOT_INO
            }
            None => false,
        }
    }

    /// Drops an inode number for good.
    pub fn remove(&mut self, ino: u64) {
        if ino == ROOT_INO {
            return;
        }
        if let Some(n) = self.nodes.remove(&ino) {
            if self.by_key.get(&n.key) == Some(&ino) {
                self.by_key.remove(&n.key);
            }
        }
    }

    /// The file with backing identity `key` lost its last name: a new file
    /// reusing the backing inode number must get a new inode. Returns the
    /// inode it had, if known.
    pub fn deleted(&mut self, key: BackingKey) -> Option<u64> {
        let ino = self.by_key.remove(&key)?;
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.path = None;
        }
        Some(ino)
    }

    /// `from` was renamed to `to`: the node at `from` and everything below
    /// it (a directory's contents) now live under `to`.
    pub fn renamed(&mut self, from: &Path, to: &Path) {
        for node in self.nodes.values_mut() {
            let Some(p) = &node.path else { continue };
            if let Ok(rest) = p.strip_prefix(from) {
                node.path = Some(if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                });
            }
        }
    }

    /// Inodes neither the kernel nor a handle refers to (for pruning).
    pub fn unreferenced(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(&ino, n)| ino != ROOT_INO && n.unreferenced())
            .map(|(&ino, _)| ino)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> BackingKey {
        BackingKey { dev: 1, ino }
    }

    #[test]
    fn resolve_is_stable_per_backing_file() {
        let mut t = InodeTable::new(key(2));
        let a = t.resolve("a".into(), key(10));
        assert_eq!(t.resolve("a".into(), key(10)), a);
        assert_ne!(t.resolve("b".into(), key(11)), a);
        assert_eq!(t.resolve("c".into(), key(2)), ROOT_INO);
    }

    #[test]
    fn rename_moves_a_directory_and_its_contents() {
        let mut t = InodeTable::new(key(2));
        let d = t.resolve("d".into(), key(10));
        let f = t.resolve("d/f".into(), key(11));
        let other = t.resolve("dd/f".into(), key(12));
        t.renamed(Path::new("d"), Path::new("e/x"));
        assert_eq!(t.path(d), Some(Path::new("e/x")));
        assert_eq!(t.path(f), Some(Path::new("e/x/f")));
        assert_eq!(
            t.path(other),
            Some(Path::new("dd/f")),
            "a prefix of the name is no parent"
        );
    }

    #[test]
    fn a_deleted_file_never_shares_an_inode_with_its_successor() {
        let mut t = InodeTable::new(key(2));
        let a = t.resolve("a".into(), key(10));
        t.add_lookup(a);
        assert_eq!(t.deleted(key(10)), Some(a));
        assert_eq!(t.path(a), None);
        // The backing filesystem reuses inode 10 for a new file.
        let b = t.resolve("b".into(), key(10));
        assert_ne!(a, b);
        assert!(t.forget(a, 1));
        t.remove(a);
        assert_eq!(
            t.path(b),
            Some(Path::new("b")),
            "removing the old one keeps the new"
        );
        assert_eq!(t.resolve("b".into(), key(10)), b);
    }

    #[test]
    fn references_count_lookups_and_handles_and_root_stays() {
        let mut t = InodeTable::new(key(2));
        let a = t.resolve("a".into(), key(10));
        t.add_lookup(a);
        t.opened(a);
        assert!(!t.forget(a, 1), "still open");
        assert!(t.closed(a));
        assert!(!t.forget(ROOT_INO, 100));
        t.remove(ROOT_INO);
        assert_eq!(t.path(ROOT_INO), Some(Path::new("")));
        assert!(!t.forget(12345, 1) && !t.closed(12345));
    }
}
