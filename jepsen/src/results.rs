//! The typed results of one run (`results.json`): written by the runner,
//! read back by the HTML report, the matrix table and `check --rewrite`.
//!
//! A run's verdict is not just its checkers': a run whose faults were not
//! injected has tested nothing about them (`untested`), a master that
//! exited by itself is a failure of the system, and a harness error makes
//! the run `error` unless a checker already found a violation (a violation
//! must never look like flakiness). [`judge`] is that rule, in one place.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checker::{CheckResult, Validity};
use crate::figures::Stats;
use crate::spec::RunSpec;

/// Version of the `results.json` layout.
pub const FORMAT: u32 = 3;

/// Formats this harness reads: format 2 differs only inside checkers'
/// `details` (per-register verdicts were `true`, `false` or `"unknown"`;
/// now `"true"`, `"false"` or `"unknown"` like every other verdict), which
/// no reader interprets.
const READABLE: [u32; 2] = [2, FORMAT];

/// What a run (or one workload of it) showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every checker passed and every requested fault was injected.
    Pass,
    /// A checker found a violation, or the system misbehaved outside the
    /// checkers (a master exited by itself, the group never recovered).
    Fail,
    /// The harness broke; the history may be partial.
    Error,
    /// A checker could not decide (e.g. search budget exhausted).
    Unknown,
    /// The checkers passed, but a requested fault was never injected, was
    /// skipped, or failed to inject: the run says nothing about it.
    Untested,
}

impl Verdict {
    pub fn is_pass(self) -> bool {
        self == Verdict::Pass
    }

    /// How bad it is: the worse verdict wins when combining.
    fn rank(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Untested => 1,
            Verdict::Unknown => 2,
            Verdict::Error => 3,
            Verdict::Fail => 4,
        }
    }

    pub fn worst(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    pub fn of_validity(v: Validity) -> Verdict {
        match v {
            Validity::True => Verdict::Pass,
            Validity::False => Verdict::Fail,
            Validity::Unknown => Verdict::Unknown,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Unknown => "unknown",
            Verdict::Untested => "untested",
        })
    }
}

/// How the injections of one nemesis went over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injections {
    /// Scheduled starts that ran.
    pub attempted: u64,
    /// Starts that put the fault in place.
    pub injected: u64,
    /// Starts that changed nothing because the fault's preconditions did
    /// not hold (e.g. no running master left to kill).
    pub not_injected: u64,
    /// Starts the harness failed to carry out (possibly partially).
    pub failed: u64,
    /// Why the nemesis could not run at all here (then nothing else is set).
    pub skipped: Option<String>,
}

impl Injections {
    /// Whether the run tested this fault at all.
    pub fn tested(&self) -> bool {
        self.skipped.is_none() && self.injected > 0 && self.failed == 0
    }

    /// `injected/attempted`, with what went wrong.
    pub fn render(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("skipped ({why})");
        }
        let mut s = format!("{}/{}", self.injected, self.attempted);
        if self.failed > 0 {
            s.push_str(&format!(", {} failed", self.failed));
        }
        if self.not_injected > 0 {
            s.push_str(&format!(", {} no-op", self.not_injected));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnexpectedExit {
    pub node: u64,
    pub status: String,
}

/// One workload of the run, judged on its own operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadResults {
    pub workload: String,
    /// Its checkers combined with the run-level findings.
    pub verdict: Verdict,
    pub checkers: Vec<CheckResult>,
    pub stats: Stats,
}

/// Everything `results.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub format: u32,
    pub test: String,
    pub verdict: Verdict,
    /// Why the verdict is not a pass, one line each.
    pub reasons: Vec<String>,
    /// Everything that determines the run; `reproduce` is its command line.
    pub spec: RunSpec,
    pub reproduce: String,
    pub network: String,
    pub binaries: String,
    pub duration_s: f64,
    /// The harness error that aborted the run, if any.
    pub error: Option<String>,
    /// What could not be undone when healing at the end.
    pub heal_problems: Vec<String>,
    /// False when the group never served a read after every fault was
    /// healed (within the harness's ready timeout).
    pub recovered_after_heal: bool,
    pub unexpected_exits: Vec<UnexpectedExit>,
    /// Per requested nemesis.
    pub injections: BTreeMap<String, Injections>,
    /// Checks of the whole run (e.g. every master converged to the same
    /// registry), on top of each workload's own checkers.
    pub run_checks: Vec<CheckResult>,
    pub workloads: Vec<WorkloadResults>,
    /// Figures over the whole history.
    pub stats: Stats,
}

