//! What `/proc` says about processes: state, parent, process group,
//! session and start time. Executors outlive the agent, so after a restart
//! the agent finds them (and everything they started) here rather than as
//! its children; the start time tells a live executor from another
//! process that reused its pid. Parsing is pure and never panics.

use std::collections::HashMap;
use std::path::Path;

/// The fields of `/proc/<pid>/stat` the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// Clock ticks after boot when the process started.
    pub start_time: u64,
}

impl ProcStat {
    /// Not exited: a zombie has ended, only its parent has not reaped it.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`. The command name is in
/// parentheses and may itself hold spaces and parentheses, so the fields
/// are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) session(6) ... starttime(22).
    let field = |n: usize| fields.get(n - 3).copied();
    Some(ProcStat {
        pid,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// The stat of process `pid`, `None` if there is none (or it cannot be
/// read).
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Whether `pid` is a live process that started at `start_time` (when
/// given): the same process, not a later one with its pid.
pub fn is_running(pid: i32, start_time: Option<u64>) -> bool {
    stat(pid).is_some_and(|s| s.is_alive() && start_time.is_none_or(|t| t == s.start_time))
}

/// Every process readable in `/proc`.
pub fn all() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir(Path::new("/proc")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(stat)
        .collect()
}

/// The live processes of session `session`.
pub fn session_members(session: i32) -> Vec<ProcStat> {
    all()
        .into_iter()
        .filter(|p| p.session == session && p.is_alive())
        .collect()
}

/// The live processes of process group `pgrp`.
pub fn group_members(pgrp: i32) -> Vec<ProcStat> {
    all()
        .into_iter()
        .filter(|p| p.pgrp == pgrp && p.is_alive())
        .collect()
}

/// Resident pages from the text of `/proc/<pid>/statm` (its second
/// field).
pub fn parse_statm_resident_pages(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The resident memory of every session with a live process, in bytes,
/// from one pass over `/proc` (one sampler serves every container).
/// Pages shared between processes count once per process, so a figure
/// over-states what a session uses, never under-states it.
pub fn resident_by_session() -> HashMap<i32, u64> {
    // SAFETY: sysconf takes a constant and returns a value or -1.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let mut sessions: HashMap<i32, u64> = HashMap::new();
    for p in all().into_iter().filter(ProcStat::is_alive) {
        let Some(pages) = std::fs::read_to_string(format!("/proc/{}/statm", p.pid))
            .ok()
            .and_then(|text| parse_statm_resident_pages(&text))
        else {
            continue;
        };
        let total = sessions.entry(p.session).or_default();
        *total = total.saturating_add(pages.saturating_mul(page));
    }
    sessions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_gives_the_resident_pages_and_garbage_gives_none() {
        assert_eq!(
            parse_statm_resident_pages("2000 350 100 10 0 200 0\n"),
            Some(350)
        );
        assert_eq!(parse_statm_resident_pages("2000"), None);
        assert_eq!(parse_statm_resident_pages("a b c"), None);
    }

    #[test]
    fn this_process_session_has_resident_memory() {
        // SAFETY: getsid(0) asks for the caller's session.
        let session = unsafe { libc::getsid(0) };
        assert!(resident_by_session().get(&session).is_some_and(|b| *b > 0));
    }

    #[test]
    fn a_stat_line_parses_even_with_a_strange_command_name() {
        let line =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                pid: 4242,
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                session: 4242,
                start_time: 987654,
            }
        );
        assert!(stat.is_alive());
        let zombie = line.replace(") S ", ") Z ");
        assert!(!parse_stat(&zombie).unwrap().is_alive());
        for bad in ["", "x (y) S", "12 (y) S a b c", "(((("] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn this_process_is_found_alive_with_its_start_time() {
        let me = std::process::id() as i32;
        let stat = stat(me).unwrap();
        assert!(is_running(me, Some(stat.start_time)));
        assert!(!is_running(me, Some(stat.start_time + 1)));
        assert!(all().iter().any(|p| p.pid == me));
    }
}
