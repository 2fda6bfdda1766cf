//! The scheduling bench's printed figures, with the goals below.

use std::fmt::Write;

use super::{
    DrfReport, LaunchReport, SchedulingReport, GOAL_DRF_AT_S, GOAL_DRF_GAP, GOAL_KIB_PER_TASK,
    GOAL_LAUNCHES_PER_S, GOAL_RUNNING_P99_MS,
};
use crate::bench::agents::print::thousands;
use crate::bench::table::{ms, Table};
use crate::bench::Ctx;

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("-".into(), f)
}

fn kib(v: Option<u64>) -> String {
    v.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn verdict(value: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match value {
        Some(v) if ok(v) => "met",
        Some(_) => "NOT met",
        None => "not measured",
    }
}

fn launch(out: &mut String, r: &LaunchReport) {
    let _ = writeln!(
        out,
        "\n-- launch: 1 framework, {} tasks (cpus {}, mem {}), at most {} LAUNCH operations per ACCEPT \
         and {} tasks in flight; {} agents ({}) answering TASK_RUNNING{} --",
        thousands(r.tasks as usize),
        r.task_cpus,
        r.task_mem,
        r.tasks_per_offer,
        r.max_in_flight,
        r.agents,
        r.agent_resources,
        if r.task_end == "run" {
            " (tasks keep running)"
        } else {
            " then TASK_FINISHED at once"
        }
    );
    let mut t = Table::new(&["figure", "value"]);
    if let Some(o) = &r.outcome {
        t.row(&[
            "tasks launched / running / finished".to_string(),
            format!("{} / {} / {}", o.launched, o.running, o.finished),
        ]);
        if !o.ended_otherwise.is_empty() {
            t.row(&[
                "ended otherwise".to_string(),
                format!("{:?}", o.ended_otherwise),
            ]);
        }
        t.row(&[
            "offers / ACCEPTs / DECLINEs / ACKNOWLEDGEs".to_string(),
            format!(
                "{} / {} / {} / {}",
                o.offers, o.accepts, o.declines, o.acknowledgements
            ),
        ]);
        t.row(&[
            "first ACCEPT -> last TASK_RUNNING".to_string(),
            opt(o.first_running_window_s, |s| {
                format!("{} ms", ms(s * 1000.0))
            }),
        ]);
    }
    t.row(&[
        "launches per second".to_string(),
        opt(r.launches_per_s, |v| format!("{v:.0}")),
    ]);
    t.row(&[
        "tasks finished per second".to_string(),
        opt(r.ended_per_s, |v| format!("{v:.0}")),
    ]);
    if let Some(s) = &r.running_ms {
        t.row(&[
            "ACCEPT -> TASK_RUNNING p50 / p90 / p99 / max".to_string(),
            format!(
                "{} / {} / {} / {} ms",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max)
            ),
        ]);
    }
    t.row(&[
        "leader VmRSS before / after".to_string(),
        format!(
            "{} / {}",
            kib(r.leader_rss_before_kib),
            kib(r.leader_rss_after_kib)
        ),
    ]);
    t.row(&[
        "leader memory per task".to_string(),
        opt(r.leader_kib_per_task, |v| format!("{v:.2} KiB")),
    ]);
    out.push_str(&t.render());
    if let Some(e) = &r.error {
        let _ = writeln!(out, "stopped: {e}");
    }
}

