//! raftctl: the operator tool for the master group. All logic lives in
//! `mesoraft_master::ctl`; this only parses the command line, runs it, and
//! turns the result into the exit code.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mesoraft_master::ctl;

fn main() -> ExitCode {
    let args = ctl::Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let ctl_error = e.downcast_ref::<ctl::CtlError>();
            // A closed pipe (`raftctl status --watch | head`) is no news.
            if !matches!(ctl_error, Some(ctl::CtlError::OutputClosed)) {
                eprintln!("raftctl: error: {e:#}");
            }
            let code = ctl_error.map_or(ctl::error::EXIT_FAILED, ctl::CtlError::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(args: ctl::Args) -> anyhow::Result<u8> {
    // One thread is plenty: raftctl only waits on a handful of sockets.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(ctl::run(args))?)
}
