//! Finding (and building) the programs the cluster runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// What each node runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The master program and the arguments before the master flags
    /// (`mesoraft master`, or `jepsen fake-master` for harness self-tests).
    pub master: PathBuf,
    pub master_prefix: Vec<String>,
    /// `raftctl`, for membership changes (None with the fake).
    pub raftctl: Option<PathBuf>,
    /// The program whose `agent` subcommand runs an agent (None with the
    /// fake, which has no agents).
    pub agent: Option<PathBuf>,
    /// Human-readable description for the results.
    pub describe: String,
}

/// The workspace this crate belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("jepsen lives inside the workspace")
        .to_path_buf()
}

/// `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// `cargo build --release --bin mesoraft --bin raftctl` in the workspace.
pub fn build_release() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "jepsen: building release binaries (cargo build --release --bin mesoraft --bin raftctl)"
    );
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--bin",
            "mesoraft",
            "--bin",
            "raftctl",
        ])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    Ok(())
}

/// Whether every one of `binaries` exists and is newer than every source
/// they are built from (`.rs`, `.proto`, `Cargo.toml`, `Cargo.lock`; not
/// this harness, which they do not depend on, nor tests, benches and
/// examples, so that editing those does not trigger a rebuild). Under
/// `cargo test --workspace` the binaries were just linked from these
/// sources: building them again from the root package alone would
/// resolve features differently, rebuild half the workspace for minutes
/// and replace the binaries the other tests use.
pub fn newer_than_sources(binaries: &[PathBuf]) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let Some(oldest_binary) = binaries
        .iter()
        .map(|b| modified(b))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let Some(oldest_binary) = oldest_binary.into_iter().min() else {
        return false;
    };
    let root = workspace_root();
    let target = target_dir();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                // Build output, history and run stores hold no sources of
                // the binaries; neither do the harness and the test code.
                let not_built_in = ["store", "jepsen", "tests", "benches", "examples"];
                if path != target
                    && !name.starts_with('.')
                    && !not_built_in.contains(&name.as_ref())
                {
                    stack.push(path);
                }
                continue;
            }
            let source = name.ends_with(".rs")
                || name.ends_with(".proto")
                || name == "Cargo.toml"
                || name == "Cargo.lock";
            if source && modified(&path).is_none_or(|t| t > oldest_binary) {
                return false;
            }
        }
    }
    true
}

/// The real binaries: from `bin_dir` if given, else the release target
/// dir, built first unless `no_build` or they are newer than every source
/// ([`newer_than_sources`]).
pub fn real(bin_dir: Option<&Path>, no_build: bool) -> anyhow::Result<Binaries> {
    let dir = match bin_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let dir = target_dir().join("release");
            if !no_build && !newer_than_sources(&[dir.join("mesoraft"), dir.join("raftctl")]) {
                build_release()?;
            }
            dir
        }
    };
    let master = dir.join("mesoraft");
    let raftctl = dir.join("raftctl");
    for p in [&master, &raftctl] {
        if !p.is_file() {
            bail!("{} not found (build it, or give --bin-dir)", p.display());
        }
    }
    Ok(Binaries {
        describe: format!("{}", master.display()),
        master: master.canonicalize()?,
        agent: Some(master.canonicalize()?),
        master_prefix: vec![mesoraft_testkit::master_cmd::MASTER_SUBCOMMAND.into()],
        raftctl: Some(raftctl.canonicalize()?),
    })
}

/// The in-crate fake master (`jepsen fake-master`), for testing the harness
/// itself without the real system.
pub fn fake(jepsen_exe: &Path) -> Binaries {
    Binaries {
        master: jepsen_exe.to_path_buf(),
        master_prefix: vec!["fake-master".into()],
        raftctl: None,
        agent: None,
        describe: format!("fake master ({} fake-master)", jepsen_exe.display()),
    }
}
