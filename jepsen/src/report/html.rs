//! A self-contained HTML report (inline SVG, no scripts, no server):
//! verdicts, a timeline of operations per client with fault windows shaded,
//! and latency over time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use crate::checker::catalog::ShownOp;
use crate::checker::{Evidence, Validity};
use crate::figures::{fault_windows, FaultWindow};
use crate::history::{pair, Completed, Op, OpType, Process};
use crate::results::{RunResults, Verdict};
use crate::workload::{FINAL_PROCESS, POLLER_PROCESS, PROCESS_SPAN};

const PLOT_W: f64 = 1100.0;
const LEFT: f64 = 80.0;
const LANE_H: f64 = 12.0;
const MAX_DRAWN: usize = 40_000;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => "#2e7d32",
        OpType::Fail => "#c62828",
        _ => "#f9a825",
    }
}

fn fault_color(name: &str) -> &'static str {
    if name.starts_with("partition") {
        "#1565c0"
    } else if name.starts_with("kill") {
        "#6a1b9a"
    } else if name == "pause" {
        "#00838f"
    } else {
        "#5d4037"
    }
}

/// Client lane of a process: workers share a lane across process numbers
/// (a new number after each `info`). In a composed run the lane names the
/// part (`w1 client 3`).
fn lane_of(p: u64, concurrency: u64) -> String {
    let (part, rel) = (p / PROCESS_SPAN, p % PROCESS_SPAN);
    let prefix = if part == 0 {
        String::new()
    } else {
        format!("w{part} ")
    };
    if rel < POLLER_PROCESS && concurrency > 0 {
        format!("{prefix}client {}", rel % concurrency)
    } else if (POLLER_PROCESS..FINAL_PROCESS).contains(&rel) {
        format!("{prefix}poll n{}", rel - POLLER_PROCESS)
    } else {
        format!("{prefix}final")
    }
}

struct Scale {
    end_ns: f64,
}

impl Scale {
    fn x(&self, ns: u64) -> f64 {
        LEFT + PLOT_W * (ns as f64 / self.end_ns.max(1.0))
    }
}

fn shade_faults(
    out: &mut String,
    faults: &[FaultWindow],
    scale: &Scale,
    top: f64,
    height: f64,
    labels: bool,
) {
    for f in faults {
        let x1 = scale.x(f.start_ns);
        let x2 = scale.x(f.stop_ns.unwrap_or(scale.end_ns as u64));
        let _ = write!(
            out,
            r#"<rect x="{x1:.1}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="{}" fill-opacity="0.13"><title>{} {:.1}s-{:.1}s {}</title></rect>"#,
            (x2 - x1).max(1.0),
            fault_color(&f.nemesis),
            esc(&f.nemesis),
            f.start_ns as f64 / 1e9,
            f.stop_ns.unwrap_or(scale.end_ns as u64) as f64 / 1e9,
            esc(&f.description.to_string()),
        );
        if labels {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{}">{}</text>"#,
                x1 + 2.0,
                top + 10.0,
                fault_color(&f.nemesis),
                esc(&f.nemesis)
            );
        }
    }
}

fn time_axis(out: &mut String, scale: &Scale, y: f64) {
    let secs = scale.end_ns / 1e9;
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| secs / s <= 12.0)
        .unwrap_or(600.0);
    let mut t = 0.0;
    while t <= secs {
        let x = scale.x((t * 1e9) as u64);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#888"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{t}s</text>"##,
            y + 4.0,
            y + 15.0
        );
        t += step;
    }
}

