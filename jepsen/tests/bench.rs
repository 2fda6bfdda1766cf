//! `jepsen bench` against real masters (release binaries, built by the
//! harness): short failover and throughput runs complete and print their
//! tables. No timing is asserted: the figures depend on the machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jepsen::cluster::binaries;

/// Each bench run must finish within this.
const LIMIT: Duration = Duration::from_secs(90);

fn store() -> PathBuf {
    jepsen::default_store().join("cargo-test")
}

/// Runs `jepsen bench ARGS`, returns (stdout, stderr). On time-out the
/// bench gets SIGTERM (its handler kills the masters), then SIGKILL.
fn bench(bin_dir: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jepsen"))
        .arg("bench")
        .args(args)
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--store")
        .arg(store())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting jepsen bench");
    let pid = child.id() as i32;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = tx.send((s, child.wait()));
    });
    let started = Instant::now();
    let (stdout, status) = match rx.recv_timeout(LIMIT) {
        Ok(done) => done,
        Err(_) => {
            // SAFETY: signalling the child we started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if rx.recv_timeout(Duration::from_secs(15)).is_err() {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            panic!(
                "jepsen bench {args:?} did not finish within {LIMIT:?}; stderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
    };
    let stderr = stderr.join().unwrap_or_default();
    eprintln!("jepsen bench {args:?}: {:?}\n{stdout}", started.elapsed());
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "jepsen bench {args:?} exited {status:?}; stderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn no_master_left(run_dir_marker: &str) {
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(run_dir_marker))
        .collect();
    assert!(left.is_empty(), "processes left running: {left:?}");
}

#[test]
fn bench_failover_and_throughput_print_their_figures() {
    let bins = binaries::real(None, false).expect("building and finding mesoraft");
    let bin_dir = bins.master.parent().unwrap().to_path_buf();
    let json = tempfile::NamedTempFile::new().unwrap();
    let json_path = json.path().to_str().unwrap().to_string();

    let (out, _) = bench(
        &bin_dir,
        &["failover", "--trials", "2", "--json", &json_path],
    );
    for want in [
        "== failover",
        "n (ok / trials)",
        "p50 (ms)",
        "p90 (ms)",
        "p99 (ms)",
        "max (ms)",
        "min (ms)",
        "terms per failover",
        "heartbeat 50 ms (default)",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let report = &figures["failover"][0];
    assert_eq!(report["system"], "mesoraft");
    assert_eq!(report["trials"].as_array().map(Vec::len), Some(2));
    let run_dir = figures["parameters"]["run_dir"]
        .as_str()
        .unwrap()
        .to_string();
    no_master_left(&run_dir);

    let (out, _) = bench(
        &bin_dir,
        &[
            "throughput",
            "--seconds",
            "2",
            "--writers",
            "1,4",
            "--json",
            &json_path,
        ],
    );
    for want in [
        "== throughput",
        "writes/s",
        "p50 (ms)",
        "p99 (ms)",
        "errors",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    // Table rows: the system, then the writer count (an errors line
    // after the table also starts with the system's name).
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some("mesoraft")
                && words.next().is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(rows.len(), 2, "one row per writer count:\n{out}");
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let runs = figures["throughput"]["runs"].as_array().unwrap();
    let writers: Vec<u64> = runs.iter().filter_map(|r| r["writers"].as_u64()).collect();
    assert_eq!(writers, vec![1, 4]);
    no_master_left(figures["parameters"]["run_dir"].as_str().unwrap());
}
