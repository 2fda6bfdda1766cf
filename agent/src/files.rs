//! `GET /files/browse` and `GET /files/read`: the executors' sandboxes, in
//! Mesos's shapes, so a UI or `mesoraft execute` can list a sandbox and
//! follow a task's `stdout`.
//!
//! A path is either a real path inside the agent's sandboxes
//! (`<work_dir>/slaves/...`, what an executor's `directory` says) or
//! Mesos's virtual form `/frameworks/<f>/executors/<e>/runs/<container or
//! latest>[/...]`. Anything that resolves (after symlinks) outside
//! `<work_dir>/slaves` is answered as not found: the endpoint serves
//! sandboxes, not the host's files.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

/// At most this much is returned by one read (a client pages with
/// `offset`).
pub const MAX_READ_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    #[error("Expecting 'path={{...}}' in query")]
    NoPath,
    #[error("No file or directory found at path {0:?}")]
    NotFound(String),
    #[error("Cannot read a directory: {0:?}; use /files/browse")]
    IsDirectory(String),
    #[error("Failed to parse {what}: {value:?} is not a number")]
    BadNumber { what: &'static str, value: String },
    #[error("cannot read {path:?}: {reason}")]
    Io { path: String, reason: String },
}

/// One entry of a listing (Mesos's `FileInfo` JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub nlink: u64,
    pub size: u64,
    pub mtime: f64,
    pub mode: String,
    pub uid: String,
    pub gid: String,
}

/// The answer of a read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadAnswer {
    pub data: String,
    pub offset: u64,
}