fn describe_op(c: &Completed) -> String {
    let done = c.complete;
    format!(
        "#{} p{} {} {}{} -> {} {}{} {:.1}ms{}",
        c.invoke.index,
        match c.invoke.process {
            Process::Client(p) => p.to_string(),
            Process::Nemesis => "nemesis".into(),
        },
        c.invoke.f,
        c.invoke
            .key
            .as_deref()
            .map(|k| format!("{k} "))
            .unwrap_or_default(),
        if c.invoke.value.is_null() {
            String::new()
        } else {
            c.invoke.value.to_string()
        },
        outcome_word(c.kind()),
        done.map(|d| if d.value.is_null() {
            String::new()
        } else {
            d.value.to_string()
        })
        .unwrap_or_default(),
        done.and_then(|d| d.node.as_deref())
            .map(|n| format!(" @{n}"))
            .unwrap_or_default(),
        done.map_or(0.0, |d| d.time.saturating_sub(c.invoke.time) as f64 / 1e6),
        done.and_then(|d| d.error.as_deref())
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
    )
}

/// An operation's outcome in one word (never completed: `info`).
fn outcome_word(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        _ => "info",
    }
}

/// History indices of operations named in checker failures (highlighted).
fn flagged(results: &RunResults) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<usize>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if (k == "index" || k == "read_index") && x.is_u64() {
                        out.insert(x.as_u64().unwrap_or(0) as usize);
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    for c in results
        .all_checkers()
        .filter(|c| c.valid == Validity::False)
    {
        walk(&c.details, &mut out);
    }
    out
}

fn timeline(
    history: &[Op],
    ops: &[Completed],
    faults: &[FaultWindow],
    scale: &Scale,
    concurrency: u64,
    hot: &BTreeSet<usize>,
) -> String {
    let lanes: BTreeSet<String> = ops
        .iter()
        .filter_map(|c| match c.invoke.process {
            Process::Client(p) => Some(lane_of(p, concurrency)),
            Process::Nemesis => None,
        })
        .collect();
    let lane_index: BTreeMap<&String, usize> =
        lanes.iter().enumerate().map(|(i, l)| (l, i)).collect();
    let top = 20.0;
    let height = lanes.len() as f64 * LANE_H;
    let total_h = top + height + 30.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{total_h:.0}" font-family="sans-serif">"#,
        LEFT + PLOT_W + 20.0
    );
    shade_faults(&mut out, faults, scale, top - 14.0, height + 14.0, true);
    for (lane, i) in &lane_index {
        let y = top + *i as f64 * LANE_H;
        let _ = write!(
            out,
            r#"<text x="4" y="{:.1}" font-size="9">{}</text>"#,
            y + 9.0,
            esc(lane)
        );
    }
    let end = scale.end_ns as u64;
    for c in ops.iter().take(MAX_DRAWN) {
        let Process::Client(p) = c.invoke.process else {
            continue;
        };
        let lane = lane_index[&lane_of(p, concurrency)];
        let y = top + lane as f64 * LANE_H + 1.0;
        let x1 = scale.x(c.invoke.time);
        let x2 = scale.x(c.complete.map_or(end, |d| d.time));
        let opacity = if c.invoke.f == "write" { 0.95 } else { 0.5 };
        let stroke = if hot.contains(&c.invoke.index) {
            r#" stroke="black" stroke-width="2""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="{opacity}"{stroke}><title>{}</title></rect>"#,
            (x2 - x1).max(1.0),
            LANE_H - 2.0,
            color(c.kind()),
            esc(&describe_op(c)),
        );
    }
    let _ = history;
    time_axis(&mut out, scale, top + height + 4.0);
    out.push_str("</svg>");
    out
}

