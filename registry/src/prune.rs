//! Garbage collection of the unreachable and gone lists (SPEC section 1):
//! the leader selects entries with [`Registry::select_prune`] and
//! replicates the selection as `Command::Prune`.
//!
//! # The Mesos prune bug, and why this is different
//!
//! Mesos (`Master::doRegistryGc` in `src/master/master.cpp`, the `Prune`
//! operation in `src/master/registry_operations.cpp`) gets two things wrong:
//!
//! 1. **Prune matches by id only, so it can drop an entry it never
//!    selected.** The GC decision is taken at one moment and applied later,
//!    after the registry operations queued before it. If in between the
//!    agent re-registered and was marked unreachable again (a fresh entry
//!    with a new time), `Prune` removes that fresh entry, which meets
//!    neither the age nor the count criterion; `_doRegistryGc` then erases
//!    it from memory too, so the agent's unreachable tasks are forgotten and
//!    reconciliation answers TASK_UNKNOWN / TASK_LOST right away instead of
//!    TASK_UNREACHABLE. (Mesos's GC race test only covers the entry
//!    disappearing, not it coming back.) With Raft the window is real: the
//!    leader selects from its *applied* state while entries already in the
//!    log are still to be applied, and a new leader may run GC before it
//!    has applied the whole log.
//!    Here each [`PruneEntry`] carries the time the entry was selected
//!    with, and `Prune` drops an entry only if it is still there with
//!    exactly that time.
//! 2. **Count-based GC trusts insertion order as age order.** Mesos drops
//!    "from the beginning" of an insertion-ordered map, whose order is the
//!    order registry writes completed in, while the stored time was stamped
//!    by whichever master was leading. After a failover to a master whose
//!    clock is behind, the two orders differ and Mesos can drop a newer
//!    entry while keeping an older one. Here entries are sorted by their
//!    stored time (ties broken by id, for determinism), never by position.
//!
//! Like Mesos, the two lists are limited separately: up to `max_count`
//! unreachable entries *and* up to `max_count` gone entries.

use crate::limits::MAX_PRUNE_ENTRIES;
use crate::{Command, PruneEntry, Registry, Response, TimeNs};
use mesoraft_proto::mesos::v1::AgentId;

/// Default `--registry-max-agent-count` (Mesos's).
pub const DEFAULT_MAX_AGENT_COUNT: usize = 100 * 1024;

/// Default `--registry-max-agent-age`: two weeks, in nanoseconds (Mesos's).
pub const DEFAULT_MAX_AGENT_AGE_NS: i64 = 14 * 24 * 60 * 60 * 1_000_000_000;

/// The entries a GC round should drop, oldest first in each list, at most
/// `MAX_PRUNE_ENTRIES` per list (one Prune command must stay within the
/// command size limit); the most overdue go first and the rest in the
/// next rounds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PruneSelection {
    pub unreachable: Vec<PruneEntry>,
    pub gone: Vec<PruneEntry>,
}

impl PruneSelection {
    /// Nothing to collect: the leader need not replicate anything.
    pub fn is_empty(&self) -> bool {
        self.unreachable.is_empty() && self.gone.is_empty()
    }

    /// The command that drops exactly these entries.
    pub fn into_command(self) -> Command {
        Command::Prune {
            unreachable: self.unreachable,
            gone: self.gone,
        }
    }
}

impl Registry {
    /// Chooses, in each of the unreachable and gone lists separately, the
    /// entries to garbage-collect at `now_ns`: the oldest ones beyond
    /// `max_count`, and every one marked more than `max_age_ns` before
    /// `now_ns`. Oldest first by marked time, ties by id. Pure: the leader
    /// passes its clock in.
    pub fn select_prune(
        &self,
        now_ns: TimeNs,
        max_count: usize,
        max_age_ns: i64,
    ) -> PruneSelection {
        let unreachable = self
            .unreachable
            .iter()
            .map(|(id, entry)| (entry.time_ns, id.as_str()));
        let gone = self
            .gone
            .iter()
            .map(|(id, &time_ns)| (time_ns, id.as_str()));
        PruneSelection {
            unreachable: select_list(unreachable, now_ns, max_count, max_age_ns),
            gone: select_list(gone, now_ns, max_count, max_age_ns),
        }
    }

