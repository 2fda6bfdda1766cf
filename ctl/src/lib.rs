//! raftctl: the operator tool for the master group. An HTTP client of the
//! masters and nothing more: it depends on no master internals.
//!
//! Imports run one way, top to bottom (each module uses only those below):
//!
//! * this file: the command line and the commands.
//! * [`members`]: membership list / add / remove.
//! * [`status`]: gathering every master's local view into rows.
//! * [`client`]: HTTP to the masters (status, leader calls, redirects),
//!   with [`security`] (the cluster secret and TLS it presents).
//! * [`render`]: tables and JSON.
//! * [`verdict`]: the pure health verdict over the rows.
//! * [`model`]: the rows; [`wire`]: the masters' JSON as read;
//!   [`units`]: durations as printed; [`parse`]: addresses, ids,
//!   durations on the command line; [`error`]: failures and exit codes.

pub mod client;
pub mod error;
pub mod members;
pub mod model;
pub mod parse;
pub mod render;
pub mod security;
pub mod status;
pub mod units;
pub mod verdict;
pub mod wire;

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};

pub use error::CtlError;

use client::Client;
use parse::{parse_addr, parse_duration, parse_id};
use verdict::Thresholds;

const EXIT_CODES: &str = "\
Exit codes:
  status:  0 healthy, 1 degraded (a master down or lagging, a warning),
           2 no quorum, no leader, or masters disagree on the leader
  members: 0 done, 1 failed (no master or leader reachable, refused)
  any:     2 bad command line";

#[derive(Debug, Parser)]
#[command(
    name = "raftctl",
    version,
    about = "Inspect and change the mesoraft master group (its Raft membership).",
    after_help = EXIT_CODES
)]
pub struct Args {
    /// Master addresses, HOST:PORT, comma-separated. Any reachable subset
    /// of the group is enough; the other members are found from it.
    #[arg(long, env = "MESORAFT_MASTERS", value_delimiter = ',', value_parser = parse_addr, global = true)]
    pub masters: Vec<String>,

    /// Timeout of each request to a master (e.g. 1, 500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,

    #[command(flatten)]
    pub security: security::SecurityArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every master's own view of the group, and a health verdict.
    Status(StatusArgs),
    /// List, add or remove masters of the group.
    Members(MembersArgs),
}

#[derive(Debug, clap::Args)]
pub struct MembersArgs {
    /// How long to keep retrying while no leader is known (an election, a
    /// lost quorum).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, global = true)]
    pub leader_wait: Duration,

    #[command(subcommand)]
    pub command: MembersCommand,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Refresh every SECS (default 2) in place until Ctrl-C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2", value_parser = parse_duration)]
    pub watch: Option<Duration>,