fn latency_plot(ops: &[Completed], faults: &[FaultWindow], scale: &Scale) -> String {
    let points: Vec<(u64, f64, OpType, bool)> = ops
        .iter()
        .filter(|c| c.invoke.process != Process::Nemesis)
        .filter_map(|c| {
            let d = c.complete?;
            Some((
                c.invoke.time,
                (d.time.saturating_sub(c.invoke.time) as f64 / 1e6).max(0.01),
                c.kind(),
                c.invoke.f == "write",
            ))
        })
        .collect();
    let max_ms = points.iter().map(|p| p.1).fold(10.0f64, f64::max);
    let (lo, hi) = (0.1f64.log10(), max_ms.log10().ceil().max(1.0));
    let (top, height) = (10.0, 260.0);
    let y = |ms: f64| top + height * (1.0 - (ms.log10() - lo) / (hi - lo));
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="sans-serif">"#,
        LEFT + PLOT_W + 20.0,
        top + height + 30.0
    );
    shade_faults(&mut out, faults, scale, top, height, false);
    let mut decade = lo.ceil() as i32;
    while decade as f64 <= hi {
        let ms = 10f64.powi(decade);
        let yy = y(ms);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{} ms</text>"##,
            LEFT + PLOT_W,
            LEFT - 4.0,
            yy + 3.0,
            ms
        );
        decade += 1;
    }
    for (t, ms, kind, write) in points.iter().take(MAX_DRAWN) {
        let (cx, cy) = (scale.x(*t), y(*ms));
        if *write {
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="3" height="3" fill="{}" fill-opacity="0.7"/>"#,
                cx - 1.5,
                cy - 1.5,
                color(*kind)
            );
        } else {
            let _ = write!(
                out,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="1.6" fill="{}" fill-opacity="0.6"/>"#,
                color(*kind)
            );
        }
    }
    time_axis(&mut out, scale, top + height + 4.0);
    out.push_str("</svg>");
    out
}

/// One failing window drawn on its own: a bar per operation from
/// invocation to completion, labelled with what it did and saw.
fn window_plot(window: &[ShownOp]) -> String {
    let start = window
        .iter()
        .map(|w| w.invoke_ms)
        .fold(f64::INFINITY, f64::min);
    let end = window
        .iter()
        .map(|w| w.complete_ms.unwrap_or(w.invoke_ms))
        .fold(f64::NEG_INFINITY, f64::max);
    if !start.is_finite() || !end.is_finite() {
        return String::new();
    }
    let span = (end - start).max(0.001);
    let (left, width, row) = (10.0, 700.0, 22.0);
    let x = |ms: f64| left + width * (ms - start) / span;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="sans-serif">"#,
        left + width + 260.0,
        row * window.len() as f64 + 24.0
    );
    for (i, w) in window.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let x1 = x(w.invoke_ms);
        let x2 = w.complete_ms.map_or(left + width, x);
        let kind = match w.kind {
            OpType::Ok | OpType::Fail => w.kind,
            _ => OpType::Info,
        };
        let label = format!(
            "p{} {} {} ({}{})",
            match w.process {
                Some(Process::Client(p)) => p.to_string(),
                Some(Process::Nemesis) => "nemesis".to_string(),
                None => "?".to_string(),
            },
            w.f,
            w.value,
            outcome_word(w.kind),
            w.node
                .as_deref()
                .map(|n| format!(" @{n}"))
                .unwrap_or_default()
        );
        let _ = write!(
            out,
            r#"<rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="14" fill="{}" fill-opacity="0.8"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            (x2 - x1).max(2.0),
            color(kind),
            left + width + 8.0,
            y + 11.0,
            esc(&label)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{left}" y="{:.1}" font-size="10">{start:.3} ms</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{end:.3} ms</text></svg>"#,
        row * window.len() as f64 + 18.0,
        left + width,
        row * window.len() as f64 + 18.0
    );
    out
}

