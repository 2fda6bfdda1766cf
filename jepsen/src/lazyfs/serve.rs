//! `jepsen lazyfs --backing DIR --mount DIR`: serve one mount in the
//! foreground for manual experiments. SIGUSR1 crashes it (drops unsynced
//! data), SIGTERM or Ctrl-C unmounts and exits.

use std::path::PathBuf;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use super::mount::LazyFs;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Directory holding the durable (synced) content.
    #[arg(long)]
    pub backing: PathBuf,
    /// Where to mount the filesystem.
    #[arg(long)]
    pub mount: PathBuf,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
    let fs = tokio::task::spawn_blocking(move || LazyFs::mount(&args.backing, &args.mount))
        .await
        .context("mount task")??;
    eprintln!(
        "lazyfs: serving {} on {} (pid {}); SIGUSR1 drops unsynced data, SIGTERM unmounts",
        fs.backing().display(),
        fs.mountpoint().display(),
        std::process::id()
    );
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => {
                let r = fs.crash();
                eprintln!(
                    "lazyfs: crash dropped {} unsynced bytes in {} files; {}",
                    r.bytes_dropped,
                    r.files_dropped,
                    serde_json::to_string(&fs.stats()).unwrap_or_default()
                );
            }
        }
    }
    eprintln!(
        "lazyfs: {}",
        serde_json::to_string(&fs.stats()).unwrap_or_default()
    );
    tokio::task::spawn_blocking(move || fs.unmount())
        .await
        .context("unmount task")?
}