    /// Log entries a master may be behind the leader before it counts as
    /// lagging.
    #[arg(long, value_name = "ENTRIES", default_value_t = 100)]
    pub max_lag: u64,
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// The members (voters and learners), as the leader knows them.
    List,
    /// Add a master that was started with --join: as learner, then as voter
    /// once it has caught up.
    Add {
        /// Its id (the --id it was started with).
        #[arg(value_parser = parse_id)]
        id: u64,
        /// The address the other masters reach it at (its --advertise).
        #[arg(value_name = "HOST:PORT", value_parser = parse_addr)]
        address: String,
        /// How long the leader may wait for it to catch up (e.g. 120, 5m).
        #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse_duration)]
        timeout: Duration,
        /// Give the slot of master ID to the master now answering at the
        /// address: remove the old incarnation first (a master whose work
        /// dir was lost or restored), then add the new one.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a master from the group (stop it afterwards).
    Remove {
        #[arg(value_parser = parse_id)]
        id: u64,
    },
}

/// Runs one raftctl command, printing to stdout; returns the exit code.
pub async fn run(args: Args) -> Result<u8, CtlError> {
    execute(args, &mut std::io::stdout()).await
}

/// [`run`] with the output going to `out` (tests capture it).
pub async fn execute<W: Write + Send>(args: Args, out: &mut W) -> Result<u8, CtlError> {
    let masters = dedup(&args.masters);
    if masters.is_empty() {
        return Err(CtlError::Usage(
            "no masters given: pass --masters HOST:PORT,HOST:PORT,... or set MESORAFT_MASTERS"
                .into(),
        ));
    }
    let security = args.security.load()?;
    let client = Client::new(args.timeout, security)?;
    match &args.command {
        Command::Status(s) => status_command(&client, &masters, s, args.output, out).await,
        Command::Members(m) => {
            let opts = members::Options {
                masters: &masters,
                wait: m.leader_wait,
            };
            members_command(&client, &opts, &m.command, args.output, out).await
        }
    }
}

fn dedup(masters: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in masters {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// One status round: gather, judge, render. Returns the text and the exit
/// code.
async fn status_once(
    client: &Client,
    masters: &[String],
    s: &StatusArgs,
    output: Output,
    compact: bool,
) -> (String, u8) {
    let rows = status::gather(client, masters).await;
    let t = Thresholds {
        max_lag: s.max_lag,
        ..Thresholds::default()
    };
    let v = verdict::verdict(&rows, &t);
    let text = match output {
        Output::Table => render::status_text(&rows, &v),
        Output::Json if compact => render::status_json_line(&rows, &v),
        Output::Json => render::status_json(&rows, &v) + "\n",
    };
    (text, v.exit_code)
}

async fn status_command<W: Write + Send>(
    client: &Client,
    masters: &[String],
    s: &StatusArgs,
    output: Output,
    out: &mut W,
) -> Result<u8, CtlError> {
    let Some(every) = s.watch else {
        let (text, code) = status_once(client, masters, s, output, false).await;
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(code);
    };
    // Clearing the screen only makes sense on a terminal; piped, a watch
    // prints one JSON document per line (or one table after another).
    let tty = std::io::stdout().is_terminal();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut last = 0;
    loop {
        let (text, code) = tokio::select! {
            r = status_once(client, masters, s, output, output == Output::Json) => r,
            _ = &mut ctrl_c => return Ok(last),
        };
        last = code;
        if output == Output::Table {
            if tty {
                out.write_all(b"\x1b[H\x1b[2J")?;
            }
            let header = format!(
                "raftctl status, every {}, at {} UTC (Ctrl-C to stop)\n\n",
                units::duration(every),
                utc_time_of_day()
            );
            out.write_all(header.as_bytes())?;
        }
        out.write_all(text.as_bytes())?;
        if output == Output::Table && !tty {
            out.write_all(b"\n")?;
        }
        out.flush()?;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut ctrl_c => return Ok(last),
        }
    }
}

/// HH:MM:SS in UTC, without a calendar crate.
fn utc_time_of_day() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

async fn members_command<W: Write + Send>(
    client: &Client,
    opts: &members::Options<'_>,
    cmd: &MembersCommand,
    output: Output,
    out: &mut W,
) -> Result<u8, CtlError> {
    let (summary, membership) = match cmd {
        MembersCommand::List => (None, members::list(client, opts).await?),
        MembersCommand::Add {
            id,
            address,
            timeout,
            replace,
        } => {
            if *replace {
                eprintln!("removing the current incarnation of master {id} first...");
            }
            eprintln!(
                "adding master {id} at {address}: as learner, then as voter once it has caught up \
                 (waiting up to {})...",
                units::duration(*timeout)
            );
            let m = members::add(client, opts, *id, address, *timeout, *replace).await?;
            (Some(format!("master {id} at {address} is now a voter")), m)
        }
        MembersCommand::Remove { id } => {
            let m = members::remove(client, opts, *id).await?;
            (
                Some(format!(
                    "master {id} was removed from the group; stop its process now"
                )),
                m,
            )
        }
    };
    let text = match output {
        Output::Json => render::members_json(&membership) + "\n",
        Output::Table => {
            let table = render::members_table(&membership);
            match summary {
                Some(s) => format!("{s}\n\n{table}"),
                None => table,
            }
        }
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn parses_masters_and_subcommands() {
        let a = Args::try_parse_from(["raftctl", "--masters", "a:1, b:2", "status", "--watch"])
            .unwrap();
        assert_eq!(a.masters, vec!["a:1", "b:2"]);
        assert_eq!(a.timeout, Duration::from_secs(1));
        match a.command {
            Command::Status(s) => {
                assert_eq!(s.watch, Some(Duration::from_secs(2)));
                assert_eq!(s.max_lag, 100);
            }
            _ => panic!("status expected"),
        }
        // Global flags also work after the subcommand.
        let a = Args::try_parse_from([
            "raftctl",
            "status",
            "-o",
            "json",
            "--masters",
            "a:1",
            "--watch",
            "5",
        ])
        .unwrap();
        assert_eq!(a.output, Output::Json);
        assert!(
            matches!(a.command, Command::Status(StatusArgs { watch: Some(d), .. }) if d == Duration::from_secs(5))
        );

        let a = Args::try_parse_from([
            "raftctl",
            "--masters",
            "a:1",
            "members",
            "add",
            "4",
            "d:5050",
            "--timeout",
            "60",
            "--leader-wait",
            "3s",
        ])
        .unwrap();
        match a.command {
            Command::Members(MembersArgs {
                command:
                    MembersCommand::Add {
                        id,
                        address,
                        timeout,
                        ..
                    },
                leader_wait,
            }) => {
                assert_eq!(leader_wait, Duration::from_secs(3));
                assert_eq!(
                    (id, address.as_str(), timeout),
                    (4, "d:5050", Duration::from_secs(60))
                );
            }
            _ => panic!("members add expected"),
        }
        let a = Args::try_parse_from([
            "raftctl",
            "--masters",
            "a:1",
            "members",
            "add",
            "4",
            "d:5050",
        ])
        .unwrap();
        assert!(
            matches!(a.command, Command::Members(MembersArgs { command: MembersCommand::Add { timeout, .. }, leader_wait }) if timeout == Duration::from_secs(120) && leader_wait == Duration::from_secs(10))
        );
    }

    #[test]
    fn members_add_replace_and_security_flags() {
        let a = Args::try_parse_from([
            "raftctl",
            "--masters",
            "a:1",
            "--cluster-secret-file",
            "/s",
            "members",
            "add",
            "--replace",
            "1",
            "a:1",
        ])
        .unwrap();
        assert_eq!(
            a.security.cluster_secret_file.as_deref(),
            Some(std::path::Path::new("/s"))
        );
        assert!(matches!(
            a.command,
            Command::Members(MembersArgs {
                command: MembersCommand::Add { replace: true, .. },
                ..
            })
        ));
        // A client certificate needs its key.
        assert!(Args::try_parse_from([
            "raftctl",
            "--masters",
            "a:1",
            "--tls-cert",
            "/c",
            "status"
        ])
        .is_err());
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for argv in [
            &[
                "raftctl",
                "--masters",
                "a:1",
                "members",
                "add",
                "0",
                "d:5050",
            ][..],
            &[
                "raftctl",
                "--masters",
                "a:1",
                "members",
                "add",
                "6",
                "not-an-address",
            ],
            &["raftctl", "--masters", "a:1", "members", "remove", "x"],
            &["raftctl", "--masters", "a", "status"],
            &["raftctl", "--masters", "a:1", "--timeout", "0", "status"],
            &["raftctl", "--masters", "a:1", "status", "-o", "yaml"],
            &["raftctl", "--masters", "a:1"],
        ] {
            let e = Args::try_parse_from(argv).expect_err(&format!("{argv:?} accepted"));
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
        let e = Args::try_parse_from([
            "raftctl",
            "--masters",
            "a:1",
            "members",
            "add",
            "0",
            "d:5050",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
    }

    #[tokio::test]
    async fn no_masters_is_a_usage_error() {
        let args = Args::try_parse_from(["raftctl", "--masters", "", "status"]);
        // An empty --masters is refused by the parser already...
        assert!(args.is_err());
        // ...and an empty list from nowhere is refused by `run`.
        let mut args = Args::try_parse_from(["raftctl", "--masters", "a:1", "status"]).unwrap();
        args.masters.clear();
        let e = execute(args, &mut Vec::new()).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("MESORAFT_MASTERS"));
    }

    #[test]
    fn duplicates_are_asked_once() {
        assert_eq!(
            dedup(&["a:1".into(), "b:1".into(), "a:1".into()]),
            vec!["a:1", "b:1"]
        );
    }
}
