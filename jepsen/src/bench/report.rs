//! The printed figures: one table per measurement, systems side by side,
//! with the parameters used and the goals they are compared against.

use std::fmt::Write;

use serde::Serialize;

use super::failover::FailoverReport;
use super::stability::StabilityReport;
use super::stats::{histogram, Summary};
use super::table::{ms, Table};
use super::throughput::LoadResult;
use super::Ctx;

/// Goals the figures are compared against: failover at the masters'
/// default timing, throughput as a multiple of the reference etcd group
/// (the first `--etcd-timing`) measured in the same run.
pub const FAILOVER_P50_GOAL_MS: f64 = 300.0;
pub const FAILOVER_P99_GOAL_MS: f64 = 450.0;
pub const THROUGHPUT_GOALS: [(usize, f64); 2] = [(1, 1.5), (64, 2.5)];

/// What `etcdctl check perf` said.
#[derive(Clone, Debug, Serialize)]
pub struct CheckPerf {
    pub load: String,
    pub lines: Vec<String>,
    pub exit: String,
    pub writes_per_s: Option<f64>,
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn params(ctx: &Ctx, systems: &[String]) -> String {
    let mut s = format!("  mesoraft: {}\n", ctx.mesoraft_params);
    for (label, params) in ctx.etcd_params() {
        if systems.contains(&label) {
            let _ = writeln!(s, "  {label}: {params}");
        }
    }
    let _ = writeln!(
        s,
        "  network: {}",
        match ctx.args.net {
            crate::net::NetWant::Loopback => "loopback",
            _ => "harness network namespaces when available (mesoraft), loopback (etcd)",
        }
    );
    s
}

pub fn failover(ctx: &Ctx, reports: &[FailoverReport]) -> String {
    let labels: Vec<String> = reports.iter().map(|r| r.system.clone()).collect();
    let mut out = String::from(
        "== failover: kill -9 the leader, then write to the survivors until one acknowledges ==\n",
    );
    out.push_str(&params(ctx, &labels));
    let _ = writeln!(
        out,
        "  {} trials; writes round-robin to the survivors, no pause, per-request timeout {} ms, \
         307 followed only to a survivor;\n  time = kill -> first 200; terms = term after - term before; \
         percentiles nearest-rank\n",
        ctx.args.trials, ctx.args.request_timeout_ms
    );
    let mut header = vec![String::new()];
    header.extend(labels.iter().cloned());
    let mut t = Table::new(&header);
    let cells =
        |f: &dyn Fn(&FailoverReport) -> String| -> Vec<String> { reports.iter().map(f).collect() };
    let row = |t: &mut Table, name: &str, v: Vec<String>| {
        let mut r = vec![name.to_string()];
        r.extend(v);
        t.row(&r);
    };
    let stat = |f: fn(&Summary) -> f64| {
        cells(&|r: &FailoverReport| r.summary_ms.as_ref().map_or("-".into(), |s| ms(f(s))))
    };
    row(
        &mut t,
        "n (ok / trials)",
        cells(&|r| format!("{} / {}", r.ok_trials(), r.trials.len())),
    );
    row(&mut t, "p50 (ms)", stat(|s| s.p50));
    row(&mut t, "p90 (ms)", stat(|s| s.p90));
    row(&mut t, "p99 (ms)", stat(|s| s.p99));
    row(&mut t, "max (ms)", stat(|s| s.max));
    row(&mut t, "min (ms)", stat(|s| s.min));
    row(&mut t, "mean (ms)", stat(|s| s.mean));
    row(
        &mut t,
        "terms per failover",
        cells(&|r| histogram(&r.terms)),
    );
    row(
        &mut t,
        "requests per failover (p50 / max)",
        cells(&|r| {
            r.attempts
                .as_ref()
                .map_or("-".into(), |s| format!("{:.0} / {:.0}", s.p50, s.max))
        }),
    );
    out.push_str(&t.render());
    for r in reports {
        if let Some(why) = &r.aborted {
            let _ = writeln!(out, "{}: stopped early: {why}", r.system);
        }
        for (i, trial) in r.trials.iter().enumerate() {
            if let Some(e) = &trial.error {
                let _ = writeln!(out, "{}: trial {} failed: {e}", r.system, i + 1);
            }
        }
    }
    if let Some(s) = reports
        .iter()
        .find(|r| r.system == "mesoraft")
        .and_then(|r| r.summary_ms.as_ref())
    {
        let _ = writeln!(
            out,
            "goal (mesoraft): p50 <= {FAILOVER_P50_GOAL_MS:.0} ms: {} ({} ms); p99 <= {FAILOVER_P99_GOAL_MS:.0} ms: {} ({} ms)",
            met(s.p50 <= FAILOVER_P50_GOAL_MS),
            ms(s.p50),
            met(s.p99 <= FAILOVER_P99_GOAL_MS),
            ms(s.p99),
        );
        let reference = ctx.reference_etcd();
        if let Some((label, e)) = reports
            .iter()
            .find(|r| Some(&r.system) == reference.as_ref())
            .and_then(|r| Some((&r.system, r.summary_ms.as_ref()?)))
        {
            let _ = writeln!(
                out,
                "against {label}: p50 {} vs {} ms, p99 {} vs {} ms",
                ms(s.p50),
                ms(e.p50),
                ms(s.p99),
                ms(e.p99)
            );
        }
    }
    out
}

pub fn throughput(ctx: &Ctx, runs: &[LoadResult], perf: Option<&CheckPerf>) -> String {
    let labels: Vec<String> = runs.iter().map(|r| r.system.clone()).collect();
    let mut out = String::from(
        "== throughput: closed-loop writers to the leader (mesoraft UPDATE_WEIGHTS, etcd PUT via the v3 HTTP gateway) ==\n",
    );
    out.push_str(&params(ctx, &labels));
    let _ = writeln!(
        out,
        "  each writer its own role/key, next request as soon as the previous is answered, one HTTP/1.1 \
         keep-alive connection per writer;\n  {:.0} s measured after {:.0} s warm-up; latency of acknowledged \
         (200) writes; term changes = highest term after - before;\n  CPU % = CPU time used during the window by the bench \
         process (client) and by all members, per wall second, in % of one core ({} cores here)\n",
        ctx.args.seconds,
        ctx.args.warmup_seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut t = Table::new(&[
        "system",
        "writers",
        "writes/s",
        "p50 (ms)",
        "p99 (ms)",
        "max (ms)",
        "errors",
        "term changes",
        "client CPU %",
        "servers CPU %",
        "servers CPU ms / 1,000 writes",
    ]);
    let pct = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.0}"));
    for r in runs {
        let l = |f: fn(&Summary) -> f64| r.latency_ms.as_ref().map_or("-".into(), |s| ms(f(s)));
        t.row(&[
            r.system.clone(),
            r.writers.to_string(),
            format!("{:.0}", r.writes_per_s),
            l(|s| s.p50),
            l(|s| s.p99),
            l(|s| s.max),
            r.errors.to_string(),
            r.term_changes.map_or("?".into(), |c| c.to_string()),
            pct(r.client_cpu_pct),
            pct(r.servers_cpu_pct),
            r.servers_cpu_ms_per_1000_writes()
                .map_or("?".into(), |v| format!("{v:.0}")),
        ]);
    }
    if let (Some(p), Ok(b)) = (perf, &ctx.etcd) {
        t.row(&[
            format!("etcd {} check perf --load={}", b.version, p.load),
            "-".into(),
            p.writes_per_s.map_or("-".into(), |w| format!("{w:.0}")),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    out.push_str(&t.render());
    for r in runs.iter().filter(|r| r.errors > 0) {
        let kinds: Vec<String> = r
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{n} x {k}"))
            .collect();
        let _ = writeln!(
            out,
            "{} {} writers errors: {}",
            r.system,
            r.writers,
            kinds.join("; ")
        );
    }
    if let Some(p) = perf {
        let _ = writeln!(
            out,
            "etcdctl --endpoints=<all {} members> check perf --load={} (exit: {}):",
            ctx.args.masters, p.load, p.exit
        );
        for l in &p.lines {
            let _ = writeln!(out, "  {l}");
        }
    }
    for line in throughput_goals(ctx.reference_etcd().as_deref(), runs) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// One line per goal: mesoraft's rate with N writers against the
/// reference etcd group's with the same N, same run.
pub fn throughput_goals(reference: Option<&str>, runs: &[LoadResult]) -> Vec<String> {
    let Some(reference) = reference else {
        return vec!["goals (vs etcd): not evaluated, run with --etcd".into()];
    };
    let rate = |system: &str, writers: usize| {
        runs.iter()
            .find(|r| r.system == system && r.writers == writers)
            .map(|r| r.writes_per_s)
    };
    THROUGHPUT_GOALS
        .iter()
        .filter_map(|&(writers, factor)| {
            let (m, e) = (rate("mesoraft", writers)?, rate(reference, writers)?);
            let ratio = if e > 0.0 { m / e } else { f64::INFINITY };
            Some(format!(
                "goal ({writers} writers): mesoraft >= {factor}x {reference}: {} ({m:.0} vs {e:.0} writes/s, {ratio:.2}x)",
                met(ratio >= factor)
            ))
        })
        .collect()
}

pub fn stability(ctx: &Ctx, r: &StabilityReport) -> String {
    let mut out = format!(
        "== stability: idle group for {:.1} min, every master's /raft/status polled every {:.1} s ==\n",
        r.minutes, r.poll_s
    );
    out.push_str(&params(ctx, &["mesoraft".into()]));
    out.push('\n');
    let mut t = Table::new(&[
        "master",
        "term start",
        "term end",
        "elections_seen start",
        "elections_seen end",
        "leader_changes start",
        "leader_changes end",
    ]);
    let o = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    for n in &r.nodes {
        t.row(&[
            n.id.to_string(),
            n.term_start.to_string(),
            o(n.term_end),
            o(n.elections_seen_start),
            o(n.elections_seen_end),
            o(n.leader_changes_start),
            o(n.leader_changes_end),
        ]);
    }
    out.push_str(&t.render());
    let _ = writeln!(
        out,
        "polls: {} ({} status requests unanswered); leader {} at start, {} at end",
        r.polls,
        r.failed_probes,
        r.leader_start,
        o(r.leader_end)
    );
    let _ = writeln!(
        out,
        "elections after the first (term increments): {}",
        r.elections_after_first
    );
    let _ = writeln!(
        out,
        "leader changes: {} seen by polling, {} by the masters' own counters",
        r.leader_changes_polled, r.leader_changes_counted
    );
    let _ = writeln!(
        out,
        "goal: zero: {}",
        met(r.elections_after_first == 0
            && r.leader_changes_polled == 0
            && r.leader_changes_counted == 0)
    );
    out
}
