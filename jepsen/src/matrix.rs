//! `test --all`: every nemesis pairing (no faults, each nemesis alone, all
//! together), each one run with the workloads composed against one
//! cluster, and a table of workload x nemesis with operation counts,
//! injections per nemesis, verdicts and unavailability.
//!
//! Every other run uses `--snapshot-logs 100` (unless the base settings
//! choose a value), so snapshots are taken and installed under faults.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::figures::stats::{OutcomeCounts, Unavailability};
use crate::nemesis;
use crate::results::{RunResults, Verdict};
use crate::runner::{run_test, timestamp, TestOpts};

/// Snapshot interval of every other run of the matrix.
pub const SNAPSHOT_LOGS: u64 = 100;

/// No faults, each nemesis alone, then all of them together.
pub fn pairings() -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![vec![]];
    out.extend(nemesis::ALL.iter().map(|n| vec![n.to_string()]));
    out.push(nemesis::ALL.iter().map(|n| n.to_string()).collect());
    out
}

/// One workload of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub nemesis: String,
    pub workload: String,
    pub counts: OutcomeCounts,
    /// Per requested nemesis of the run: `injected/attempted` and problems.
    pub injections: Vec<(String, String)>,
    pub snapshot_logs: Option<u64>,
    pub verdict: Verdict,
    /// The harness error, when the run broke.
    pub error: Option<String>,
    pub unavailability: Vec<(String, Unavailability)>,
    pub run_dir: String,
}

/// The rows of one run's results.
pub fn rows(nemesis: &str, results: &RunResults, run_dir: &Path) -> Vec<Row> {
    let injections: Vec<(String, String)> = results
        .injections
        .iter()
        .map(|(n, i)| (n.clone(), i.render()))
        .collect();
    results
        .workloads
        .iter()
        .map(|w| Row {
            nemesis: nemesis.to_string(),
            workload: w.workload.clone(),
            counts: w.stats.operation_totals(),
            injections: injections.clone(),
            snapshot_logs: results.spec.snapshot_logs,
            verdict: w.verdict,
            error: results.error.clone(),
            unavailability: w
                .stats
                .unavailability
                .iter()
                .map(|(n, u)| (n.clone(), u.clone()))
                .collect(),
            run_dir: run_dir.display().to_string(),
        })
        .collect()
}

fn unavailability_cell(
    r: &Row,
    pick: impl Fn(&Unavailability) -> Option<crate::figures::stats::GapSummary>,
) -> String {
    let cells: Vec<String> = r
        .unavailability
        .iter()
        .filter_map(|(n, u)| {
            pick(u).map(|g| {
                if r.unavailability.len() == 1 {
                    format!("{} ({}x)", g.render(), u.faults)
                } else {
                    format!("{n} ({}x): {}", u.faults, g.render())
                }
            })
        })
        .collect();
    if cells.is_empty() {
        "-".into()
    } else {
        cells.join("; ")
    }
}

/// A Markdown table of the rows. Unavailability cells are p50 / max over
/// the faults in ms; `> X` marks a fault after which nothing was
/// acknowledged until the run ended (a lower bound).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| nemesis | workload | snapshot every | injections (injected/attempted) | attempted | ok | fail | info | verdict | write unavailability p50 / max (ms) | read unavailability p50 / max (ms) | worst client p50 / max (ms) |\n\
         |---|---|---:|---|---:|---:|---:|---:|---|---|---|---|\n",
    );
    for r in rows {
        let injections = if r.injections.is_empty() {
            "-".to_string()
        } else {
            r.injections
                .iter()
                .map(|(n, i)| format!("{n} {i}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let verdict = match &r.error {
            Some(e) if r.verdict == Verdict::Error => format!("ERROR {e}"),
            _ => r.verdict.to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.nemesis,
            r.workload,
            r.snapshot_logs
                .map_or("default".to_string(), |n| n.to_string()),
            injections,
            r.counts.attempted(),
            r.counts.ok,
            r.counts.fail,
            r.counts.info,
            verdict,
            unavailability_cell(r, |u| u.write),
            unavailability_cell(r, |u| u.read),
            unavailability_cell(r, |u| u.client_max),
        ));
    }
    out
}

/// Runs every pairing with `base`'s workloads and settings; see
/// [`run_pairings`].
pub async fn run_all(base: &TestOpts) -> anyhow::Result<Verdict> {
    run_pairings(base, &pairings()).await
}

