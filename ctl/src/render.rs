//! Output: aligned text tables and JSON for status and membership.

use serde::Serialize;

use crate::model::{Member, Row};
use crate::units::millis;
use crate::verdict::{Health, Verdict};
use crate::wire::{shorten, Membership};

/// A column is right-aligned when it holds numbers.
struct Column {
    title: &'static str,
    right: bool,
}

const fn col(title: &'static str, right: bool) -> Column {
    Column { title, right }
}

/// A plain aligned table: two spaces between columns, no trailing blanks.
fn table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.title.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, c)) in cells.iter().zip(columns).enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if c.right {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(columns.iter().map(|c| c.title).collect());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn member_name(m: Option<Member>) -> &'static str {
    match m {
        Some(Member::Voter) => "voter",
        Some(Member::Learner) => "learner",
        Some(Member::Outside) => "none",
        None => "?",
    }
}

/// The status table: one line per master.
pub fn status_table(rows: &[Row]) -> String {
    let columns = [
        col("ID", true),
        col("ADDRESS", false),
        col("ROLE", false),
        col("LEADER", true),
        col("TERM", true),
        col("LAST", true),
        col("COMMIT", true),
        col("APPLIED", true),
        col("LAG", true),
        col("CONTACT", true),
        col("MEMBER", false),
        col("RTT", true),
        col("ERROR", false),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let leader = if r.is_leader() { r.id } else { r.leader_id };
            let note = match (&r.error, &r.needs_readding, &r.recovery_warning) {
                (Some(e), _, _) => shorten(e, 60),
                (None, Some(_), _) => "needs re-adding (see below)".to_string(),
                (None, None, Some(w)) => shorten(&format!("warning: {w}"), 60),
                (None, None, None) => String::new(),
            };
            vec![
                opt(r.id),
                // Masters found in the membership but not given in
                // --masters are marked, so a forgotten one stands out.
                if r.listed {
                    r.address.clone()
                } else {
                    format!("{}*", r.address)
                },
                if r.reachable {
                    r.role.clone().unwrap_or_else(|| "?".into())
                } else {
                    "unreachable".into()
                },
                opt(leader),
                opt(r.term),
                opt(r.last_log_index),
                opt(r.committed_index),
                opt(r.applied_index),
                opt(r.lag),
                r.millis_since_leader_contact.map_or("-".into(), millis),
                member_name(r.member).into(),
                r.rtt_ms.map_or("-".into(), |ms| format!("{ms:.1}ms")),
                note,
            ]
        })
        .collect();
    let mut out = table(&columns, &cells);
    if rows.iter().any(|r| !r.listed) {
        out.push_str("* not in --masters: found in the group's membership\n");
    }
    out
}

/// The verdict, below the table.
pub fn verdict_text(v: &Verdict) -> String {
    let mut out = String::new();
    let leader = v.leader_id.map_or("?".into(), |l| l.to_string());
    if v.quorum {
        out.push_str(&format!(
            "quorum:     yes, {} of {} voters follow leader {leader} (majority {})\n",
            v.voters_following_leader, v.voters, v.majority
        ));
    } else if v.voters == 0 {
        out.push_str("quorum:     NO, no reachable master reports the group's voters\n");
    } else {
        out.push_str(&format!(
            "quorum:     NO, {} of {} voters follow a leader (majority {})\n",
            v.voters_following_leader, v.voters, v.majority
        ));
    }
    match (&v.leader_address, v.leaders_agree) {
        (Some(addr), true) => out.push_str(&format!(
            "leader:     {leader} at {addr}, term {}; all reachable masters agree\n",
            opt(v.leader_term)
        )),
        (Some(addr), false) => out.push_str(&format!(
            "leader:     {leader} at {addr}, term {}; NOT all reachable masters agree\n",
            opt(v.leader_term)
        )),
        (None, _) => out.push_str("leader:     none confirmed\n"),
    }
    let n = v.failures_tolerated;
    out.push_str(&format!(
        "tolerance:  {n} more master{} may fail\n",
        if n == 1 { "" } else { "s" }
    ));
    if let Some(a) = &v.agents {
        out.push_str(&format!(
            "agents:     {} registered, {} recovered, {} disconnected, {} unreachable, {} gone\n",
            a.registered, a.recovered, a.disconnected, a.unreachable, a.gone
        ));
    }
    let health = match v.health {
        Health::Healthy => "HEALTHY",
        Health::Degraded => "DEGRADED",
        Health::Critical => "CRITICAL",
    };
    out.push_str(&format!("health:     {health} (exit {})\n", v.exit_code));
    for p in &v.problems {
        let tag = match p.severity {
            Health::Critical => "critical",
            _ => "degraded",
        };
        out.push_str(&format!("  - {tag}: {}\n", p.message));
    }
    out
}

