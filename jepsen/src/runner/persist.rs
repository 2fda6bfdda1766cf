//! The last phase of a run: `results.json` and `report.html` in the run
//! directory; node data is deleted after a pass unless asked to keep it.

use std::path::Path;

use anyhow::Context;

use super::TestOpts;
use crate::history::Op;
use crate::report;
use crate::results::RunResults;

/// results.json and report.html; node data is deleted after a pass.
pub(super) fn persist(
    opts: &TestOpts,
    dir: &Path,
    results: &RunResults,
    history: &[Op],
) -> anyhow::Result<()> {
    write_results(dir, results, history)?;
    if results.verdict.is_pass() && !opts.keep_data {
        let _ = std::fs::remove_dir_all(dir.join("data"));
    }
    eprintln!(
        "jepsen: {}: {}{} -> {}",
        results.test,
        results.verdict,
        if results.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", results.reasons.join("; "))
        },
        dir.join("report.html").display()
    );
    Ok(())
}

/// `results.json` and the `report.html` rendered from it (also what
/// `check --rewrite` replaces).
pub fn write_results(dir: &Path, results: &RunResults, history: &[Op]) -> anyhow::Result<()> {
    results.write(&dir.join("results.json"))?;
    let html = dir.join("report.html");
    std::fs::write(&html, report::html::render(results, history))
        .with_context(|| format!("writing {}", html.display()))
}
