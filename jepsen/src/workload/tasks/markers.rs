//! The markers tasks leave in their sandboxes: each run of a task writes
//! [`MARKER_FILE`](super::MARKER_FILE) holding its framework id and task
//! id into the directory it runs in, so every sandbox that holds one is a
//! run of that task. Collected from the agents' work dirs at the end.

use std::path::{Path, PathBuf};

use crate::tasks_record::{Marker, TaskRef};

/// Directories deeper than this are not searched (a sandbox is
/// `slaves/A/frameworks/F/executors/E/runs/C`: 8 levels).
const MAX_DEPTH: usize = 12;

/// Every marker under `work_dir` of agent `agent`, sorted. A marker that
/// cannot be read or parsed (a task killed while writing it) is skipped.
pub fn collect(agent: u64, work_dir: &Path) -> Vec<Marker> {
    let mut found = Vec::new();
    walk(work_dir, 0, &mut found);
    let mut markers: Vec<Marker> = found
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let (framework, task_id) = text.trim().split_once(' ')?;
            Some(Marker {
                task: TaskRef {
                    framework: framework.to_string(),
                    task_id: task_id.to_string(),
                },
                agent,
                sandbox: path.parent()?.display().to_string(),
            })
        })
        .collect();
    markers.sort();
    markers
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, depth + 1, found);
        } else if kind.is_file() && entry.file_name() == super::MARKER_FILE {
            found.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sandbox_with_a_marker_is_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = |task: &str, container: &str| {
            dir.path()
                .join("slaves/S1/frameworks/F1/executors")
                .join(task)
                .join("runs")
                .join(container)
        };
        for (task, container, text) in [
            ("t1", "c1", "F1 t1\n"),
            ("t1", "c2", "F1 t1\n"),
            ("t2", "c3", "F1 t2\n"),
            ("t3", "c4", ""),
        ] {
            std::fs::create_dir_all(run(task, container)).unwrap();
            std::fs::write(run(task, container).join(super::super::MARKER_FILE), text).unwrap();
        }
        std::fs::write(dir.path().join("stdout"), "F1 t9").unwrap();
        let markers = collect(2, dir.path());
        let seen: Vec<(&str, u64, String)> = markers
            .iter()
            .map(|m| (m.task.task_id.as_str(), m.agent, m.sandbox.clone()))
            .collect();
        let shown = |task, container| run(task, container).display().to_string();
        assert_eq!(
            seen,
            [
                ("t1", 2, shown("t1", "c1")),
                ("t1", 2, shown("t1", "c2")),
                ("t2", 2, shown("t2", "c3")),
            ]
        );
    }
}
