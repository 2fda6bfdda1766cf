//! The agents bench's printed table: one column per agent count (and per
//! fast-ping configuration), the goals and Mesos's anchors below.

use std::fmt::Write;

use super::{
    AgentsReport, GOAL_IDLE_CPU_PCT, GOAL_KIB_PER_AGENT, GOAL_REREGISTERED_MS, MESOS_ANCHORS_MS,
};
use crate::bench::stats::Summary;
use crate::bench::table::{ms, Table};
use crate::bench::Ctx;

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// "10,000".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn column(r: &AgentsReport) -> String {
    if r.trials_requested == 0 {
        format!("{} (ping {}s)", thousands(r.agents), r.ping_timeout_s)
    } else {
        format!("{} agents", thousands(r.agents))
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("-".into(), f)
}

fn p50_p99(s: &Option<Summary>) -> String {
    s.as_ref()
        .map_or("-".into(), |s| format!("{} / {}", ms(s.p50), ms(s.p99)))
}

pub fn agents(ctx: &Ctx, reports: &[AgentsReport]) -> String {
    let a = &ctx.args;
    let mut out = String::from(
        "== agents: N simulated agents (mesoraft agent-sim), then kill -9 the leader until every agent re-registered ==\n",
    );
    let _ = writeln!(out, "  mesoraft: {}", ctx.mesoraft_params);
    let _ = writeln!(
        out,
        "  agents: {} tasks each, {} per HTTP/2 connection (own gRPC stream each), {} simulator process(es) \
         on this machine, at most {} attempts in flight each, registration backoff factor {} ms (full jitter);\n  \
         memory = leader VmRSS after all registered (+{} s) minus before the simulators started, per agent;\n  \
         idle CPU = utime+stime of the leader over the window, % of one core; failover times from the kill; \
         percentiles nearest-rank over the trials{}{}\n",
        a.tasks_per_agent,
        a.agents_per_connection,
        a.sim_processes,
        a.connect_rate,
        a.registration_backoff_factor_ms,
        super::SETTLE.as_secs(),
        a.sim_reconnect
            .as_ref()
            .map_or(String::new(), |p| format!(";\n  simulators' --reconnect {p} (not the agent's own policy)")),
        a.snapshot_logs
            .map_or(String::new(), |n| format!(";\n  masters' --snapshot-logs {n}")),
    );
    let mut header = vec![String::new()];
    header.extend(reports.iter().map(column));
    let mut t = Table::new(&header);
    let row = |t: &mut Table, name: &str, f: &dyn Fn(&AgentsReport) -> String| {
        let mut r = vec![name.to_string()];
        r.extend(reports.iter().map(f));
        t.row(&r);
    };
    row(&mut t, "first registration: all in (s)", &|r| {
        opt(r.registration.as_ref().and_then(|x| x.all_ms), |v| {
            format!("{:.1}", v / 1000.0)
        })
    });
    row(&mut t, "first registration: mean rate (/s)", &|r| {
        opt(
            r.registration.as_ref().and_then(|x| x.mean_rate_per_s),
            |v| format!("{v:.0}"),
        )
    });
    row(&mut t, "leader RSS before / after (MiB)", &|r| {
        r.memory.as_ref().map_or("-".into(), |m| {
            let mib =
                |v: Option<u64>| v.map_or("?".into(), |v| format!("{:.0}", v as f64 / 1024.0));
            format!(
                "{} / {}",
                mib(m.leader_rss_before_kib),
                mib(m.leader_rss_after_kib)
            )
        })
    });
    row(&mut t, "leader memory per agent (KiB)", &|r| {
        opt(
            r.memory.as_ref().and_then(|m| m.leader_kib_per_agent),
            |v| format!("{v:.1}"),
        )
    });
    row(&mut t, "leader memory per agent after idle (KiB)", &|r| {
        opt(
            r.memory
                .as_ref()
                .and_then(|m| m.leader_kib_per_agent_after_idle),
            |v| format!("{v:.1}"),
        )
    });
    row(&mut t, "follower memory per agent (KiB)", &|r| {
        opt(
            r.memory.as_ref().and_then(|m| m.follower_kib_per_agent),
            |v| format!("{v:.1}"),
        )
    });
    row(&mut t, "idle: window (s) / ping timeout (s)", &|r| {
        r.idle.as_ref().map_or("-".into(), |i| {
            format!("{:.0} / {}", i.window_s, i.ping_timeout_s)
        })
    });
    row(&mut t, "leader CPU without agents (% of a core)", &|r| {
        opt(
            r.idle
                .as_ref()
                .and_then(|i| i.leader_cpu_pct_without_agents),
            |v| format!("{v:.2}"),
        )
    });
    row(&mut t, "idle: leader CPU (% of a core)", &|r| {
        opt(r.idle.as_ref().and_then(|i| i.leader_cpu_pct), |v| {
            format!("{v:.2}")
        })
    });
    row(&mut t, "idle: follower CPU (% of a core)", &|r| {
        opt(r.idle.as_ref().and_then(|i| i.followers_cpu_pct), |v| {
            format!("{v:.2}")
        })
    });
    row(&mut t, "idle: simulators CPU (% of a core)", &|r| {
        opt(r.idle.as_ref().and_then(|i| i.simulators_cpu_pct), |v| {
            format!("{v:.2}")
        })
    });
    row(&mut t, "failover trials (ok / run)", &|r| {
        if r.trials_requested == 0 {
            "-".into()
        } else {
            format!("{} / {}", r.ok_trials(), r.trials.len())
        }
    });
    row(&mut t, "new leader p50 / p99 (ms)", &|r| {
        p50_p99(&r.new_leader_ms)
    });
    row(&mut t, "all re-registered p50 / p99 (ms)", &|r| {
        p50_p99(&r.all_reregistered_ms)
    });
    row(&mut t, "half re-registered p50 / p99 (ms)", &|r| {
        p50_p99(&r.half_reregistered_ms)
    });
    row(
        &mut t,
        "re-registrations/s at new leader: mean (p50)",
        &|r| {
            opt(r.mean_rate_per_s.as_ref().map(|s| s.p50), |v| {
                format!("{v:.0}")
            })
        },
    );
    row(&mut t, "re-registrations/s: peak 100 ms (p50)", &|r| {
        opt(r.peak_rate_per_s.as_ref().map(|s| s.p50), |v| {
            format!("{v:.0}")
        })
    });
    let last = |r: &AgentsReport| r.trials.iter().rev().find(|t| t.error.is_none()).cloned();
    row(&mut t, "last trial: sessions per agent p50 / max", &|r| {
        last(r)
            .and_then(|t| t.reregistration.attempts)
            .map_or("-".into(), |s| format!("{:.0} / {:.0}", s.p50, s.max))
    });
    row(&mut t, "last trial: session->answer p50 / p99 (ms)", &|r| {
        p50_p99(&last(r).and_then(|t| t.reregistration.latency_ms))
    });
    row(
        &mut t,
        "last trial: new leader memory per agent (KiB)",
        &|r| {
            opt(last(r).and_then(|t| t.new_leader_kib_per_agent), |v| {
                format!("{v:.1}")
            })
        },
    );
    row(&mut t, "last trial: new leader CPU (ms)", &|r| {
        opt(last(r).and_then(|t| t.new_leader_cpu_ms), |v| {
            format!("{v:.0}")
        })
    });
    row(&mut t, "last trial: simulators CPU (ms)", &|r| {
        opt(last(r).and_then(|t| t.simulators_cpu_ms), |v| {
            format!("{v:.0}")
        })
    });
    row(&mut t, "last trial: log entries committed", &|r| {
        last(r)
            .and_then(|t| t.log_entries)
            .map_or("-".into(), |v| v.to_string())
    });
    row(&mut t, "load average at start / end", &|r| {
        r.load_average.join(" / ")
    });
    out.push_str(&t.render());
    for r in reports {
        if let Some(why) = &r.aborted {
            let _ = writeln!(out, "{}: stopped early: {why}", column(r));
        }
    }
    for line in goals(reports) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// One line per goal that a report measured, and the anchors.
pub fn goals(reports: &[AgentsReport]) -> Vec<String> {
    let mut lines = Vec::new();
    let failover = |n: usize| {
        reports
            .iter()
            .find(|r| r.agents == n && r.trials_requested > 0)
    };
    for (n, goal) in GOAL_REREGISTERED_MS {
        if let Some(s) = failover(n).and_then(|r| r.all_reregistered_ms.as_ref()) {
            let anchor = MESOS_ANCHORS_MS
                .iter()
                .find(|(a, _)| *a == n)
                .map_or(String::new(), |(_, m)| {
                    format!("; Mesos 1.5 anchor about {:.0} s", m / 1000.0)
                });
            lines.push(format!(
                "goal: {} agents re-registered within {:.0} s of the kill: {} (p50 {} ms, p99 {} ms{anchor})",
                thousands(n),
                goal / 1000.0,
                met(s.p99 <= goal),
                ms(s.p50),
                ms(s.p99),
            ));
        }
    }
    for r in reports.iter().filter(|r| r.trials_requested > 0) {
        if let Some(kib) = r.memory.as_ref().and_then(|m| m.leader_kib_per_agent) {
            lines.push(format!(
                "goal: <= {GOAL_KIB_PER_AGENT:.0} KiB of leader memory per agent ({} agents): {} ({kib:.1} KiB)",
                thousands(r.agents),
                met(kib <= GOAL_KIB_PER_AGENT)
            ));
        }
    }
    let (n, pct) = GOAL_IDLE_CPU_PCT;
    for r in reports.iter().filter(|r| r.agents == n) {
        if let Some(cpu) = r.idle.as_ref().and_then(|i| i.leader_cpu_pct) {
            lines.push(format!(
                "goal: idle health checking of {} agents under {pct:.0} % of one core (ping {} s): {} ({cpu:.2} %)",
                thousands(n),
                r.ping_timeout_s,
                met(cpu < pct)
            ));
        }
    }
    if lines.is_empty() {
        lines.push("goals: nothing measured that a goal is about".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::{Idle, Memory};
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(40_000), "40,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn goals_are_judged_on_p99_per_agent_memory_and_idle_cpu() {
        let summary = |v: f64| Summary::of(&[v]);
        let ten = AgentsReport {
            agents: 10_000,
            ping_timeout_s: 15.0,
            trials_requested: 3,
            all_reregistered_ms: summary(2_500.0),
            memory: Some(Memory {
                leader_kib_per_agent: Some(6.5),
                ..Memory::default()
            }),
            idle: Some(Idle {
                leader_cpu_pct: Some(1.2),
                ..Idle::default()
            }),
            ..AgentsReport::default()
        };
        let fast = AgentsReport {
            agents: 10_000,
            ping_timeout_s: 1.0,
            trials_requested: 0,
            idle: Some(Idle {
                leader_cpu_pct: Some(9.0),
                ..Idle::default()
            }),
            ..AgentsReport::default()
        };
        let forty = AgentsReport {
            agents: 40_000,
            trials_requested: 1,
            all_reregistered_ms: summary(15_000.0),
            ..AgentsReport::default()
        };
        let lines = goals(&[ten, fast, forty]);
        let text = lines.join("\n");
        assert!(
            text.contains("10,000 agents re-registered within 3 s of the kill: met"),
            "{text}"
        );
        assert!(
            text.contains("40,000 agents re-registered within 12 s of the kill: NOT met"),
            "{text}"
        );
        assert!(text.contains("anchor about 19 s"), "{text}");
        assert!(
            text.contains("4 KiB of leader memory per agent (10,000 agents): NOT met (6.5 KiB)"),
            "{text}"
        );
        assert!(text.contains("(ping 15 s): met (1.20 %)"), "{text}");
        assert!(text.contains("(ping 1 s): NOT met (9.00 %)"), "{text}");
        assert_eq!(goals(&[]), ["goals: nothing measured that a goal is about"]);
    }
}