/// Runs each pairing with `base`'s workloads and settings, every other one
/// with frequent snapshots; writes the table to
/// `<store>/matrix/<timestamp>-<n>masters.md` (and `.json`) after every
/// run and prints it. Returns the worst verdict of any row.
pub async fn run_pairings(base: &TestOpts, pairings: &[Vec<String>]) -> anyhow::Result<Verdict> {
    let started = timestamp(SystemTime::now());
    let out_dir = base.store.join("matrix");
    std::fs::create_dir_all(&out_dir)?;
    let table_path = out_dir.join(format!("{started}-{}masters.md", base.spec.masters));
    let mut all_rows: Vec<Row> = Vec::new();
    for (i, nem) in pairings.iter().enumerate() {
        let mut o = base.clone();
        o.spec.nemeses = nem.clone();
        if o.spec.snapshot_logs.is_none() && i % 2 == 1 {
            o.spec.snapshot_logs = Some(SNAPSHOT_LOGS);
        }
        let label = o
            .test_name()
            .split_once('-')
            .map_or(String::new(), |(_, n)| n.to_string());
        match run_test(&o).await {
            Ok(out) => all_rows.extend(rows(&label, &out.results, &out.dir)),
            Err(e) => all_rows.push(Row {
                nemesis: label,
                workload: o.spec.workload.clone(),
                counts: OutcomeCounts::default(),
                injections: Vec::new(),
                snapshot_logs: o.spec.snapshot_logs,
                verdict: Verdict::Error,
                error: Some(format!("{e:#}")),
                unavailability: Vec::new(),
                run_dir: String::new(),
            }),
        }
        // Written after every run, so a long matrix shows progress and a
        // crash loses nothing finished.
        let header = format!(
            "# jepsen matrix: {} masters, {} s per run, seed {}, workloads {}\n\n",
            base.spec.masters, base.spec.time_limit_s, base.spec.seed, base.spec.workload
        );
        std::fs::write(&table_path, header + &render(&all_rows))?;
        std::fs::write(
            table_path.with_extension("json"),
            serde_json::to_string_pretty(&all_rows)?,
        )?;
    }
    eprintln!(
        "\njepsen: --all summary (seed {}), also in {}:\n{}",
        base.spec.seed,
        table_path.display(),
        render(&all_rows)
    );
    Ok(all_rows
        .iter()
        .fold(Verdict::Pass, |v, r| v.worst(r.verdict)))
}

/// The table of a stored matrix (`<store>/matrix/<name>.json`), rebuilt
/// from each run's current `results.json` (e.g. after `check --rewrite`).
pub fn rebuild(matrix_json: &Path) -> anyhow::Result<String> {
    let stored: Vec<Row> = serde_json::from_slice(&std::fs::read(matrix_json)?)?;
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut out: Vec<Row> = Vec::new();
    for row in stored {
        let key = (row.nemesis.clone(), row.run_dir.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let results_path = Path::new(&row.run_dir).join("results.json");
        match RunResults::read(&results_path) {
            Ok(results) => out.extend(rows(&row.nemesis, &results, Path::new(&row.run_dir))),
            // A run that broke before writing results keeps its stored row.
            Err(_) => out.push(row),
        }
    }
    Ok(render(&out))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::figures::stats::{Gap, GapSummary, Stats};
    use crate::results::{Injections, WorkloadResults};
    use crate::spec::RunSpec;

    #[test]
    fn pairings_cover_none_each_and_all() {
        let p = pairings();
        assert_eq!(p.len(), nemesis::ALL.len() + 2);
        assert!(p[0].is_empty());
        assert_eq!(p.last().unwrap().len(), nemesis::ALL.len());
    }

    fn gap(ms: f64, recovered: bool) -> Gap {
        Gap { ms, recovered }
    }

    #[test]
    fn rows_count_operations_show_injections_and_lower_bounds() {
        let mut results = RunResults::empty("t", RunSpec::default());
        let mut operations = BTreeMap::new();
        operations.insert(
            "write".to_string(),
            OutcomeCounts {
                ok: 10,
                fail: 2,
                info: 1,
            },
        );
        operations.insert(
            "read".to_string(),
            OutcomeCounts {
                ok: 5,
                ..Default::default()
            },
        );
        operations.insert(
            "status".to_string(),
            OutcomeCounts {
                ok: 100,
                fail: 7,
                info: 0,
            },
        );
        let mut unavailability = BTreeMap::new();
        unavailability.insert(
            "kill".to_string(),
            Unavailability {
                faults: 2,
                write: Some(GapSummary {
                    p50: gap(500.0, true),
                    max: gap(700.0, false),
                    unrecovered: 1,
                }),
                read: None,
                client_max: None,
                min_reads_ok: 0,
            },
        );
        results.workloads.push(WorkloadResults {
            workload: "election".into(),
            verdict: Verdict::Untested,
            checkers: Vec::new(),
            stats: Stats {
                operations,
                unavailability,
                ..Default::default()
            },
        });
        results.injections.insert(
            "kill".into(),
            Injections {
                attempted: 3,
                injected: 2,
                not_injected: 1,
                ..Default::default()
            },
        );
        let r = rows("kill", &results, Path::new("/tmp/x"));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (
                r[0].counts.attempted(),
                r[0].counts.ok,
                r[0].counts.fail,
                r[0].counts.info
            ),
            (18, 15, 2, 1),
            "status polls are not operations"
        );
        let table = render(&r);
        assert!(
            table.contains(
                "| kill | election | default | kill 2/3, 1 no-op | 18 | 15 | 2 | 1 | untested | 500 / > 700 (2x) | - | - |"
            ),
            "{table}"
        );
    }
}
