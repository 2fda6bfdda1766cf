//! The test kit's `AgentCmd` is the one place that spells the agent's
//! flags for tests, the Jepsen harness and `mesoraft local`; this pins it
//! to the agent's own parser. Every combination of options the builder can
//! produce must parse into `AgentArgs` with the values given, so a renamed
//! or retyped flag fails here instead of in a cluster run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mesoraft_agent::reconfig::ReconfigurationPolicy;
use mesoraft_agent::recovery::RecoverMode;
use mesoraft_agent::AgentArgs;
use mesoraft_testkit::agent_cmd::{self, Recover, AGENT_SUBCOMMAND};
use mesoraft_testkit::AgentCmd;

/// The `mesoraft` binary's shape: the agent's flags under `agent`.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Agent(Box<AgentArgs>),
}

fn parse(cmd: &AgentCmd) -> AgentArgs {
    let argv = std::iter::once("mesoraft".to_string()).chain(cmd.args());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Cmd::Agent(args),
        }) => *args,
        Err(e) => panic!("the agent refuses {:?}: {e}", cmd.args()),
    }
}

/// Bit `i` of `combo`.
fn on(combo: u32, i: u32) -> bool {
    combo & (1 << i) != 0
}

fn base() -> AgentCmd {
    AgentCmd::new(
        ["127.0.0.1:7001", "127.0.0.1:7002"],
        "127.0.0.1:5051",
        "/data/a1",
    )
}

#[test]
fn every_command_the_test_kit_builds_parses_as_agent_flags() {
    // What the agent picks when a flag is left out.
    let defaults = parse(&base());
    let options = 14;
    for combo in 0..(1u32 << options) {
        let mut cmd = base();
        if on(combo, 0) {
            cmd = cmd.advertise_address("agent1:5051");
        }
        if on(combo, 1) {
            cmd = cmd.hostname("agent1.example.com");
        }
        if on(combo, 2) {
            cmd = cmd.resources("cpus:2;mem:1024;disk:1024;ports:[31000-31100]");
        }
        if on(combo, 3) {
            cmd = cmd.attributes("rack:r1;zone:a");
        }
        let recover = on(combo, 4).then_some(if on(combo, 5) {
            Recover::Cleanup
        } else {
            Recover::Reconnect
        });
        let policy = on(combo, 6).then_some(agent_cmd::ReconfigurationPolicy::Additive);
        let grace = on(combo, 7).then_some(Duration::from_millis(1500));
        // Sub-millisecond, to pin the nanosecond spelling too.
        let backoff = on(combo, 8).then_some(Duration::from_nanos(250));
        let retry = on(combo, 9).then_some(Duration::from_secs(2));
        cmd = cmd
            .recover(recover)
            .reconfiguration_policy(policy)
            .executor_shutdown_grace_period(grace)
            .registration_backoff_factor(backoff)
            .status_update_retry_interval_min(retry);
        if on(combo, 10) {
            cmd = cmd.cluster_secret_file("/etc/mesoraft/secret");
        }
        if on(combo, 11) {
            cmd = cmd.boot_id_file("/tmp/boot_id");
        }
        if on(combo, 12) {
            cmd = cmd.tls_ca("/etc/mesoraft/ca.pem");
        }
        if on(combo, 13) {
            cmd = cmd.tls_identity("/etc/mesoraft/agent.pem", "/etc/mesoraft/agent-key.pem");
        }
        assert_eq!(cmd.args()[0], AGENT_SUBCOMMAND);

        let args = parse(&cmd);
        let d = &defaults;
        assert_eq!(args.masters, cmd.masters().join(","));
        assert_eq!(args.listen, cmd.listen());
        assert_eq!(args.work_dir, cmd.work_dir());
        let given = |bit: u32, value: &str| on(combo, bit).then(|| value.to_string());
        assert_eq!(args.advertise_address, given(0, "agent1:5051"));
        assert_eq!(args.hostname, given(1, "agent1.example.com"));
        assert_eq!(
            args.resources,
            given(2, "cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
        );
        assert_eq!(args.attributes, given(3, "rack:r1;zone:a"));
        let want_recover = match recover {
            None => d.recover,
            Some(Recover::Reconnect) => RecoverMode::Reconnect,
            Some(Recover::Cleanup) => RecoverMode::Cleanup,
        };
        assert_eq!(args.recover, want_recover);
        let want_policy = match policy {
            None => d.reconfiguration_policy,
            Some(agent_cmd::ReconfigurationPolicy::Equal) => ReconfigurationPolicy::Equal,
            Some(agent_cmd::ReconfigurationPolicy::Additive) => ReconfigurationPolicy::Additive,
        };
        assert_eq!(args.reconfiguration_policy, want_policy);
        assert_eq!(
            args.executor_shutdown_grace_period,
            grace.unwrap_or(d.executor_shutdown_grace_period)
        );
        assert_eq!(
            args.registration_backoff_factor,
            backoff.unwrap_or(d.registration_backoff_factor)
        );
        assert_eq!(
            args.status_update_retry_interval_min,
            retry.unwrap_or(d.status_update_retry_interval_min)
        );
        if on(combo, 10) {
            assert_eq!(
                args.cluster_secret_file,
                Some(PathBuf::from("/etc/mesoraft/secret"))
            );
        }
        let want_boot = on(combo, 11).then(|| PathBuf::from("/tmp/boot_id"));
        assert_eq!(args.boot_id_file, want_boot);
        let path = |bit: u32, p: &str| on(combo, bit).then(|| PathBuf::from(p));
        assert_eq!(args.tls_ca, path(12, "/etc/mesoraft/ca.pem"));
        assert_eq!(args.tls_cert, path(13, "/etc/mesoraft/agent.pem"));
        assert_eq!(args.tls_key, path(13, "/etc/mesoraft/agent-key.pem"));
    }
}

#[test]
fn both_policies_and_modes_parse_and_extra_flags_pass_through() {
    for (policy, want) in [
        (
            agent_cmd::ReconfigurationPolicy::Equal,
            ReconfigurationPolicy::Equal,
        ),
        (
            agent_cmd::ReconfigurationPolicy::Additive,
            ReconfigurationPolicy::Additive,
        ),
    ] {
        let args = parse(&base().reconfiguration_policy(policy));
        assert_eq!(args.reconfiguration_policy, want);
    }
    let args = parse(&base().extra(["--recover", "cleanup"]));
    assert_eq!(args.recover, RecoverMode::Cleanup);
}

#[test]
fn a_command_with_every_option_validates_into_a_config() {
    let cmd = base()
        .advertise_address("agent1:5051")
        .hostname("agent1")
        .resources("cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
        .attributes("rack:r1")
        .registration_backoff_factor(Duration::ZERO);
    let config = parse(&cmd).config().expect("the flags validate");
    assert_eq!(config.masters.len(), 2);
    assert_eq!(config.info.hostname, "agent1");
    assert_eq!(config.info.resources.len(), 4);
}
