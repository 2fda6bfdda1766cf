//! The test kit's `AgentSimCmd` spells `mesoraft agent-sim`'s flags for
//! the Jepsen bench; this pins it to the simulator's own parser: every
//! combination of options the builder can produce parses into `SimArgs`
//! with the values given.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mesoraft_agent::sim::{Reconnect, SimArgs, TaskMode};
use mesoraft_testkit::AgentSimCmd;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(name = "agent-sim")]
    AgentSim(Box<SimArgs>),
}

fn parse(cmd: &AgentSimCmd) -> SimArgs {
    let argv = std::iter::once("mesoraft".to_string()).chain(cmd.args());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Cmd::AgentSim(args),
        }) => *args,
        Err(e) => panic!("the simulator refuses {:?}: {e}", cmd.args()),
    }
}

#[test]
fn every_command_the_test_kit_builds_parses_as_simulator_flags() {
    let base = || AgentSimCmd::new(["127.0.0.1:7001", "127.0.0.1:7002"], 250);
    let defaults = parse(&base());
    assert_eq!(defaults.masters, "127.0.0.1:7001,127.0.0.1:7002");
    assert_eq!(defaults.agents, 250);
    let options = 11;
    for combo in 0..(1u32 << options) {
        let on = |i: u32| combo & (1 << i) != 0;
        let mut cmd = base();
        if on(0) {
            cmd = cmd.id_prefix("p1-");
        }
        if on(1) {
            cmd = cmd.hostname_prefix("h1-");
        }
        if on(2) {
            cmd = cmd.tasks_per_agent(3);
        }
        if on(3) {
            cmd = cmd.cluster_secret_file("/secret");
        }
        if on(4) {
            cmd = cmd.report("/tmp/r.jsonl");
        }
        if on(5) {
            cmd = cmd.connect_rate(7);
        }
        if on(6) {
            cmd = cmd.registration_backoff_factor(Duration::from_millis(250));
        }
        if on(7) {
            cmd = cmd.agents_per_connection(1);
        }
        if on(8) {
            cmd = cmd.reconnect("backoff");
        }
        if on(9) {
            cmd = cmd.resources("cpus:1;mem:512;ports:[1-2]");
        }
        if on(10) {
            cmd = cmd.tasks(if on(0) { "run" } else { "finish" });
        }
        let a = parse(&cmd);
        let or = |set: bool, given: String, default: &String| {
            if set {
                given
            } else {
                default.clone()
            }
        };
        assert_eq!(a.id_prefix, or(on(0), "p1-".into(), &defaults.id_prefix));
        assert_eq!(
            a.hostname_prefix,
            or(on(1), "h1-".into(), &defaults.hostname_prefix)
        );
        assert_eq!(
            a.tasks_per_agent,
            if on(2) { 3 } else { defaults.tasks_per_agent }
        );
        assert_eq!(
            a.cluster_secret_file,
            on(3).then(|| PathBuf::from("/secret"))
        );
        assert_eq!(a.report, on(4).then(|| PathBuf::from("/tmp/r.jsonl")));
        assert_eq!(
            a.connect_rate,
            if on(5) { 7 } else { defaults.connect_rate }
        );
        assert_eq!(
            a.registration_backoff_factor,
            if on(6) {
                Duration::from_millis(250)
            } else {
                defaults.registration_backoff_factor
            }
        );
        assert_eq!(
            a.agents_per_connection,
            if on(7) {
                1
            } else {
                defaults.agents_per_connection
            }
        );
        assert_eq!(
            a.reconnect,
            if on(8) {
                Reconnect::Backoff
            } else {
                defaults.reconnect
            }
        );
        assert_eq!(
            a.resources,
            or(
                on(9),
                "cpus:1;mem:512;ports:[1-2]".into(),
                &defaults.resources
            )
        );
        let mode = match (on(10), on(0)) {
            (false, _) => defaults.tasks,
            (true, true) => TaskMode::Run,
            (true, false) => TaskMode::Finish,
        };
        assert_eq!(a.tasks, mode);
        assert!(a.config().is_ok(), "{:?}", cmd.args());
    }
    assert_eq!(
        defaults.tasks,
        TaskMode::Ignore,
        "registration benches launch nothing"
    );
}