impl RunResults {
    /// Results of a run that has not produced anything yet.
    pub fn empty(test: &str, spec: RunSpec) -> Self {
        RunResults {
            format: FORMAT,
            test: test.to_string(),
            verdict: Verdict::Pass,
            reasons: Vec::new(),
            reproduce: spec.reproduce(),
            spec,
            network: String::new(),
            binaries: String::new(),
            duration_s: 0.0,
            error: None,
            heal_problems: Vec::new(),
            recovered_after_heal: true,
            unexpected_exits: Vec::new(),
            injections: BTreeMap::new(),
            run_checks: Vec::new(),
            workloads: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Every checker of the run, workloads' and run-level.
    pub fn all_checkers(&self) -> impl Iterator<Item = &CheckResult> {
        self.workloads
            .iter()
            .flat_map(|w| w.checkers.iter())
            .chain(self.run_checks.iter())
    }

    /// Reads `results.json`. A file of another layout (an older harness, or
    /// no results file at all) is refused with what to do instead, never
    /// half-read into a verdict.
    pub fn read(path: &std::path::Path) -> anyhow::Result<RunResults> {
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let redo = "re-run the test, or re-check its history with \
                    `jepsen check DIR --workload W --rewrite`";
        match serde_json::from_slice::<FormatOnly>(&bytes) {
            Ok(FormatOnly { format: Some(f) }) if READABLE.contains(&f) => {}
            Ok(FormatOnly { format }) => anyhow::bail!(
                "{} has results format {}, this harness reads formats {READABLE:?} \
                 (writes format {FORMAT}); {redo}",
                path.display(),
                format.map_or("none".to_string(), |f| f.to_string()),
            ),
            Err(e) => anyhow::bail!("{} is not a results file: {e}; {redo}", path.display()),
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a results file of this harness (format {FORMAT}): {e}; {redo}",
                path.display()
            )
        })
    }

    /// Writes `results.json` (the layout [`RunResults::read`] reads).
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
    }
}

/// The one field read before the rest, to refuse other layouts clearly.
#[derive(Deserialize)]
struct FormatOnly {
    format: Option<u32>,
}

/// Run-level findings that are not checkers.
#[derive(Clone, Debug, Default)]
pub struct RunFindings<'a> {
    pub error: Option<&'a str>,
    pub heal_problems: &'a [String],
    pub recovered_after_heal: bool,
    pub unexpected_exits: &'a [UnexpectedExit],
    pub injections: Option<&'a BTreeMap<String, Injections>>,
    pub run_checks: &'a [CheckResult],
}

/// The result of a checker that panicked: it decided nothing, which the
/// verdict must show (never a pass, never a crash of the whole run).
pub fn checker_crashed(checker: &str, panic: &str) -> CheckResult {
    CheckResult {
        checker: checker.to_string(),
        valid: Validity::Unknown,
        summary: format!("the checker itself failed (a harness bug): {panic}"),
        details: crate::checker::details(&CrashDetails {
            panic: panic.to_string(),
        }),
    }
}

/// The `details` of a checker that panicked.
#[derive(Serialize)]
struct CrashDetails {
    panic: String,
}

fn validity_word(v: Validity) -> &'static str {
    match v {
        Validity::True => "passed",
        Validity::False => "failed",
        Validity::Unknown => "could not decide",
    }
}

