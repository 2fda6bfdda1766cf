//! Id validation, and the counters that keep generated ids unique forever.

use serde::{Deserialize, Serialize};

use crate::error::IdKind;
use crate::limits::clip;
use crate::RegistryError;

/// Longest id accepted: ids name directories on agents (Mesos's NAME_MAX).
pub const MAX_ID_LEN: usize = 255;

/// Longest cluster id: it prefixes every generated id, which must still fit
/// in [`MAX_ID_LEN`] with "-S" and a 20-digit counter.
pub const MAX_CLUSTER_ID_LEN: usize = MAX_ID_LEN - 22;

/// Checks an id with Mesos's rules (`common/validation.cpp`, `validateID`):
/// not empty, not too long, not "." or "..", no control characters and no
/// path separators (agents use ids as directory names).
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), RegistryError> {
    let max_len = match kind {
        IdKind::Cluster => MAX_CLUSTER_ID_LEN,
        IdKind::Agent | IdKind::Framework => MAX_ID_LEN,
    };
    let reason = if id.is_empty() {
        "it must not be empty".to_string()
    } else if id.len() > max_len {
        format!("it must not be longer than {max_len} bytes")
    } else if id == "." || id == ".." {
        "'.' and '..' are not allowed".to_string()
    } else if id.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        "it must not contain control characters, '/' or '\\'".to_string()
    } else {
        return Ok(());
    };
    Err(RegistryError::InvalidId {
        kind,
        id: clip(id),
        reason,
    })
}

/// The one rule tying an id counter to the ids in the registry: the
/// counter `next` *covers* sequence number `n` when it can never hand `n`
/// out again, because it has moved past it or is exhausted (`u64::MAX` is
/// never handed out). `apply` moves counters with [`advance_past`], which
/// always leaves the number covered; the snapshot loader requires every
/// stored id in the generated form to be covered. Both go through this
/// function, so any state `apply` produces restores from its snapshot.
pub(crate) fn covers(next: u64, n: u64) -> bool {
    n < next || next == u64::MAX
}

/// The counter after `n` came into use: unchanged if it covers `n`
/// already, else just past it (saturating at `u64::MAX`, exhausted).
pub(crate) fn advance_past(next: u64, n: u64) -> u64 {
    if covers(next, n) {
        next
    } else {
        n.saturating_add(1)
    }
}

/// The next sequence numbers for generated ids. They only move forward:
/// past every number handed out, and past every number of an explicit id
/// in the generated form, so a generated id never repeats one the cluster
/// has seen, even after that one was pruned or completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdCounters {
    pub next_agent: u64,
    pub next_framework: u64,
}

impl IdCounters {
    /// The id the next generated agent would get (Mesos: `<master>-S<n>`).
    /// `u64::MAX` is never handed out: it marks the counter as exhausted.
    pub fn peek_agent_id(&self, cluster_id: &str) -> Result<String, RegistryError> {
        available(self.next_agent, IdKind::Agent).map(|n| agent_id(cluster_id, n))
    }

    /// The id the next generated framework would get (Mesos:
    /// `<master>-<nnnn>`, zero padded to 4 digits).
    pub fn peek_framework_id(&self, cluster_id: &str) -> Result<String, RegistryError> {
        available(self.next_framework, IdKind::Framework).map(|n| framework_id(cluster_id, n))
    }

    /// Records that `id` is now in use: moves the agent counter past it if
    /// it has the generated form.
    pub fn note_agent_id(&mut self, cluster_id: &str, id: &str) {
        if let Some(n) = sequence_of(id, cluster_id, AGENT_SEPARATOR) {
            self.next_agent = advance_past(self.next_agent, n);
        }
    }

    /// Records that `id` is now in use (see [`Self::note_agent_id`]).
    pub fn note_framework_id(&mut self, cluster_id: &str, id: &str) {
        if let Some(n) = sequence_of(id, cluster_id, FRAMEWORK_SEPARATOR) {
            self.next_framework = advance_past(self.next_framework, n);
        }
    }

    /// Whether the agent counter can never generate `id` (true for ids
    /// not in the generated form). Every stored agent id must satisfy it.
    pub fn covers_agent_id(&self, cluster_id: &str, id: &str) -> bool {
        sequence_of(id, cluster_id, AGENT_SEPARATOR).is_none_or(|n| covers(self.next_agent, n))
    }

    /// Like [`Self::covers_agent_id`], for framework ids.
    pub fn covers_framework_id(&self, cluster_id: &str, id: &str) -> bool {
        sequence_of(id, cluster_id, FRAMEWORK_SEPARATOR)
            .is_none_or(|n| covers(self.next_framework, n))
    }
}

const AGENT_SEPARATOR: &str = "-S";
const FRAMEWORK_SEPARATOR: &str = "-";

fn available(next: u64, kind: IdKind) -> Result<u64, RegistryError> {
    if next == u64::MAX {
        Err(RegistryError::IdSpaceExhausted { kind })
    } else {
        Ok(next)
    }
}

