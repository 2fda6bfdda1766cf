//! Following a task's stdout and stderr from its sandbox, through the
//! agent's Mesos-style `GET /files/read?path=...&offset=...&length=...`
//! (answer `{"data": "...", "offset": N}`).
//!
//! The path is Mesos's virtual one,
//! `/frameworks/<framework>/executors/<executor>/runs/latest/<file>`: a
//! command task runs in a command executor named after the task, and the
//! agent resolves `latest` to the run it started last.

use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::watch;

/// How often a file is read again when it had nothing new.
const POLL: Duration = Duration::from_millis(250);
/// At most this much per read.
const CHUNK: u64 = 64 << 10;
/// Failed reads in a row after which a finished task's file is given up.
const GIVE_UP_AFTER_FAILURES: u32 = 8;

/// The standard stream a sandbox file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
}

impl Sink {
    fn file(self) -> &'static str {
        match self {
            Sink::Stdout => "stdout",
            Sink::Stderr => "stderr",
        }
    }

    fn write(self, data: &[u8]) {
        // A closed pipe (`| head`) is not an error of the task's: dropped.
        let _ = match self {
            Sink::Stdout => std::io::stdout().lock().write_all(data),
            Sink::Stderr => std::io::stderr().lock().write_all(data),
        };
    }
}

/// The virtual sandbox path of a command task's file.
pub fn sandbox_path(framework_id: &str, task_id: &str, sink: Sink) -> String {
    format!(
        "/frameworks/{framework_id}/executors/{task_id}/runs/latest/{}",
        sink.file()
    )
}

#[derive(serde::Deserialize)]
struct ReadAnswer {
    data: String,
}

/// One file followed until the task ended (`ended` turns true) and a read
/// after that found nothing new.
pub struct Follower {
    pub http: reqwest::Client,
    pub security: crate::ClientSecurity,
    /// `host:port` of the agent.
    pub agent: String,
    pub path: String,
    pub sink: Sink,
}

impl Follower {
    pub async fn run(self, mut ended: watch::Receiver<bool>) {
        let mut offset: u64 = 0;
        let mut failures = 0u32;
        loop {
            // Read after noting the end, so the last bytes are not missed.
            let over = *ended.borrow_and_update();
            match self.read(offset).await {
                Ok(data) if !data.is_empty() => {
                    self.sink.write(data.as_bytes());
                    offset += data.len() as u64;
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    if over {
                        return;
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(agent = %self.agent, path = %self.path, error = %e, "sandbox read failed");
                    if over && failures >= GIVE_UP_AFTER_FAILURES {
                        tracing::warn!(agent = %self.agent, path = %self.path, error = %e, "gave up following the task's output");
                        return;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = ended.changed(), if !over => {}
            }
        }
    }

    async fn read(&self, offset: u64) -> Result<String, String> {
        let url = format!("{}://{}/files/read", self.security.scheme(), self.agent);
        let req = self
            .http
            .get(url)
            .query(&[
                ("path", self.path.as_str()),
                ("offset", &offset.to_string()),
                ("length", &CHUNK.to_string()),
            ])
            .timeout(Duration::from_secs(5));
        let resp = self
            .security
            .authorize(req)
            .send()
            .await
            .map_err(|e| crate::transport::describe(&e))?;
        match resp.status() {
            StatusCode::OK => resp
                .json::<ReadAnswer>()
                .await
                .map(|a| a.data)
                .map_err(|e| format!("unreadable answer: {e}")),
            // Not there yet (the executor has not started): nothing new.
            StatusCode::NOT_FOUND => Ok(String::new()),
            other => Err(format!("HTTP {}", other.as_u16())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_command_executors_latest_run() {
        assert_eq!(
            sandbox_path("f1", "hello", Sink::Stdout),
            "/frameworks/f1/executors/hello/runs/latest/stdout"
        );
    }
}
