//! A gate a test's task waits at: a named pipe the task reads a line from
//! (`read line < PATH`), which blocks until the test opens the gate. A
//! task then ends when the test says so, not after a guessed time that a
//! loaded machine may overrun.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Gate {
    path: PathBuf,
}

impl Gate {
    /// A closed gate named `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Gate {
        let path = dir.join(name);
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .expect("a gate path without NUL bytes");
        // SAFETY: mkfifo takes a NUL-terminated path and a mode.
        let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(
            made,
            0,
            "cannot make the gate {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        Gate { path }
    }

    /// The shell command that waits at the gate (exit status 0 once open).
    pub fn wait_command(&self) -> String {
        format!("read line < '{}'", self.path.display())
    }

    /// Opens the gate: waits (at most `limit`) for the task to reach it,
    /// then lets it through.
    pub async fn open(&self, limit: Duration) {
        let path = self.path.clone();
        // Opening a pipe for writing blocks until its reader is there.
        let write = tokio::task::spawn_blocking(move || std::fs::write(&path, b"go\n"));
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("cannot open the gate {}: {e}", self.path.display()),
            Ok(Err(e)) => panic!("the gate's writer failed: {e}"),
            Err(_) => panic!(
                "nothing waited at the gate {} within {limit:?}",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shell_waits_at_the_gate_until_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::new(dir.path(), "gate");
        let mut shell = tokio::process::Command::new("sh")
            .args(["-c", &gate.wait_command()])
            .spawn()
            .unwrap();
        assert!(shell.try_wait().unwrap().is_none(), "waits while closed");
        gate.open(Duration::from_secs(10)).await;
        assert!(shell.wait().await.unwrap().success());
    }
}