/// `ls -l`'s mode text of `mode` (type and permission bits).
pub fn mode_text(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut text = String::with_capacity(10);
    text.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

/// The real path a requested one stands for, before symlinks: a virtual
/// `/frameworks/...` path goes under the agent's directory (`latest` is
/// resolved by the caller, which can look at the disk).
pub fn requested_path(
    sandboxes: &Path,
    agent_id: Option<&str>,
    requested: &str,
) -> Option<PathBuf> {
    let path = Path::new(requested);
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    if requested.starts_with("/frameworks/") || requested == "/frameworks" {
        let agent_id = agent_id?;
        let relative = path.strip_prefix("/").ok()?;
        return Some(sandboxes.join(agent_id).join(relative));
    }
    path.is_absolute().then(|| path.to_path_buf())
}

/// Which bytes a read returns for a file of `size`: from `offset` (past
/// the end reads nothing), at most `length` and [`MAX_READ_BYTES`].
pub fn read_window(size: u64, offset: u64, length: Option<u64>) -> (u64, u64) {
    let start = offset.min(size);
    let len = (size - start)
        .min(length.unwrap_or(MAX_READ_BYTES))
        .min(MAX_READ_BYTES);
    (start, len)
}

/// The sandboxes under `work_dir`, as the file endpoints serve them.
pub struct Sandboxes {
    root: PathBuf,
}

impl Sandboxes {
    pub fn new(work_dir: &Path) -> Self {
        Sandboxes {
            root: work_dir.join("slaves"),
        }
    }

    /// The canonical path of `requested`, if it lies in a sandbox.
    fn resolve(&self, agent_id: Option<&str>, requested: &str) -> Result<PathBuf, FilesError> {
        let not_found = || FilesError::NotFound(requested.to_string());
        let path = requested_path(&self.root, agent_id, requested).ok_or_else(not_found)?;
        let path = resolve_latest(&path);
        let root = self.root.canonicalize().map_err(|_| not_found())?;
        let real = path.canonicalize().map_err(|_| not_found())?;
        if real.starts_with(&root) {
            Ok(real)
        } else {
            Err(not_found())
        }
    }

    pub fn browse(
        &self,
        agent_id: Option<&str>,
        requested: &str,
    ) -> Result<Vec<FileEntry>, FilesError> {
        let dir = self.resolve(agent_id, requested)?;
        let io = |e: std::io::Error| FilesError::Io {
            path: requested.to_string(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(&dir).map_err(io)?;
        let names = Names::read();
        if !meta.is_dir() {
            return Ok(vec![entry(&dir, &meta, &names)]);
        }
        let mut entries: Vec<FileEntry> = std::fs::read_dir(&dir)
            .map_err(io)?
            .flatten()
            .filter_map(|e| {
                let meta = std::fs::symlink_metadata(e.path()).ok()?;
                Some(entry(&e.path(), &meta, &names))
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    pub fn read(
        &self,
        agent_id: Option<&str>,
        requested: &str,
        offset: Option<i64>,
        length: Option<u64>,
    ) -> Result<ReadAnswer, FilesError> {
        use std::io::{Read, Seek, SeekFrom};
        let file = self.resolve(agent_id, requested)?;
        let io = |e: std::io::Error| FilesError::Io {
            path: requested.to_string(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(&file).map_err(io)?;
        if meta.is_dir() {
            return Err(FilesError::IsDirectory(requested.to_string()));
        }
        let size = meta.len();
        // Mesos: offset -1 asks for the size only (where to start
        // following the file from).
        let Some(offset) = offset.filter(|o| *o >= 0) else {
            return Ok(ReadAnswer {
                data: String::new(),
                offset: size,
            });
        };
        let (start, len) = read_window(size, offset as u64, length);
        let mut handle = std::fs::File::open(&file).map_err(io)?;
        handle.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = Vec::with_capacity(len as usize);
        handle.take(len).read_to_end(&mut bytes).map_err(io)?;
        Ok(ReadAnswer {
            data: String::from_utf8_lossy(&bytes).into_owned(),
            offset: start,
        })
    }
}

/// `runs/latest` is the run most recently started.
fn resolve_latest(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        if component.as_os_str() == "latest" && out.ends_with("runs") {
            let newest = std::fs::read_dir(&out).ok().and_then(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                    .max_by_key(|(modified, _)| *modified)
                    .map(|(_, p)| p)
            });
            match newest {
                Some(run) => out = run,
                None => out.push(component),
            }
        } else {
            out.push(component);
        }
    }
    out
}

fn entry(path: &Path, meta: &std::fs::Metadata, names: &Names) -> FileEntry {
    FileEntry {
        path: path.display().to_string(),
        nlink: meta.nlink(),
        size: meta.len(),
        mtime: meta.mtime() as f64,
        mode: mode_text(meta.mode()),
        uid: names.user(meta.uid()),
        gid: names.group(meta.gid()),
    }
}

/// `/etc/passwd` and `/etc/group`, read once per listing.
struct Names {
    users: String,
    groups: String,
}

impl Names {
    fn read() -> Self {
        let text = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
        Names {
            users: text("/etc/passwd"),
            groups: text("/etc/group"),
        }
    }

    /// A uid's name, else its number.
    fn user(&self, uid: u32) -> String {
        name_of_id(&self.users, uid).unwrap_or_else(|| uid.to_string())
    }

    fn group(&self, gid: u32) -> String {
        name_of_id(&self.groups, gid).unwrap_or_else(|| gid.to_string())
    }
}

/// In `name:x:id:...` lines, the name of `id`.
pub fn name_of_id(text: &str, id: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_text(0o040755), "drwxr-xr-x");
        assert_eq!(mode_text(0o100644), "-rw-r--r--");
        assert_eq!(mode_text(0o120777), "lrwxrwxrwx");
    }

    #[test]
    fn virtual_paths_go_under_the_agent_and_parent_steps_are_refused() {
        let root = Path::new("/w/slaves");
        assert_eq!(
            requested_path(root, Some("S1"), "/frameworks/f/executors/e/runs/c/stdout"),
            Some(PathBuf::from(
                "/w/slaves/S1/frameworks/f/executors/e/runs/c/stdout"
            ))
        );
        assert_eq!(requested_path(root, None, "/frameworks/f"), None);
        assert_eq!(
            requested_path(root, Some("S1"), "/w/slaves/../../etc/passwd"),
            None
        );
        assert_eq!(requested_path(root, Some("S1"), "relative"), None);
    }

    #[test]
    fn a_read_window_stays_inside_the_file_and_the_cap() {
        assert_eq!(read_window(100, 10, Some(20)), (10, 20));
        assert_eq!(read_window(100, 90, Some(20)), (90, 10));
        assert_eq!(read_window(100, 200, None), (100, 0));
        assert_eq!(
            read_window(10 * MAX_READ_BYTES, 0, None),
            (0, MAX_READ_BYTES)
        );
    }

    #[test]
    fn names_come_from_passwd_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(name_of_id(text, 65534).as_deref(), Some("nobody"));
        assert_eq!(name_of_id(text, 7), None);
    }

    #[test]
    fn only_sandbox_files_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir
            .path()
            .join("slaves/S1/frameworks/f/executors/e/runs/c1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("stdout"), b"hello\n").unwrap();
        std::fs::write(dir.path().join("secret"), b"no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), run.join("escape")).unwrap();
        let sandboxes = Sandboxes::new(dir.path());

        let listing = sandboxes
            .browse(Some("S1"), "/frameworks/f/executors/e/runs/latest")
            .unwrap();
        assert!(
            listing
                .iter()
                .any(|e| e.path.ends_with("/stdout") && e.size == 6),
            "{listing:?}"
        );
        let read = sandboxes
            .read(
                Some("S1"),
                &run.join("stdout").display().to_string(),
                Some(1),
                Some(3),
            )
            .unwrap();
        assert_eq!(
            read,
            ReadAnswer {
                data: "ell".into(),
                offset: 1
            }
        );
        let size = sandboxes
            .read(
                Some("S1"),
                &run.join("stdout").display().to_string(),
                Some(-1),
                None,
            )
            .unwrap();
        assert_eq!(size.offset, 6);

        for outside in [
            dir.path().join("secret").display().to_string(),
            run.join("escape").display().to_string(),
            "/etc/passwd".to_string(),
        ] {
            assert!(
                matches!(
                    sandboxes.read(Some("S1"), &outside, Some(0), None),
                    Err(FilesError::NotFound(_))
                ),
                "{outside}"
            );
        }
        assert!(matches!(
            sandboxes.read(Some("S1"), &run.display().to_string(), Some(0), None),
            Err(FilesError::IsDirectory(_))
        ));
    }
}
