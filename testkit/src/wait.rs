//! Waiting for a condition with a deadline: the condition is asked again
//! and again, never a sleep that hopes it is long enough.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`poll_until`] asks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Asks `check` at once and then every `every` until it gives `Some` or
/// `deadline` passes (then `None`).
pub async fn poll_every<T, F, Fut>(deadline: Instant, every: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// Asks `check` every [`POLL_INTERVAL`] until it yields a value or `limit`
/// passes (None then).
pub async fn poll_until<T, F, Fut>(limit: Duration, check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_every(Instant::now() + limit, POLL_INTERVAL, check).await
}

/// Like [`poll_until`], but a timeout panics naming `what` (for tests).
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_until(limit, check).await {
        Some(v) => v,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gives_the_first_answer_or_none_at_the_deadline() {
        let mut asked = 0;
        let got = poll_every(
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                asked += 1;
                let n = asked;
                async move { (n == 3).then_some(n) }
            },
        )
        .await;
        assert_eq!(got, Some(3));
        let none: Option<()> =
            poll_every(Instant::now(), Duration::from_millis(1), || async { None }).await;
        assert_eq!(none, None);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after")]
    async fn wait_for_names_what_it_waited_for() {
        wait_for::<(), _, _>("nothing", Duration::ZERO, || async { None }).await;
    }
}