    /// Prune: drops each listed entry that is still present with the time
    /// it was selected with; skips the others (see the module docs).
    pub(crate) fn prune(&mut self, unreachable: &[PruneEntry], gone: &[PruneEntry]) -> Response {
        let mut dropped_unreachable = 0;
        for entry in unreachable {
            let id = &entry.agent_id.value;
            if self.unreachable.get(id).map(|e| e.time_ns) == Some(entry.time_ns) {
                self.unreachable.remove(id);
                dropped_unreachable += 1;
            }
        }
        let mut dropped_gone = 0;
        for entry in gone {
            let id = &entry.agent_id.value;
            if self.gone.get(id) == Some(&entry.time_ns) {
                self.gone.remove(id);
                dropped_gone += 1;
            }
        }
        Response::Pruned {
            unreachable: dropped_unreachable,
            gone: dropped_gone,
        }
    }
}

/// Selects from one list of `(marked time, id)`: a prefix of the list
/// sorted oldest first, long enough to cover both the excess over
/// `max_count` and every expired entry (expired entries form a prefix too,
/// since age only decreases along the sorted list).
fn select_list<'a>(
    entries: impl Iterator<Item = (TimeNs, &'a str)>,
    now_ns: TimeNs,
    max_count: usize,
    max_age_ns: i64,
) -> Vec<PruneEntry> {
    let mut oldest_first: Vec<(TimeNs, &str)> = entries.collect();
    oldest_first.sort_unstable();
    let excess = oldest_first.len().saturating_sub(max_count);
    let expired =
        oldest_first.partition_point(|&(time_ns, _)| is_expired(now_ns, time_ns, max_age_ns));
    oldest_first
        .into_iter()
        .take(excess.max(expired).min(MAX_PRUNE_ENTRIES))
        .map(|(time_ns, id)| PruneEntry {
            agent_id: AgentId {
                value: id.to_string(),
            },
            time_ns,
        })
        .collect()
}