pub fn status_text(rows: &[Row], v: &Verdict) -> String {
    let mut out = format!("{}\n{}", status_table(rows), verdict_text(v));
    let open: Vec<String> = rows
        .iter()
        .filter(|r| r.reachable && r.unauthenticated)
        .map(|r| opt(r.id))
        .collect();
    if !open.is_empty() {
        out.push_str(&format!(
            "security:   master(s) {} accept Raft RPCs and membership changes without a cluster \
             secret (--cluster-secret-file)\n",
            open.join(", ")
        ));
    }
    out
}

/// The `-o json` document. A struct rather than `json!` so the fields keep
/// their declared order instead of an alphabetical one.
#[derive(Serialize)]
struct StatusDoc<'a> {
    masters: &'a [Row],
    verdict: &'a Verdict,
}

/// `-o json`: the rows and the verdict.
pub fn status_json(rows: &[Row], v: &Verdict) -> String {
    let doc = StatusDoc {
        masters: rows,
        verdict: v,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `--watch -o json` when piped: one compact document per line.
pub fn status_json_line(rows: &[Row], v: &Verdict) -> String {
    let doc = StatusDoc {
        masters: rows,
        verdict: v,
    };
    serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
}

/// The membership, one line per member: voters first, then learners.
pub fn members_table(m: &Membership) -> String {
    let columns = [col("ID", true), col("ADDRESS", false), col("ROLE", false)];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut ids: Vec<u64> = m.ids();
    ids.sort_by_key(|id| (!m.voters.contains(id), *id));
    for id in ids {
        let role = if m.voters.contains(&id) {
            "voter"
        } else {
            "learner"
        };
        let addr = m.nodes.get(&id).cloned().unwrap_or_else(|| "?".into());
        rows.push(vec![id.to_string(), addr, role.to_string()]);
    }
    table(&columns, &rows)
}

pub fn members_json(m: &Membership) -> String {
    serde_json::to_string_pretty(m).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{verdict, Thresholds};
    use crate::wire::AgentCounts;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                id: Some(1),
                address: "127.0.0.1:5050".into(),
                reachable: true,
                role: Some("leader".into()),
                leader_id: Some(1),
                term: Some(3),
                last_log_index: Some(10),
                committed_index: Some(10),
                applied_index: Some(10),
                lag: Some(0),
                millis_since_leader_contact: Some(12),
                member: Some(Member::Voter),
                rtt_ms: Some(0.5),
                cluster_id: Some("c".into()),
                listed: true,
                ..Row::default()
            },
            Row {
                id: Some(3),
                address: "127.0.0.1:5052".into(),
                member: Some(Member::Voter),
                error: Some("connection refused".into()),
                listed: false,
                ..Row::default()
            },
        ]
    }

    #[test]
    fn unreachable_row_renders_dashes_and_error() {
        let text = status_table(&rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID  ADDRESS          ROLE         LEADER  TERM  LAST  COMMIT  APPLIED  LAG  CONTACT  MEMBER    RTT  ERROR"
        );
        assert_eq!(
            lines[1],
            " 1  127.0.0.1:5050   leader            1     3    10      10       10    0     12ms  voter   0.5ms"
        );
        assert_eq!(
            lines[2],
            " 3  127.0.0.1:5052*  unreachable       -     -     -       -        -    -        -  voter       -  connection refused"
        );
        assert!(lines[3].starts_with("* not in --masters"));
        assert!(
            text.lines().all(|l| l == l.trim_end()),
            "no trailing blanks"
        );
    }

    #[test]
    fn verdict_lines() {
        let rows = rows();
        let v = verdict(&rows, &Thresholds::default());
        let text = verdict_text(&v);
        assert!(
            text.contains("quorum:     NO, 1 of 2 voters follow a leader (majority 2)"),
            "{text}"
        );
        assert!(text.contains("health:     CRITICAL (exit 2)"), "{text}");
        assert!(
            text.contains("  - degraded: voter master 3 at 127.0.0.1:5052 does not answer"),
            "{text}"
        );
    }

    #[test]
    fn json_shape() {
        let rows = rows();
        let v = verdict(&rows, &Thresholds::default());
        let doc: serde_json::Value = serde_json::from_str(&status_json(&rows, &v)).unwrap();
        let m = &doc["masters"];
        assert_eq!(m.as_array().unwrap().len(), 2);
        let keys: Vec<&str> = m[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in [
            "id",
            "address",
            "reachable",
            "role",
            "leader_id",
            "leader_address",
            "term",
            "last_log_index",
            "committed_index",
            "applied_index",
            "lag",
            "millis_since_leader_contact",
            "member",
            "rtt_ms",
            "error",
            "recovery_warning",
            "cluster_id",
            "initialized",
            "listed",
        ] {
            assert!(keys.contains(&k), "row lacks {k}: {keys:?}");
        }
        assert_eq!(m[0]["member"], "voter");
        assert_eq!(m[1]["reachable"], false);
        assert_eq!(m[1]["role"], serde_json::Value::Null);
        assert_eq!(m[1]["error"], "connection refused");
        let vd = &doc["verdict"];
        assert_eq!(vd["health"], "critical");
        assert_eq!(vd["exit_code"], 2);
        assert_eq!(vd["quorum"], false);
        for k in [
            "voters",
            "majority",
            "voters_following_leader",
            "leader_id",
            "leader_address",
            "leader_term",
            "leaders_agree",
            "failures_tolerated",
            "cluster_id",
        ] {
            assert!(vd.get(k).is_some(), "verdict lacks {k}");
        }
        assert_eq!(vd["problems"][0]["severity"], "critical");
        assert!(vd["problems"][0]["message"].is_string());
    }

    #[test]
    fn the_leaders_agent_figures_are_one_line_of_the_group_view() {
        let mut rows = rows();
        rows[0].agents = Some(AgentCounts {
            registered: 12,
            recovered: 0,
            disconnected: 1,
            unreachable: 2,
            gone: 0,
            recovery_removals_refused: 0,
        });
        let v = verdict(&rows, &Thresholds::default());
        let text = verdict_text(&v);
        assert!(
            text.contains(
                "\nagents:     12 registered, 0 recovered, 1 disconnected, 2 unreachable, 0 gone\n"
            ),
            "{text}"
        );
        let doc: serde_json::Value = serde_json::from_str(&status_json(&rows, &v)).unwrap();
        assert_eq!(doc["verdict"]["agents"]["registered"], 12);
        assert_eq!(doc["masters"][0]["agents"]["unreachable"], 2);
        assert_eq!(doc["masters"][1]["agents"], serde_json::Value::Null);
        // No leader figures, no line.
        let v = verdict(&self::rows()[1..], &Thresholds::default());
        assert!(!verdict_text(&v).contains("agents:"));
    }

    #[test]
    fn members_listing() {
        let m = Membership {
            voters: vec![3, 1],
            learners: vec![4],
            nodes: [(1, "a:1"), (3, "c:1"), (4, "d:1")]
                .into_iter()
                .map(|(i, a)| (i, a.to_string()))
                .collect(),
            ..Default::default()
        };
        assert_eq!(
            members_table(&m),
            "ID  ADDRESS  ROLE\n 1  a:1      voter\n 3  c:1      voter\n 4  d:1      learner\n"
        );
    }
}
