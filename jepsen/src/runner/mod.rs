//! One test run, end to end, in four phases, each in its own module:
//! [`setup`] (run directory, network, cluster, nemeses, schedule),
//! [`drive`] (workload and fault schedule concurrently for the time limit,
//! heal, final operations, convergence), [`check`] (every workload's
//! checkers on its own operations, run-level checks, the verdict) and
//! [`persist`] (history, results.json, report.html). [`recheck`] re-judges
//! a stored run (`jepsen check`).

mod check;
mod drive;
mod persist;
pub mod recheck;
mod setup;

#[cfg(test)]
mod round_trip_tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cluster::Binaries;
use crate::history::{self, Recorder};
use crate::nemesis;
use crate::results::{RunResults, UnexpectedExit, Verdict};
use crate::spec::RunSpec;
use crate::workload;
use check::{check, CheckInputs};
pub use check::{judge_parts, rejudge};
use drive::{drive, RunGuard};
use persist::persist;
pub use persist::write_results;
use setup::setup;
pub use setup::ScheduleFile;

/// How long the cluster gets to elect a leader (start and after heal).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct TestOpts {
    /// Everything that determines the run (and reproduces it).
    pub spec: RunSpec,
    pub binaries: Binaries,
    pub store: PathBuf,
    /// Keep node data directories even when the run passes.
    pub keep_data: bool,
    /// How long the cluster gets to elect a leader (start and after heal).
    pub ready_timeout: Duration,
}

impl TestOpts {
    pub fn new(workload: &str, nemeses: &[&str], binaries: Binaries) -> Self {
        Self::from_spec(
            RunSpec {
                workload: workload.into(),
                nemeses: nemeses.iter().map(|s| s.to_string()).collect(),
                ..RunSpec::default()
            },
            binaries,
        )
    }

    pub fn from_spec(spec: RunSpec, binaries: Binaries) -> Self {
        Self {
            spec,
            binaries,
            store: crate::default_store(),
            keep_data: false,
            ready_timeout: READY_TIMEOUT,
        }
    }

    pub fn test_name(&self) -> String {
        let nemeses = &self.spec.nemeses;
        let everything = nemesis::ALL.len() == nemeses.len()
            && nemesis::ALL.iter().all(|n| nemeses.iter().any(|m| m == n));
        let nem = if nemeses.is_empty() {
            "none".to_string()
        } else if everything {
            "all".to_string()
        } else {
            nemeses.join("+")
        };
        let workloads = workload::names(&self.spec.workload)
            .map(|names| names.join("+"))
            .unwrap_or_else(|_| self.spec.workload.replace(',', "+"));
        let mut name = format!("{workloads}-{nem}");
        if self.spec.stale_reads {
            name.push_str("-STALE-READS");
        }
        if self.spec.skip_fsync {
            name.push_str("-SKIP-FSYNC");
        }
        if self.spec.forget_unreachable_tasks {
            name.push_str("-FORGET-UNREACHABLE-TASKS");
        }
        name
    }

    /// The command line that repeats this run's schedule.
    pub fn reproduce(&self) -> String {
        self.spec.reproduce()
    }
}

pub struct RunOutcome {
    pub dir: PathBuf,
    pub results: RunResults,
}

impl RunOutcome {
    pub fn verdict(&self) -> Verdict {
        self.results.verdict
    }
}

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC, without a date library.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Runs one test: setup, drive, check, persist. An `Err` means the run
/// could not even be set up or its files could not be written; everything
/// else that went wrong is in the results' verdict.
pub async fn run_test(opts: &TestOpts) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let setup = setup(opts)?;
    let recorder = Arc::new(Recorder::new(Instant::now()));
    // On Ctrl-C the emergency cleanup also saves what was recorded so far.
    let partial = {
        let (rec, path) = (recorder.clone(), setup.dir.join("history.partial.jsonl"));
        crate::cleanup::register_teardown(Arc::new(move || {
            let _ = history::write_jsonl(&path, &rec.snapshot());
        }))
    };
    let guard = RunGuard {
        cluster: setup.cluster.clone(),
        net: setup.net.clone(),
    };
    let driven = drive(opts, &setup, recorder.clone()).await;
    crate::cleanup::unregister_teardown(partial);
    let exits: Vec<UnexpectedExit> = setup
        .cluster
        .unexpected_exits()
        .into_iter()
        .map(|(node, status)| UnexpectedExit { node, status })
        .collect();
    let network = setup.net.describe();
    drop(guard);

    let history = recorder.snapshot();
    history::write_jsonl(&setup.dir.join("history.jsonl"), &history)?;
    eprintln!("jepsen: {} history records; checking", history.len());
    let injections = setup
        .injections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let history = Arc::new(history);
    let results = check(
        opts,
        &setup.workload,
        history.clone(),
        CheckInputs {
            driven,
            exits,
            injections,
            network,
            duration_s: started.elapsed().as_secs_f64(),
        },
    )
    .await?;
    persist(opts, &setup.dir, &results, &history)?;
    Ok(RunOutcome {
        dir: setup.dir,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000_000_123);
        assert_eq!(timestamp(t), "20010909T014640.123Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "20000229T000000.000Z");
    }

    #[test]
    fn names_and_reproduction() {
        let bins = crate::cluster::binaries::fake(std::path::Path::new("/x/jepsen"));
        let mut o = TestOpts::new("register", &["partition", "kill"], bins);
        o.spec.seed = 7;
        assert_eq!(o.test_name(), "register-partition+kill");
        assert!(o.reproduce().contains("--nemesis partition,kill"));
        assert!(o.reproduce().contains("--seed 7"));
        o.spec.nemeses = nemesis::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(o.test_name(), "register-all");
        o.spec.nemeses.clear();
        o.spec.stale_reads = true;
        assert_eq!(o.test_name(), "register-none-STALE-READS");
    }
}