fn agent_id(cluster_id: &str, n: u64) -> String {
    format!("{cluster_id}{AGENT_SEPARATOR}{n}")
}

fn framework_id(cluster_id: &str, n: u64) -> String {
    format!("{cluster_id}{FRAMEWORK_SEPARATOR}{n:04}")
}

/// `n` if `id` is `<cluster_id><separator><n>` with `n` all ASCII digits.
fn sequence_of(id: &str, cluster_id: &str, separator: &str) -> Option<u64> {
    let digits = id.strip_prefix(cluster_id)?.strip_prefix(separator)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for a u64: no counter value can produce it.
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass() {
        for id in [
            "a",
            "c-S1",
            "0b1f-0003",
            "x.y",
            "...",
            &"a".repeat(MAX_ID_LEN),
        ] {
            assert_eq!(validate_id(IdKind::Agent, id), Ok(()), "{id}");
        }
    }

    #[test]
    fn invalid_ids_are_refused() {
        let too_long = "a".repeat(MAX_ID_LEN + 1);
        for id in [
            "", ".", "..", "a/b", "a\\b", "a\nb", "a\0", "\u{7f}", &too_long,
        ] {
            assert!(
                matches!(
                    validate_id(IdKind::Framework, id),
                    Err(RegistryError::InvalidId {
                        kind: IdKind::Framework,
                        ..
                    })
                ),
                "{id:?}"
            );
        }
    }

    #[test]
    fn cluster_ids_leave_room_for_generated_suffixes() {
        let longest = "c".repeat(MAX_CLUSTER_ID_LEN);
        assert_eq!(validate_id(IdKind::Cluster, &longest), Ok(()));
        let generated = agent_id(&longest, u64::MAX - 1);
        assert!(generated.len() <= MAX_ID_LEN);
        assert!(validate_id(IdKind::Cluster, &format!("{longest}c")).is_err());
    }

    #[test]
    fn generated_ids_have_the_mesos_form() {
        let counters = IdCounters {
            next_agent: 7,
            next_framework: 3,
        };
        assert_eq!(counters.peek_agent_id("c").unwrap(), "c-S7");
        assert_eq!(counters.peek_framework_id("c").unwrap(), "c-0003");
        let big = IdCounters {
            next_agent: 0,
            next_framework: 12345,
        };
        assert_eq!(big.peek_framework_id("c").unwrap(), "c-12345");
    }

    #[test]
    fn explicit_ids_in_the_generated_form_move_the_counters() {
        let mut counters = IdCounters::default();
        counters.note_agent_id("c", "c-S41");
        counters.note_framework_id("c", "c-0009");
        assert_eq!(counters.next_agent, 42);
        assert_eq!(counters.next_framework, 10);
        // Lower numbers, other clusters and other forms change nothing.
        for id in [
            "c-S3",
            "d-S99",
            "c-S",
            "c-Sx",
            "c-S+1",
            "c-99",
            "c-S99999999999999999999999",
        ] {
            counters.note_agent_id("c", id);
        }
        assert_eq!(counters.next_agent, 42);
    }

    #[test]
    fn the_largest_number_exhausts_the_counter_instead_of_repeating() {
        let mut counters = IdCounters::default();
        counters.note_agent_id("c", &format!("c-S{}", u64::MAX));
        assert_eq!(
            counters.peek_agent_id("c"),
            Err(RegistryError::IdSpaceExhausted {
                kind: IdKind::Agent
            })
        );
        counters.note_framework_id("c", &format!("c-{}", u64::MAX - 1));
        assert!(counters.peek_framework_id("c").is_err());
    }

    #[test]
    fn advancing_always_leaves_the_number_covered() {
        let edges = [0, 1, 2, 41, 42, u64::MAX - 2, u64::MAX - 1, u64::MAX];
        for next in edges {
            for n in edges {
                let after = advance_past(next, n);
                assert!(covers(after, n), "next {next}, n {n} -> {after}");
                assert!(after >= next, "the counter moved back: {next} -> {after}");
                // Nothing the counter had covered becomes uncovered.
                for m in edges {
                    assert!(!covers(next, m) || covers(after, m));
                }
            }
        }
    }

    #[test]
    fn an_exhausted_counter_covers_every_number_and_hands_out_none() {
        assert!(covers(u64::MAX, u64::MAX));
        assert!(!covers(u64::MAX - 1, u64::MAX));
        let mut counters = IdCounters::default();
        let largest = format!("c-S{}", u64::MAX);
        counters.note_agent_id("c", &largest);
        assert!(counters.covers_agent_id("c", &largest));
        assert!(counters.peek_agent_id("c").is_err());
        let next_to_largest = format!("c-{}", u64::MAX - 1);
        let mut counters = IdCounters::default();
        counters.note_framework_id("c", &next_to_largest);
        assert!(counters.covers_framework_id("c", &next_to_largest));
        assert_eq!(counters.next_framework, u64::MAX);
    }
}
