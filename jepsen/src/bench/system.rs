//! What the measurements need from a replicated system, so that the same
//! failover and throughput loops run against mesoraft and etcd.

use std::future::Future;
use std::time::{Duration, Instant};

/// The group agrees on a leader.
#[derive(Clone, Copy, Debug)]
pub struct Agreed {
    pub leader: u64,
    /// The leader's term.
    pub term: u64,
}

/// Repeats `round` (one status round: the agreement, or why there is none)
/// every 20 ms until the members agree or `deadline` passes; `alive` ends
/// the wait early when a member died. `disagree` names the failure.
pub async fn poll_agreement<R, F>(
    deadline: Instant,
    disagree: &str,
    mut round: R,
    alive: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Agreed>
where
    R: FnMut() -> F,
    F: Future<Output = Result<Agreed, String>>,
{
    loop {
        let why = match round().await {
            Ok(a) => return Ok(a),
            Err(why) => why,
        };
        alive()?;
        if Instant::now() >= deadline {
            anyhow::bail!("{disagree}: {why}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write was acknowledged.
#[derive(Clone, Copy, Debug)]
pub struct Acked {
    /// The member that acknowledged it (after redirects).
    pub node: u64,
    /// The term the answer carries, when the protocol says.
    pub term: Option<u64>,
}

pub trait System: Send + Sync + 'static {
    /// e.g. "mesoraft" or "etcd 3.4.23".
    fn label(&self) -> String;

    /// Member ids, ascending.
    fn ids(&self) -> Vec<u64>;

    /// Waits until every member runs, all agree on one ready leader and,
    /// when `caught_up` is given, that member has applied everything the
    /// leader had committed when it was asked.
    fn wait_agreed(
        &self,
        caught_up: Option<u64>,
        timeout: Duration,
    ) -> impl Future<Output = anyhow::Result<Agreed>> + Send;

    /// `kill -9`; true if it was running.
    fn kill(&self, id: u64) -> bool;

    /// Starts a killed member again, same flags and data.
    fn restart(&self, id: u64) -> anyhow::Result<()>;

    /// Process ids of the running members (for CPU accounting).
    fn pids(&self) -> Vec<i32>;

    /// The term member `id` reports, if it answers.
    fn term_of(&self, id: u64) -> impl Future<Output = Option<u64>> + Send;

    /// The highest term any member reports (None if none answers).
    fn max_term(&self) -> impl Future<Output = Option<u64>> + Send;

    /// One write of `key` (a distinct `seq` gives a distinct value) sent to
    /// `to`, following a redirect only to a member of `allowed`, within
    /// `timeout` in all.
    fn write(
        &self,
        http: &reqwest::Client,
        to: u64,
        allowed: &[u64],
        key: &str,
        seq: u64,
        timeout: Duration,
    ) -> impl Future<Output = Result<Acked, String>> + Send;
}

/// The HTTP client of the measurements: keep-alive with a pool big enough
/// for every writer, no Nagle delay, no proxy, no automatic redirects.
pub fn http_client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool.max(8))
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(1))
        .build()?)
}