/// Readable failure sections of the failing checkers.
fn failures(results: &RunResults) -> String {
    let mut out = String::new();
    for c in results
        .all_checkers()
        .filter(|c| c.valid == Validity::False)
    {
        let name = esc(&c.checker);
        let evidence = Evidence::of(c);
        for f in &evidence.failures {
            let _ = write!(
                out,
                "<h3>{name}: {}</h3><p>{}</p>",
                esc(&f.subject()),
                esc(&f.explanation)
            );
            out.push_str(&window_plot(&f.window));
        }
        for p in evidence.problems.iter().take(20) {
            let _ = write!(
                out,
                "<h3>{name}</h3><pre>{}</pre>",
                esc(&serde_json::to_string_pretty(p).unwrap_or_default())
            );
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("<h2>Failures</h2>{out}")
    }
}

fn validity_color(v: Validity) -> &'static str {
    match v {
        Validity::True => "#2e7d32",
        Validity::False => "#c62828",
        Validity::Unknown => "#f9a825",
    }
}

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "#2e7d32",
        Verdict::Fail | Verdict::Error => "#c62828",
        Verdict::Unknown | Verdict::Untested => "#f9a825",
    }
}

fn row(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td><code>{}</code></td></tr>",
        esc(key),
        esc(value)
    );
}

/// The run's settings, findings and injections.
fn summary_table(results: &RunResults) -> String {
    let mut out = String::from("<table>");
    let spec = &results.spec;
    row(&mut out, "seed", &spec.seed.to_string());
    row(&mut out, "workload", &spec.workload);
    row(&mut out, "nemeses", &spec.nemeses.join(", "));
    row(&mut out, "masters", &spec.masters.to_string());
    row(&mut out, "network", &results.network);
    row(&mut out, "binaries", &results.binaries);
    row(&mut out, "time limit", &format!("{} s", spec.time_limit_s));
    row(
        &mut out,
        "duration",
        &format!("{:.1} s", results.duration_s),
    );
    row(&mut out, "reproduce", &results.reproduce);
    for reason in &results.reasons {
        row(&mut out, "not a pass because", reason);
    }
    if let Some(e) = &results.error {
        row(&mut out, "error", e);
    }
    for (name, inj) in &results.injections {
        row(&mut out, &format!("injections: {name}"), &inj.render());
    }
    for exit in &results.unexpected_exits {
        row(
            &mut out,
            "unexpected exit",
            &format!("master {}: {}", exit.node, exit.status),
        );
    }
    out.push_str("</table>");
    out
}

