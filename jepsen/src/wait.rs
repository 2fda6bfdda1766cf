//! Waiting for a condition of the cluster, with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// Asks `check` at once and then every `every` until it gives `Some` or
/// `deadline` passes (then `None`).
pub async fn until<T, F, Fut>(deadline: Instant, every: Duration, mut check: F) -> Option<T>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gives_the_first_answer_or_none_at_the_deadline() {
        let mut asked = 0;
        let got = until(
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
            until(Instant::now(), Duration::from_millis(1), || async { None }).await;
        assert_eq!(none, None);
    }
}
