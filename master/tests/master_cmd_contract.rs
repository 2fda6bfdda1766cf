//! The test kit's `MasterCmd` is the one place that spells the master's
//! flags for tests and the Jepsen harness; this pins it to the master's own
//! parser. Every combination of options the builder can produce must parse
//! into `MasterArgs` with the values given, so a renamed or retyped flag
//! fails here instead of in a cluster run.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mesoraft_master::MasterArgs;
use mesoraft_testkit::master_cmd::{AgentHealth, Group, TlsFiles, MASTER_SUBCOMMAND};
use mesoraft_testkit::MasterCmd;

/// The `mesoraft` binary's shape: the master's flags under `master`.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Master(Box<MasterArgs>),
}

fn parse(cmd: &MasterCmd) -> MasterArgs {
    let argv = std::iter::once("mesoraft".to_string()).chain(cmd.args());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Cmd::Master(args),
        }) => *args,
        Err(e) => panic!("the master refuses {:?}: {e}", cmd.args()),
    }
}

/// Bit `i` of `combo`.
fn on(combo: u32, i: u32) -> bool {
    combo & (1 << i) != 0
}

#[test]
fn every_command_the_test_kit_builds_parses_as_master_flags() {
    let peers = vec![
        (1, "127.0.0.1:7001".to_string()),
        (2, "127.0.0.1:7002".into()),
    ];
    let join = vec!["127.0.0.1:7001".to_string(), "127.0.0.1:7003".into()];
    let tls = TlsFiles {
        cert: "/pki/cert.pem".into(),
        key: "/pki/key.pem".into(),
        ca: "/pki/ca.pem".into(),
    };
    // What the master picks when a flag is left out.
    let defaults = parse(&MasterCmd::new(1, "127.0.0.1:7001", "/data/m1").peers(peers.clone()));
    let options = 11;
    let health = AgentHealth {
        ping_timeout: std::time::Duration::from_millis(1500),
        max_ping_timeouts: 3,
        reregister_timeout: std::time::Duration::from_secs(4),
        removal_rate_limit: Some("2/10mins".into()),
        recovery_removal_limit: Some("50%".into()),
    };
    for combo in 0..(1u32 << options) {
        let mut cmd = MasterCmd::new(1, "127.0.0.1:7001", "/data/m1");
        cmd = if on(combo, 0) {
            cmd.join(join.clone())
        } else {
            cmd.peers(peers.clone())
        };
        if on(combo, 1) {
            cmd = cmd.cluster_secret_file("/etc/mesoraft/secret");
        }
        if on(combo, 2) {
            cmd = cmd.tls(tls.clone());
        }
        let heartbeat = on(combo, 3).then_some(40);
        let election_min = on(combo, 4).then_some(200);
        let election_max = on(combo, 5).then_some(400);
        let snapshot_logs = on(combo, 6).then_some(25);
        cmd = cmd
            .heartbeat_interval_ms(heartbeat)
            .election_timeout_min_ms(election_min)
            .election_timeout_max_ms(election_max)
            .snapshot_logs(snapshot_logs)
            .stale_reads(on(combo, 7))
            .skip_fsync(on(combo, 8))
            .forget_unreachable_tasks(on(combo, 10))
            .agent_health(on(combo, 9).then(|| health.clone()));
        assert_eq!(cmd.args()[0], MASTER_SUBCOMMAND);

        let args = parse(&cmd);
        assert_eq!(args.id, 1);
        assert_eq!(args.listen, "127.0.0.1:7001");
        assert_eq!(args.work_dir, PathBuf::from("/data/m1"));
        match cmd.group() {
            Some(Group::Join(addrs)) => {
                assert_eq!(&args.join, addrs);
                assert!(args.peers.is_none());
            }
            Some(Group::Peers(list)) => {
                let parsed: Vec<(u64, String)> =
                    args.peers.clone().unwrap_or_default().into_iter().collect();
                assert_eq!(&parsed, list);
                assert!(args.join.is_empty());
            }
            None => unreachable!("every command here names its group"),
        }
        if on(combo, 1) {
            assert_eq!(
                args.security.cluster_secret_file,
                Some(PathBuf::from("/etc/mesoraft/secret"))
            );
        }
        if on(combo, 2) {
            assert_eq!(args.security.tls_cert, Some(tls.cert.clone()));
            assert_eq!(args.security.tls_key, Some(tls.key.clone()));
            assert_eq!(args.security.tls_ca, Some(tls.ca.clone()));
        }
        let d = &defaults;
        if on(combo, 9) {
            let policy = args.agents.policy();
            assert_eq!(policy.ping_timeout, health.ping_timeout);
            assert_eq!(policy.max_ping_timeouts, 3);
            assert_eq!(policy.reregister_timeout, health.reregister_timeout);
            let rate = policy.removal_rate.expect("the rate limit arrives");
            assert_eq!((rate.count, rate.per.as_secs()), (2, 600));
            assert_eq!(policy.recovery_removal_limit, 0.5);
        } else {
            assert_eq!(args.agents.policy(), d.agents.policy());
        }
        assert_eq!(
            args.heartbeat_interval_ms,
            heartbeat.unwrap_or(d.heartbeat_interval_ms)
        );
        assert_eq!(
            args.election_timeout_min_ms,
            election_min.unwrap_or(d.election_timeout_min_ms)
        );
        assert_eq!(
            args.election_timeout_max_ms,
            election_max.unwrap_or(d.election_timeout_max_ms)
        );
        assert_eq!(args.snapshot_logs, snapshot_logs.unwrap_or(d.snapshot_logs));
        assert_eq!(args.debug_unsafe_stale_reads, on(combo, 7));
        assert_eq!(args.debug_unsafe_skip_fsync, on(combo, 8));
        assert_eq!(args.debug_unsafe_forget_unreachable_tasks, on(combo, 10));
    }
}

#[test]
fn a_command_without_a_group_parses_and_extra_flags_pass_through() {
    let bare = MasterCmd::new(3, "127.0.0.1:7003", "/data/m3");
    let args = parse(&bare);
    assert!(args.peers.is_none() && args.join.is_empty());
    let args = parse(&bare.extra(["--write-timeout-ms", "900"]));
    assert_eq!(args.write_timeout_ms, 900);
}
