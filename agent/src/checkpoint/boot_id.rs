//! The boot id: the kernel's random id of the current boot. The agent
//! records the one it ran under (`meta/boot_id`); a different one at the
//! next start means the host rebooted, so its executors are gone.

use std::io;
use std::path::{Path, PathBuf};

/// Where Linux publishes the boot id.
pub const KERNEL_BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Longer text is not a boot id (the kernel's is a 36-character UUID).
pub const MAX_BOOT_ID_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum BootIdError {
    #[error("cannot read the boot id from {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} does not hold a boot id: {problem}")]
    Malformed { path: PathBuf, problem: String },
}

/// The boot id of the running system, read from `path` when given (tests
/// simulate a reboot by changing that file), else from the kernel.
pub fn current_boot_id(path: Option<&Path>) -> Result<String, BootIdError> {
    let path = path.unwrap_or(Path::new(KERNEL_BOOT_ID_PATH));
    let bytes = read_small(path).map_err(|source| BootIdError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_boot_id(&bytes).map_err(|problem| BootIdError::Malformed {
        path: path.to_path_buf(),
        problem,
    })
}

/// Reads at most a little more than any boot id, so a wrong path to a big
/// file costs nothing.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BOOT_ID_LEN as u64 + 2)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A boot id from a file's bytes: one line of printable text, surrounding
/// whitespace ignored.
pub fn parse_boot_id(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    let id = text.trim();
    if id.is_empty() {
        Err("it is empty".into())
    } else if id.len() > MAX_BOOT_ID_LEN {
        Err(format!("it is longer than {MAX_BOOT_ID_LEN} bytes"))
    } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("it contains whitespace or control characters".into())
    } else {
        Ok(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_boot_id_is_readable() {
        let id = current_boot_id(None).unwrap();
        assert_eq!(id.len(), 36, "{id}");
    }

    #[test]
    fn an_override_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boot_id");
        std::fs::write(&path, "boot-2\n").unwrap();
        assert_eq!(current_boot_id(Some(&path)).unwrap(), "boot-2");
        for bad in ["", "two words", "\u{7}"] {
            std::fs::write(&path, bad).unwrap();
            let err = current_boot_id(Some(&path)).unwrap_err();
            assert!(matches!(err, BootIdError::Malformed { .. }), "{bad:?}");
            assert!(err.to_string().contains(&path.display().to_string()));
        }
        std::fs::write(&path, "x".repeat(10_000)).unwrap();
        assert!(current_boot_id(Some(&path)).is_err());
        let missing = dir.path().join("missing");
        assert!(matches!(
            current_boot_id(Some(&missing)),
            Err(BootIdError::Unreadable { .. })
        ));
    }
}
