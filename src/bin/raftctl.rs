//! raftctl: the operator tool for the master group. All logic lives in
//! `mesoraft_ctl`; this only parses the command line, runs it, and turns
//! the result into the exit code.

use std::process::ExitCode;

use clap::Parser;
use mesoraft_ctl::{Args, CtlError};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A closed pipe (`raftctl status --watch | head`) is no news.
            if !matches!(e, CtlError::OutputClosed) {
                eprintln!("raftctl: error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: Args) -> Result<u8, CtlError> {
    // One thread is plenty: raftctl only waits on a handful of sockets.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Local(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(mesoraft_ctl::run(args))
}