/// The whole page.
pub fn render(results: &RunResults, history: &[Op]) -> String {
    let ops = pair(history);
    let faults = fault_windows(history);
    let end_ns = history.last().map_or(1, |o| o.time).max(1) as f64;
    let scale = Scale { end_ns };
    let hot = flagged(results);
    let concurrency = results.spec.concurrency as u64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:20px;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}} pre{{background:#f6f6f6;padding:8px;overflow:auto;max-height:400px}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}}</style></head><body>
<h1>{title} <span style="color:{color}">{verdict}</span></h1>"#,
        title = esc(&results.test),
        color = verdict_color(results.verdict),
        verdict = results.verdict,
    );
    out.push_str(&summary_table(results));
    out.push_str(
        "<h2>Checkers</h2><table><tr><th>workload</th><th>checker</th><th>valid</th><th>summary</th></tr>",
    );
    let named = results
        .workloads
        .iter()
        .flat_map(|w| w.checkers.iter().map(move |c| (w.workload.as_str(), c)))
        .chain(results.run_checks.iter().map(|c| ("(run)", c)));
    for (workload, c) in named {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td style="color:{}"><b>{:?}</b></td><td>{}<details><summary>details</summary><pre>{}</pre></details></td></tr>"#,
            esc(workload),
            esc(&c.checker),
            validity_color(c.valid),
            c.valid,
            esc(&c.summary),
            esc(&serde_json::to_string_pretty(&c.details).unwrap_or_default()),
        );
    }
    out.push_str("</table>");
    out.push_str(&failures(results));
    out.push_str(r#"<h2>Timeline</h2><p class="legend">one row per client; bars from invocation to completion (writes solid, reads pale);<span style="background:#2e7d32"></span>ok<span style="background:#c62828"></span>fail<span style="background:#f9a825"></span>info (unknown)<span style="background:#1565c0;opacity:.3"></span>partition<span style="background:#6a1b9a;opacity:.3"></span>kill<span style="background:#00838f;opacity:.3"></span>pause<span style="background:#5d4037;opacity:.3"></span>membership; operations named by a failing checker are outlined in black. Hover for details.</p>"#);
    out.push_str(&timeline(history, &ops, &faults, &scale, concurrency, &hot));
    out.push_str("<h2>Latency</h2><p>completed operations: latency (log scale) against invocation time; squares are writes, dots reads.</p>");
    out.push_str(&latency_plot(&ops, &faults, &scale));
    out.push_str(
        "<h2>Faults</h2><table><tr><th>nemesis</th><th>start</th><th>stop</th><th>injected</th><th>what</th></tr>",
    );
    for f in &faults {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.2}s</td><td>{}</td><td>{}</td><td><code>{}</code>{}</td></tr>",
            esc(&f.nemesis),
            f.start_ns as f64 / 1e9,
            f.stop_ns
                .map(|s| format!("{:.2}s", s as f64 / 1e9))
                .unwrap_or_else(|| "-".into()),
            if f.injected { "yes" } else { "<b>no</b>" },
            esc(&f.description.to_string()),
            f.error
                .as_deref()
                .map(|e| format!("<br><b>error:</b> {}", esc(e)))
                .unwrap_or_default(),
        );
    }
    out.push_str("</table><h2>Statistics</h2><pre>");
    out.push_str(&esc(
        &serde_json::to_string_pretty(&results.stats).unwrap_or_default()
    ));
    out.push_str("</pre><p>Files: <a href=\"history.jsonl\">history.jsonl</a>, <a href=\"schedule.json\">schedule.json</a>, <a href=\"results.json\">results.json</a>, node logs in <a href=\"nodes/\">nodes/</a>.</p></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Recorder;
    use crate::nemesis_record::NemesisRecord;
    use serde_json::json;
    use std::time::Instant;

    #[test]
    fn renders_timeline_faults_and_latency() {
        let rec = Recorder::new(Instant::now());
        let a = rec.invoke(Process::Client(0), "write", Some("k"), json!(1.0));
        rec.nemesis(
            "start",
            &NemesisRecord::new("partition").with_value(json!({"x": 1})),
            None,
        );
        rec.complete(a, OpType::Ok, Value::Null, Some("n1".into()), None);
        let b = rec.invoke(Process::Client(1), "read", None, Value::Null);
        rec.complete(b, OpType::Info, Value::Null, None, Some("<timeout>".into()));
        rec.nemesis("stop", &NemesisRecord::new("partition"), None);
        let h = rec.snapshot();
        let mut results = RunResults::empty("t<1>", crate::spec::RunSpec::default());
        results.verdict = Verdict::Fail;
        results.workloads.push(crate::results::WorkloadResults {
            workload: "register".into(),
            verdict: Verdict::Fail,
            checkers: vec![crate::checker::CheckResult {
                checker: "c".into(),
                valid: Validity::False,
                summary: "bad".into(),
                details: json!({"failures": [{"key": "k",
                "explanation": "stale", "window": [{"index": 0, "process": 0, "f": "write", "value": 1.0,
                "type": "ok", "invoke_ms": 0.0, "complete_ms": 1.0}]}]}),
            }],
            stats: Default::default(),
        });
        let page = render(&results, &h);
        assert!(page.contains("<svg"));
        assert!(page.contains("FAIL"));
        assert!(page.contains("t&lt;1&gt;"), "escaped");
        assert!(page.contains("&lt;timeout&gt;"));
        assert!(page.contains(r#"stroke="black""#), "flagged op outlined");
        assert!(page.contains("<h2>Failures</h2>") && page.contains("p0 write 1.0"));
        assert_eq!(fault_windows(&h).len(), 1);
        assert!(fault_windows(&h)[0].stop_ns.is_some());
    }
}