fn drf(out: &mut String, r: &DrfReport) {
    let _ = writeln!(
        out,
        "\n-- drf: {} frameworks in one role, equal weight, each wanting {} running tasks \
         (together twice the cluster), at most {} per offer; {} agents ({}) --",
        r.frameworks,
        thousands(r.tasks_per_framework as usize),
        r.tasks_per_offer,
        r.agents,
        r.agent_resources
    );
    let mut t = Table::new(&["t (s)", "share a", "share b", "gap"]);
    for s in &r.samples {
        let share = |i: usize| s.shares.get(i).map_or("-".into(), |v| pct(*v));
        t.row(&[format!("{:.1}", s.at_s), share(0), share(1), pct(s.gap())]);
    }
    out.push_str(&t.render());
    let _ = writeln!(
        out,
        "gap at {GOAL_DRF_AT_S:.0} s: {}; worst from then on: {}",
        opt(r.gap_at_goal, pct),
        opt(r.worst_gap_after_goal, pct)
    );
    if let Some(shares) = &r.master_shares {
        let shown: Vec<String> = shares.iter().map(|s| pct(*s)).collect();
        let _ = writeln!(
            out,
            "the master's /master/frameworks at the end (used + offered): {}",
            shown.join(" / ")
        );
    }
    for (name, o) in ["a", "b"].iter().zip(&r.outcomes) {
        let _ = writeln!(
            out,
            "framework {name}: {} launched, {} running, {} offers, {} ACCEPTs, {} DECLINEs{}",
            o.launched,
            o.running,
            o.offers,
            o.accepts,
            o.declines,
            if o.ended_otherwise.is_empty() {
                String::new()
            } else {
                format!(", ended otherwise {:?}", o.ended_otherwise)
            }
        );
    }
    let _ = writeln!(
        out,
        "leader VmRSS before / with the tasks running: {} / {}; per live task: {}",
        kib(r.leader_rss_before_kib),
        kib(r.leader_rss_after_kib),
        opt(r.leader_kib_per_live_task, |v| format!("{v:.2} KiB"))
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "stopped: {e}");
    }
}

/// The goal lines.
pub fn goals(report: &SchedulingReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(r) = &report.launch {
        lines.push(format!(
            "launches per second >= {GOAL_LAUNCHES_PER_S:.0}: {}",
            verdict(r.launches_per_s, |v| v >= GOAL_LAUNCHES_PER_S)
        ));
        lines.push(format!(
            "ACCEPT -> TASK_RUNNING p99 < {GOAL_RUNNING_P99_MS:.0} ms: {}",
            verdict(r.running_ms.as_ref().map(|s| s.p99), |v| v
                < GOAL_RUNNING_P99_MS)
        ));
        lines.push(format!(
            "leader memory per task <= {GOAL_KIB_PER_TASK:.0} KiB: {}",
            verdict(r.leader_kib_per_task, |v| v <= GOAL_KIB_PER_TASK)
        ));
    }
    if let Some(r) = &report.drf {
        lines.push(format!(
            "DRF gap < {:.0} % after {GOAL_DRF_AT_S:.0} s: {}",
            GOAL_DRF_GAP * 100.0,
            verdict(r.worst_gap_after_goal, |v| v < GOAL_DRF_GAP)
        ));
    }
    lines
}

pub fn scheduling(ctx: &Ctx, report: &SchedulingReport) -> String {
    let mut out = String::from(
        "== scheduling: frameworks launching through offers (v1 scheduler API, JSON) ==\n",
    );
    let _ = writeln!(out, "  mesoraft: {}", ctx.mesoraft_params);
    if let Some(r) = &report.launch {
        launch(&mut out, r);
    }
    if let Some(r) = &report.drf {
        drf(&mut out, r);
    }
    out.push_str("\ngoals:\n");
    for line in goals(report) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Summary;

    #[test]
    fn goals_are_judged_from_the_figures_and_missing_ones_say_so() {
        let report = SchedulingReport {
            launch: Some(LaunchReport {
                launches_per_s: Some(6_000.0),
                running_ms: Summary::of(&[1.0, 2.0, 80.0]),
                leader_kib_per_task: None,
                ..LaunchReport::default()
            }),
            drf: Some(DrfReport {
                worst_gap_after_goal: Some(0.01),
                ..DrfReport::default()
            }),
        };
        let lines = goals(&report);
        assert!(lines[0].ends_with(": met"), "{lines:?}");
        assert!(lines[1].ends_with("NOT met"), "{lines:?}");
        assert!(lines[2].ends_with("not measured"), "{lines:?}");
        assert!(lines[3].ends_with(": met"), "{lines:?}");
    }
}
