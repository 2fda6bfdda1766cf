//! `test --all`: every nemesis pairing (no faults, each nemesis alone, all
//! together), each one run with the workloads composed against one
//! cluster, and a table of workload x nemesis with operation counts,
//! verdicts and unavailability windows.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::nemesis;
use crate::runner::{run_test, timestamp, TestOpts};

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
    pub attempted: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// `true` / `false` / `unknown`, or `ERROR ...` when the run broke.
    pub verdict: String,
    /// Per failover nemesis: (name, faults, p50 ms, max ms).
    pub unavailability: Vec<(String, u64, f64, f64)>,
    pub run_dir: String,
}

fn verdict_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The rows of one run's `results.json`.
pub fn rows(nemesis: &str, results: &Value, run_dir: &Path) -> Vec<Row> {
    let run_failed = results["error"].as_str();
    results["workloads"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|w| {
            let mut row = Row {
                nemesis: nemesis.to_string(),
                workload: w["workload"].as_str().unwrap_or("?").to_string(),
                attempted: 0,
                ok: 0,
                fail: 0,
                info: 0,
                verdict: match run_failed {
                    Some(e) => format!("ERROR {e}"),
                    None => verdict_text(&w["valid"]),
                },
                unavailability: Vec::new(),
                run_dir: run_dir.display().to_string(),
            };
            // Status polls are observations, not operations on the system.
            let ops = w["stats"]["operations"].as_object();
            for (_, counts) in ops.into_iter().flatten().filter(|(f, _)| *f != "status") {
                let n = |k: &str| counts[k].as_u64().unwrap_or(0);
                row.ok += n("ok");
                row.fail += n("fail");
                row.info += n("info");
            }
            row.attempted = row.ok + row.fail + row.info;
            if let Some(windows) = w["stats"]["unavailability"].as_object() {
                for (name, s) in windows {
                    row.unavailability.push((
                        name.clone(),
                        s["faults"].as_u64().unwrap_or(0),
                        s["p50_ms"].as_f64().unwrap_or(f64::NAN),
                        s["max_ms"].as_f64().unwrap_or(f64::NAN),
                    ));
                }
            }
            row
        })
        .collect()
}

/// A Markdown table of the rows.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| nemesis | workload | attempted | ok | fail | info | verdict | unavailability p50 / max (ms) |\n\
         |---|---|---:|---:|---:|---:|---|---|\n",
    );
    for r in rows {
        let unavailable = r
            .unavailability
            .iter()
            .map(|(n, faults, p50, max)| format!("{n} ({faults}x): {p50:.0} / {max:.0}"))
            .collect::<Vec<_>>()
            .join("; ");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.nemesis,
            r.workload,
            r.attempted,
            r.ok,
            r.fail,
            r.info,
            r.verdict,
            if unavailable.is_empty() {
                "-".into()
            } else {
                unavailable
            }
        ));
    }
    out
}

/// Runs every pairing with `base`'s workloads and settings; writes the
/// table to `<store>/matrix/<timestamp>.md` (and `.json`) and prints it.
/// True when every workload of every run passed.
pub async fn run_all(base: &TestOpts) -> anyhow::Result<bool> {
    let started = timestamp(SystemTime::now());
    let out_dir = base.store.join("matrix");
    std::fs::create_dir_all(&out_dir)?;
    let table_path = out_dir.join(format!("{started}-{}masters.md", base.masters));
    let mut all_rows: Vec<Row> = Vec::new();
    for nem in pairings() {
        let mut o = base.clone();
        o.nemeses = nem;
        let label = o
            .test_name()
            .split_once('-')
            .map_or(String::new(), |(_, n)| n.to_string());
        match run_test(&o).await {
            Ok(out) => all_rows.extend(rows(&label, &out.results, &out.dir)),
            Err(e) => all_rows.push(Row {
                nemesis: label,
                workload: o.workload.clone(),
                attempted: 0,
                ok: 0,
                fail: 0,
                info: 0,
                verdict: format!("ERROR {e:#}"),
                unavailability: Vec::new(),
                run_dir: String::new(),
            }),
        }
        // Written after every run, so a long matrix shows progress and a
        // crash loses nothing finished.
        let header = format!(
            "# jepsen matrix: {} masters, {} s per run, seed {}, workloads {}\n\n",
            base.masters,
            base.time_limit.as_secs(),
            base.seed,
            base.workload
        );
        std::fs::write(&table_path, header + &render(&all_rows))?;
        std::fs::write(
            table_path.with_extension("json"),
            serde_json::to_string_pretty(&all_rows)?,
        )?;
    }
    eprintln!(
        "\njepsen: --all summary (seed {}), also in {}:\n{}",
        base.seed,
        table_path.display(),
        render(&all_rows)
    );
    Ok(all_rows.iter().all(|r| r.verdict == "true"))
}

/// The table of a stored matrix (`<store>/matrix/<name>.json`), rebuilt
/// from each run's current `results.json` (e.g. after `check --rewrite`).
pub fn rebuild(matrix_json: &Path) -> anyhow::Result<String> {
    let stored: Vec<Value> = serde_json::from_slice(&std::fs::read(matrix_json)?)?;
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut out: Vec<Row> = Vec::new();
    for row in &stored {
        let nemesis = row["nemesis"].as_str().unwrap_or("?").to_string();
        let dir = row["run_dir"].as_str().unwrap_or("").to_string();
        if seen.contains(&(nemesis.clone(), dir.clone())) {
            continue;
        }
        seen.push((nemesis.clone(), dir.clone()));
        let results_path = Path::new(&dir).join("results.json");
        match std::fs::read(&results_path) {
            Ok(bytes) => {
                let results: Value = serde_json::from_slice(&bytes)?;
                out.extend(rows(&nemesis, &results, Path::new(&dir)));
            }
            // A run that broke before writing results keeps its stored row.
            Err(_) => out.push(serde_json::from_value(row.clone())?),
        }
    }
    Ok(render(&out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pairings_cover_none_each_and_all() {
        let p = pairings();
        assert_eq!(p.len(), nemesis::ALL.len() + 2);
        assert!(p[0].is_empty());
        assert_eq!(p.last().unwrap().len(), nemesis::ALL.len());
    }

    #[test]
    fn rows_count_operations_but_not_status_polls() {
        let results = json!({
            "error": null,
            "workloads": [{
                "workload": "election", "valid": true,
                "stats": {
                    "operations": {
                        "write": {"ok": 10, "fail": 2, "info": 1},
                        "read": {"ok": 5},
                        "status": {"ok": 100, "fail": 7},
                    },
                    "unavailability": {"kill": {"faults": 2, "p50_ms": 500.0, "max_ms": 700.0}},
                },
            }],
        });
        let r = rows("kill", &results, Path::new("/tmp/x"));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].attempted, r[0].ok, r[0].fail, r[0].info),
            (18, 15, 2, 1)
        );
        assert_eq!(r[0].verdict, "true");
        let table = render(&r);
        assert!(
            table.contains("| kill | election | 18 | 15 | 2 | 1 | true | kill (2x): 500 / 700 |"),
            "{table}"
        );
    }
}
