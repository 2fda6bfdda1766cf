//! What the built-in executors' unit tests share: a predictable entropy
//! source, session settings and a clock reading.

use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::{ExecutorId, FrameworkId};

use super::session::Settings;
use super::vocab::{Entropy, Now};

/// Uuids 1, 2, 3, ... (16 equal bytes each); jitter always one half.
pub struct Counter(pub u8);

impl Entropy for Counter {
    fn uuid(&mut self) -> Vec<u8> {
        self.0 += 1;
        vec![self.0; 16]
    }
    fn unit(&mut self) -> f64 {
        0.5
    }
}

/// Settings of executor `executor` of framework `f1`.
pub fn settings(executor: &str, checkpoint: bool) -> Settings {
    Settings {
        framework_id: FrameworkId { value: "f1".into() },
        executor_id: ExecutorId {
            value: executor.into(),
        },
        checkpoint,
        recovery_timeout: Duration::from_secs(900),
        subscription_backoff_max: Duration::from_secs(2),
        shutdown_grace_period: Duration::from_secs(5),
    }
}

/// `secs` after `base`.
pub fn at(base: Instant, secs: u64) -> Now {
    Now {
        mono: base + Duration::from_secs(secs),
        unix_secs: 1_700_000_000.0 + secs as f64,
    }
}