/// Whether an entry marked at `time_ns` is older than `max_age_ns` at
/// `now_ns` (strictly, as Mesos). In i128 so that no times can overflow.
fn is_expired(now_ns: TimeNs, time_ns: TimeNs, max_age_ns: i64) -> bool {
    i128::from(now_ns) - i128::from(time_ns) > i128::from(max_age_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::AgentState;

    const NO_AGE_LIMIT: i64 = i64::MAX;
    const NO_COUNT_LIMIT: usize = usize::MAX;

    /// Unreachable agents marked at the given times, in this order (the log
    /// order), with ids c-S0, c-S1, ...
    fn unreachable_at(times: &[TimeNs]) -> Registry {
        let mut registry = cluster("c");
        for (n, &time) in times.iter().enumerate() {
            let id = format!("c-S{n}");
            apply_ok(&mut registry, admit(Some(&id)));
            apply_ok(&mut registry, mark_unreachable(&id, time));
        }
        registry
    }

    fn gone_at(registry: &mut Registry, id: &str, time: TimeNs) {
        apply_ok(registry, admit(Some(id)));
        apply_ok(registry, mark_gone(id, time));
    }

    fn pruned(unreachable: usize, gone: usize) -> Response {
        Response::Pruned { unreachable, gone }
    }

    // ----- selection -----

    #[test]
    fn defaults_are_mesos_defaults() {
        assert_eq!(DEFAULT_MAX_AGENT_COUNT, 102_400);
        assert_eq!(DEFAULT_MAX_AGENT_AGE_NS, 1_209_600_000_000_000);
    }

    #[test]
    fn nothing_to_select_in_an_empty_or_small_registry() {
        let selection = Registry::default().select_prune(0, 0, 0);
        assert!(selection.is_empty());
        let registry = unreachable_at(&[10, 20]);
        assert!(registry.select_prune(30, 2, 100).is_empty());
    }

    #[test]
    fn by_count_the_oldest_beyond_the_limit_go_oldest_first() {
        let registry = unreachable_at(&[50, 10, 40, 20, 30]);
        let selection = registry.select_prune(60, 2, NO_AGE_LIMIT);
        let expected = vec![entry("c-S1", 10), entry("c-S3", 20), entry("c-S4", 30)];
        assert_eq!(selection.unreachable, expected);
        assert!(selection.gone.is_empty());
        assert_eq!(
            registry.select_prune(60, 0, NO_AGE_LIMIT).unreachable.len(),
            5
        );
    }

    #[test]
    fn by_age_entries_strictly_older_than_the_limit_go() {
        let registry = unreachable_at(&[50, 10, 40, 20, 30]);
        // At 100 with max age 60: ages 90, 80, 70 go; age 60 (time 40) stays.
        let selection = registry.select_prune(100, NO_COUNT_LIMIT, 60);
        let expected = vec![entry("c-S1", 10), entry("c-S3", 20), entry("c-S4", 30)];
        assert_eq!(selection.unreachable, expected);
    }

    #[test]
    fn count_and_age_together_select_whichever_reaches_further() {
        let registry = unreachable_at(&[10, 20, 30, 40, 50]);
        // Count alone: 1 entry; age alone: 3 entries.
        let selection = registry.select_prune(85, 4, 50);
        assert_eq!(selection.unreachable.len(), 3);
        // Count alone: 4 entries; age alone: 1 entry.
        let selection = registry.select_prune(65, 1, 50);
        assert_eq!(selection.unreachable.len(), 4);
        assert_eq!(selection.unreachable[3], entry("c-S3", 40));
    }

    #[test]
    fn ties_on_time_are_broken_by_id() {
        let registry = unreachable_at(&[7, 7, 7, 7]);
        let selection = registry.select_prune(8, 2, NO_AGE_LIMIT);
        assert_eq!(
            selection.unreachable,
            vec![entry("c-S0", 7), entry("c-S1", 7)]
        );
    }

    #[test]
    fn each_list_is_limited_separately() {
        let mut registry = unreachable_at(&[10, 20]);
        gone_at(&mut registry, "g1", 5);
        gone_at(&mut registry, "g2", 15);
        // Two of each with a limit of two: the lists are not counted jointly.
        assert!(registry.select_prune(30, 2, NO_AGE_LIMIT).is_empty());
        let selection = registry.select_prune(30, 1, NO_AGE_LIMIT);
        assert_eq!(selection.unreachable, vec![entry("c-S0", 10)]);
        assert_eq!(selection.gone, vec![entry("g1", 5)]);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let registry = unreachable_at(&[i64::MIN, i64::MAX]);
        let selection = registry.select_prune(i64::MAX, NO_COUNT_LIMIT, 0);
        assert_eq!(selection.unreachable, vec![entry("c-S0", i64::MIN)]);
        let selection = registry.select_prune(i64::MIN, NO_COUNT_LIMIT, i64::MIN);
        assert_eq!(selection.unreachable.len(), 1, "only the entry at i64::MIN");
        assert!(registry.select_prune(-1, 5, i64::MAX).is_empty());
    }

    // ----- the Mesos bugs (see the module docs) -----

    #[test]
    fn mesos_bug_a_selected_entry_recreated_before_the_prune_is_kept() {
        let mut registry = unreachable_at(&[10, 20]);
        // The leader selects both old entries...
        let selection = registry.select_prune(1_000, NO_COUNT_LIMIT, 100);
        assert_eq!(selection.unreachable.len(), 2);
        // ...but before its Prune is applied, c-S0 re-registers and goes
        // unreachable again.
        apply_ok(&mut registry, mark_reachable("c-S0"));
        apply_ok(&mut registry, mark_unreachable("c-S0", 990));
        // Mesos's Prune (by id) would drop the fresh entry; ours keeps it.
        let response = apply_ok(&mut registry, selection.into_command());
        assert_eq!(response, pruned(1, 0));
        assert_eq!(
            registry.agent_state("c-S0"),
            AgentState::Unreachable { time_ns: 990 }
        );
        assert_eq!(registry.agent_state("c-S1"), AgentState::Unknown);
    }

    #[test]
    fn mesos_bug_count_gc_follows_marked_time_not_log_order() {
        // The first leader marks c-S0 at 1000; after a failover, a leader
        // whose clock is behind marks c-S1 at 500. Mesos drops from the
        // start of its insertion-ordered list, i.e. the newer c-S0.
        let registry = unreachable_at(&[1_000, 500]);
        let selection = registry.select_prune(2_000, 1, NO_AGE_LIMIT);
        assert_eq!(selection.unreachable, vec![entry("c-S1", 500)]);
    }

    // ----- applying Prune -----

    #[test]
    fn prune_drops_present_entries_and_counts_them() {
        let mut registry = unreachable_at(&[10, 20, 30]);
        gone_at(&mut registry, "g1", 5);
        let command = Command::Prune {
            unreachable: vec![entry("c-S0", 10), entry("c-S2", 30)],
            gone: vec![entry("g1", 5)],
        };
        assert_eq!(apply_ok(&mut registry, command), pruned(2, 1));
        assert_eq!(registry.unreachable_agents().len(), 1);
        assert!(registry.gone_agents().is_empty());
    }

    #[test]
    fn prune_skips_absent_moved_duplicated_and_mismatched_entries() {
        let mut registry = unreachable_at(&[10, 20]);
        gone_at(&mut registry, "g1", 5);
        let before = registry.clone();
        let command = Command::Prune {
            unreachable: vec![
                entry("nobody", 10),
                entry("g1", 5),    // in the other list
                entry("c-S0", 11), // another time: not the selected entry
                entry("", 10),     // malformed: simply not present
            ],
            gone: vec![entry("c-S1", 20)],
        };
        assert_eq!(apply_ok(&mut registry, command), pruned(0, 0));
        assert_eq!(registry, before);

        let twice = Command::Prune {
            unreachable: vec![entry("c-S0", 10), entry("c-S0", 10)],
            gone: vec![],
        };
        assert_eq!(apply_ok(&mut registry, twice), pruned(1, 0));
    }

    #[test]
    fn an_empty_prune_changes_nothing() {
        let mut registry = unreachable_at(&[10]);
        let before = registry.clone();
        let command = PruneSelection::default().into_command();
        assert_eq!(apply_ok(&mut registry, command), pruned(0, 0));
        assert_eq!(registry, before);
    }

    #[test]
    fn pruned_entries_are_forgotten() {
        let mut registry = unreachable_at(&[10]);
        gone_at(&mut registry, "g1", 5);
        let selection = registry.select_prune(100, 0, NO_AGE_LIMIT);
        apply_ok(&mut registry, selection.into_command());
        // A pruned unreachable agent re-registers as unknown (SPEC table).
        assert_eq!(
            registry.apply(&mark_reachable("c-S0")),
            Ok(Response::Applied)
        );
        // A pruned gone id is forgotten too, exactly as in Mesos: the GC
        // bounds the tombstones. Generated ids still never repeat.
        assert_eq!(registry.agent_state("g1"), AgentState::Unknown);
    }

    #[test]
    fn one_round_selects_at_most_the_prune_limit_oldest_first() {
        let mut registry = cluster("c");
        let total = MAX_PRUNE_ENTRIES + 5;
        for n in 0..total {
            let id = format!("c-S{n}");
            apply_ok(&mut registry, admit(Some(&id)));
            apply_ok(&mut registry, mark_gone(&id, (total - n) as TimeNs));
        }
        let selection = registry.select_prune(0, 0, NO_AGE_LIMIT);
        assert_eq!(selection.gone.len(), MAX_PRUNE_ENTRIES);
        assert_eq!(selection.gone[0].time_ns, 1, "oldest first");
        let response = apply_ok(&mut registry, selection.into_command());
        assert_eq!(
            response,
            Response::Pruned {
                unreachable: 0,
                gone: MAX_PRUNE_ENTRIES
            }
        );
        let rest = registry.select_prune(0, 0, NO_AGE_LIMIT);
        assert_eq!(rest.gone.len(), 5);
    }
}
