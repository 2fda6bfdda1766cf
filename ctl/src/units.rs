//! Durations as raftctl prints them: short, and readable at a glance.

use std::time::Duration;

/// "12ms", "3.4s", "5m07s".
pub fn millis(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

pub fn duration(d: Duration) -> String {
    millis(d.as_millis().min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(millis(12), "12ms");
        assert_eq!(millis(3_450), "3.5s");
        assert_eq!(millis(307_000), "5m07s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
    }
}
