//! The report file's writer: lines arrive on a channel and are written in
//! batches, flushed whenever the queue is empty, so a reader tailing the
//! file sees each registration within moments.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::book::ReportLine;

pub struct Writer {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    lines: mpsc::UnboundedReceiver<ReportLine>,
}

impl Writer {
    /// Creates (or truncates) `path`; returns the sender of its lines and
    /// the writer to run.
    pub fn open(path: &Path) -> std::io::Result<(mpsc::UnboundedSender<ReportLine>, Writer)> {
        let file = std::fs::File::create(path)?;
        let (tx, lines) = mpsc::unbounded_channel();
        Ok((
            tx,
            Writer {
                path: path.to_path_buf(),
                file: std::io::BufWriter::with_capacity(256 * 1024, file),
                lines,
            },
        ))
    }

    /// Writes lines until every sender is gone; the error names the file.
    pub async fn run(mut self) -> Result<(), (PathBuf, std::io::Error)> {
        while let Some(line) = self.lines.recv().await {
            self.write(&line)?;
            while let Ok(line) = self.lines.try_recv() {
                self.write(&line)?;
            }
            self.file.flush().map_err(|e| (self.path.clone(), e))?;
        }
        self.file.flush().map_err(|e| (self.path.clone(), e))
    }

    fn write(&mut self, line: &ReportLine) -> Result<(), (PathBuf, std::io::Error)> {
        let mut text = line.to_json();
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| (self.path.clone(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::book::Tally;

    #[tokio::test]
    async fn lines_reach_the_file_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        let (tx, writer) = Writer::open(&path).unwrap();
        let task = tokio::spawn(writer.run());
        for at_ns in 0..3 {
            tx.send(ReportLine::Progress {
                at_ns,
                tally: Tally::new(2),
            })
            .unwrap();
        }
        drop(tx);
        task.await.unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .all(|l| l.starts_with("{\"kind\":\"progress\"")));
    }
}
