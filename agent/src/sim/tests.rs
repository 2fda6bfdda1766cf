//! The simulator's flags.

use clap::Parser;

use super::*;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: SimArgs,
}

fn parse(argv: &[&str]) -> Result<SimArgs, clap::Error> {
    let mut all = vec!["agent-sim"];
    all.extend_from_slice(argv);
    Wrap::try_parse_from(all).map(|w| w.args)
}

#[test]
fn defaults_give_a_thousand_agents_with_ten_tasks_each() {
    let c = parse(&["--masters", "127.0.0.1:5050"])
        .unwrap()
        .config()
        .unwrap();
    assert_eq!(c.agents, 1000);
    assert_eq!(c.tasks_per_agent, 10);
    assert_eq!(c.agents_per_connection, 100);
    assert_eq!(c.connect_rate, 1024);
    assert_eq!(c.registration_backoff_factor, Duration::from_secs(1));
    assert!(c.report.is_none() && c.cluster_secret_file.is_none());
    assert_eq!(c.reconnect, Reconnect::Agent);
    assert_eq!(c.task_mode, TaskMode::Ignore);
    assert_eq!(c.fleet.name(3), "sim-3");
    assert_eq!(c.fleet.hostname(3), "sim-agent-3");
}

#[test]
fn every_flag() {
    let c = parse(&[
        "--masters",
        "a:1,b:2",
        "--agents",
        "40000",
        "--id-prefix",
        "p2-",
        "--hostname-prefix",
        "h2-",
        "--tasks-per-agent",
        "0",
        "--resources",
        "cpus:1;mem:512;disk:1024;ports:[1-2]",
        "--cluster-secret-file",
        "/s",
        "--report",
        "/r.jsonl",
        "--connect-rate",
        "16",
        "--registration-backoff-factor",
        "500ms",
        "--agents-per-connection",
        "1",
        "--reconnect",
        "backoff",
        "--tasks",
        "finish",
    ])
    .unwrap()
    .config()
    .unwrap();
    assert_eq!(c.masters.len(), 2);
    assert_eq!(c.agents, 40_000);
    assert_eq!(c.fleet.name(1), "p2-1");
    assert_eq!(c.fleet.hostname(1), "h2-1");
    assert_eq!(c.tasks_per_agent, 0);
    assert_eq!(c.cluster_secret_file, Some(PathBuf::from("/s")));
    assert_eq!(c.report, Some(PathBuf::from("/r.jsonl")));
    assert_eq!(c.connect_rate, 16);
    assert_eq!(c.registration_backoff_factor, Duration::from_millis(500));
    assert_eq!(c.agents_per_connection, 1);
    assert_eq!(c.reconnect, Reconnect::Backoff);
    assert_eq!(c.task_mode, TaskMode::Finish);
}

#[test]
fn bad_flags_are_named() {
    let error = |argv: &[&str]| {
        let mut all = vec!["--masters", "a:1"];
        all.extend_from_slice(argv);
        parse(&all).unwrap().config().unwrap_err().to_string()
    };
    assert!(error(&["--agents", "0"]).starts_with("--agents 0"));
    assert!(error(&["--tasks-per-agent", "5000"]).starts_with("--tasks-per-agent"));
    assert!(error(&["--connect-rate", "0"]).starts_with("--connect-rate"));
    let text = error(&["--agents-per-connection", "500"]);
    assert!(
        text.starts_with("--agents-per-connection 500") && text.contains("200 streams"),
        "{text}"
    );
    assert!(error(&["--hostname-prefix", "bad host "]).starts_with("--hostname-prefix"));
    assert!(error(&["--resources", "cpus:x"]).starts_with("--resources"));
    let masters = parse(&["--masters", "nope"])
        .unwrap()
        .config()
        .unwrap_err()
        .to_string();
    assert!(masters.starts_with("--masters"), "{masters}");
    let mode = parse(&["--masters", "a:1", "--tasks", "sleep"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(mode.contains("--tasks"), "{mode}");
}