/// The verdict of one workload (its checkers) under the run's findings,
/// with the reasons it is not a pass.
pub fn judge(checkers: &[CheckResult], run: &RunFindings) -> (Verdict, Vec<String>) {
    let mut verdict = Verdict::Pass;
    let mut reasons = Vec::new();
    let mut note = |v: Verdict, why: String, verdict: &mut Verdict| {
        *verdict = verdict.worst(v);
        reasons.push(why);
    };
    for c in checkers.iter().chain(run.run_checks) {
        if c.valid != Validity::True {
            note(
                Verdict::of_validity(c.valid),
                format!("{} {}: {}", c.checker, validity_word(c.valid), c.summary),
                &mut verdict,
            );
        }
    }
    for exit in run.unexpected_exits {
        note(
            Verdict::Fail,
            format!("master {} exited by itself ({})", exit.node, exit.status),
            &mut verdict,
        );
    }
    if !run.recovered_after_heal && run.error.is_none() {
        note(
            Verdict::Fail,
            "the group did not serve reads again after every fault was healed".into(),
            &mut verdict,
        );
    }
    if let Some(e) = run.error {
        note(Verdict::Error, format!("harness error: {e}"), &mut verdict);
    }
    for p in run.heal_problems {
        note(Verdict::Error, format!("heal: {p}"), &mut verdict);
    }
    for (name, inj) in run.injections.into_iter().flatten() {
        if !inj.tested() {
            note(
                Verdict::Untested,
                format!("nemesis {name} not tested: {}", inj.render()),
                &mut verdict,
            );
        }
    }
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checker(valid: Validity) -> CheckResult {
        CheckResult {
            checker: "c".into(),
            valid,
            summary: "s".into(),
            details: json!({}),
        }
    }

    fn findings() -> RunFindings<'static> {
        RunFindings {
            recovered_after_heal: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_violation_is_never_hidden_by_a_harness_error() {
        let f = RunFindings {
            error: Some("boom"),
            ..findings()
        };
        assert_eq!(judge(&[checker(Validity::False)], &f).0, Verdict::Fail);
        assert_eq!(judge(&[checker(Validity::True)], &f).0, Verdict::Error);
        assert_eq!(judge(&[checker(Validity::Unknown)], &f).0, Verdict::Error);
    }

    #[test]
    fn untested_faults_and_exits_change_the_verdict() {
        let mut inj = BTreeMap::new();
        inj.insert(
            "partition".to_string(),
            Injections {
                skipped: Some("no namespaces".into()),
                ..Default::default()
            },
        );
        let f = RunFindings {
            injections: Some(&inj),
            ..findings()
        };
        let (v, reasons) = judge(&[checker(Validity::True)], &f);
        assert_eq!(v, Verdict::Untested);
        assert!(reasons[0].contains("partition"), "{reasons:?}");
        // A checker that could not decide is worse than untested.
        assert_eq!(judge(&[checker(Validity::Unknown)], &f).0, Verdict::Unknown);

        for bad in [
            Injections {
                attempted: 3,
                not_injected: 3,
                ..Default::default()
            },
            Injections {
                attempted: 3,
                injected: 2,
                failed: 1,
                ..Default::default()
            },
        ] {
            let mut inj = BTreeMap::new();
            inj.insert("kill".to_string(), bad);
            let f = RunFindings {
                injections: Some(&inj),
                ..findings()
            };
            assert_eq!(judge(&[checker(Validity::True)], &f).0, Verdict::Untested);
        }

        let exits = [UnexpectedExit {
            node: 2,
            status: "exit status: 1".into(),
        }];
        let f = RunFindings {
            unexpected_exits: &exits,
            ..findings()
        };
        assert_eq!(judge(&[checker(Validity::True)], &f).0, Verdict::Fail);
        let f = RunFindings {
            recovered_after_heal: false,
            ..Default::default()
        };
        assert_eq!(judge(&[checker(Validity::True)], &f).0, Verdict::Fail);
        assert_eq!(
            judge(&[checker(Validity::True)], &findings()),
            (Verdict::Pass, vec![])
        );
    }
}
