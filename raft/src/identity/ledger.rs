//! What a master witnessed of the other incarnations, and the pure rules
//! that decide whether a new claim or a gossiped record is consistent with
//! it.
//!
//! A record is knowledge, never authority: every rule below only ever
//! *refuses* (marks an incarnation forked); none lets anything through that
//! the membership check would stop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::claim::{Claim, Promise, RUN_HISTORY};
use super::short;
use crate::NodeId;

/// The most records a ledger keeps, and a gossip message may carry.
pub const MAX_RECORDS: usize = 64;

/// What is known of one incarnation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(rename = "n")]
    pub node: NodeId,
    /// The newest run seen.
    #[serde(rename = "r")]
    pub run: u64,
    /// Ids of that run and the ones before it, oldest first.
    #[serde(rename = "a")]
    pub runs: Vec<String>,
    /// The state that run started from.
    #[serde(rename = "s")]
    pub start: Promise,
    /// The newest durable state the incarnation was seen to vouch for, in
    /// any run.
    #[serde(rename = "p")]
    pub promised: Promise,
    /// Why the incarnation must not take part any more, once it showed a
    /// state older than one it had promised.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub forked: Option<String>,
}

impl Record {
    /// The record a claim makes, plus a promise witnessed with it.
    pub fn from_claim(claim: &Claim, witnessed: Promise) -> Self {
        let promised = claim
            .start
            .max(claim.durable.unwrap_or_default())
            .max(witnessed);
        Self {
            node: claim.node,
            run: claim.run,
            runs: claim.runs.clone(),
            start: claim.start,
            promised,
            forked: None,
        }
    }

    pub fn run_id(&self) -> &str {
        self.runs.last().map(String::as_str).unwrap_or("")
    }

    /// The id of run `n` if this record's history reaches back to it.
    pub fn run_id_of(&self, n: u64) -> Option<&str> {
        let back = self.run.checked_sub(n)?;
        let back = usize::try_from(back).ok()?;
        let i = self.runs.len().checked_sub(1 + back)?;
        self.runs.get(i).map(String::as_str)
    }

    fn validate(&self) -> bool {
        let ok =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        !self.runs.is_empty()
            && self.runs.len() <= RUN_HISTORY
            && self.runs.iter().all(|r| ok(r))
            && self.forked.as_ref().is_none_or(|f| f.len() <= 512)
    }
}

/// Why `later` (a run numbered above `earlier`'s, or the same run) cannot
/// be a continuation of `earlier` on the same disk.
fn divergence(incarnation: &str, earlier: &Record, later: &Record) -> Option<String> {
    let who = format!("master {} (incarnation {})", later.node, short(incarnation));
    if earlier.run == later.run {
        if earlier.run_id() != later.run_id() {
            return Some(format!(
                "{who}: two different processes claim its run {}; one of them runs on a copy \
                 of its work dir",
                later.run
            ));
        }
        return None;
    }
    if let Some(id) = later.run_id_of(earlier.run) {
        if id != earlier.run_id() {
            return Some(format!(
                "{who}: its run {} does not descend from the run {} the group saw; it runs on \
                 a copy of its work dir made before that run",
                later.run, earlier.run
            ));
        }
    }
    if later.start < earlier.promised {
        return Some(format!(
            "{who}: its run {} started from {}, older than the {} it had already vouched for; \
             its work dir was restored from an older copy or lost writes",
            later.run, later.start, earlier.promised
        ));
    }
    None
}

/// Combines two records of one incarnation (gossip): the newer run wins,
/// promises add up, and an inconsistency marks the incarnation forked.
pub fn merge(incarnation: &str, a: &Record, b: &Record) -> Record {
    let (earlier, later) = if a.run <= b.run { (a, b) } else { (b, a) };
    let mut out = later.clone();
    out.promised = a.promised.max(b.promised);
    out.forked = a
        .forked
        .clone()
        .or_else(|| b.forked.clone())
        .or_else(|| divergence(incarnation, earlier, later));
    out
}

/// Judges a live claim (an incarnation speaking for itself) against what
/// is known of it.
///
/// A claim of a run *older* than one already seen is not by itself proof
/// of a copy: TCP delivers what a killed process had sent (its orphaned
/// socket retransmits for minutes after a partition heals), so the run
/// before a restart may speak after its successor. Such a late message is
/// the successor's ancestor (same run id) and vouches for nothing past
/// where the successor started; `merge` refuses anything else. Only a run
/// too old for the successor's run history to vouch for is refused for
/// its age alone: no message outlives that many restarts.
pub fn judge_claim(known: Option<&Record>, claim: &Claim, witnessed: Promise) -> Record {
    let fresh = Record::from_claim(claim, witnessed);
    let Some(known) = known else { return fresh };
    let mut out = merge(&claim.incarnation, known, &fresh);
    if out.forked.is_none() && claim.run < known.run && known.run_id_of(claim.run).is_none() {
        out.forked = Some(format!(
            "master {} (incarnation {}) came back as run {}, but its run {} was already seen; \
             it runs on a copy of its work dir",
            claim.node,
            short(&claim.incarnation),
            claim.run,
            known.run
        ));
    }
    out
}

/// Judges what peers know of this master against its own claim. Stricter
/// than [`judge_claim`]: this process is alive, so a newer run of its
/// incarnation seen elsewhere is another process on a copy of its work
/// dir, never a late message.
pub fn judge_own_claim(known: &Record, me: &Claim) -> Option<String> {
    if let Some(why) = judge_claim(Some(known), me, Promise::default()).forked {
        return Some(why);
    }
    (known.run > me.run).then(|| {
        format!(
            "master {} (incarnation {}) runs as run {}, but its run {} was seen; another \
             process runs on a copy of its work dir",
            me.node,
            short(&me.incarnation),
            me.run,
            known.run
        )
    })
}

/// Every incarnation this master knows about, by incarnation id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    records: BTreeMap<String, Record>,
}

impl Ledger {
    pub fn get(&self, incarnation: &str) -> Option<&Record> {
        self.records.get(incarnation)
    }

    pub fn records(&self) -> &BTreeMap<String, Record> {
        &self.records
    }

    pub fn forked(&self, incarnation: &str) -> Option<&str> {
        self.records.get(incarnation)?.forked.as_deref()
    }

    /// Records a live claim. Returns why the incarnation is forked, if it
    /// is, and whether anything new was learnt. The common case (the same
    /// run again, nothing newer vouched for) touches nothing.
    pub fn observe_quick(&mut self, claim: &Claim, witnessed: Promise) -> (Option<String>, bool) {
        if let Some(known) = self.records.get_mut(&claim.incarnation) {
            if known.forked.is_none() && known.run == claim.run && known.run_id() == claim.run_id()
            {
                let vouched = witnessed.max(claim.durable.unwrap_or_default());
                let changed = vouched > known.promised;
                known.promised = known.promised.max(vouched);
                return (None, changed);
            }
        }
        let (record, changed) = self.observe(claim, witnessed);
        (record.forked, changed)
    }

    /// Records a live claim; returns the record as it stands now. Changed
    /// tells whether anything new was learnt.
    pub fn observe(&mut self, claim: &Claim, witnessed: Promise) -> (Record, bool) {
        let known = self.records.get(&claim.incarnation);
        let judged = judge_claim(known, claim, witnessed);
        let changed = known != Some(&judged);
        if changed && (known.is_some() || self.records.len() < MAX_RECORDS) {
            self.records
                .insert(claim.incarnation.clone(), judged.clone());
        }
        (judged, changed)
    }

    /// Merges gossiped records; returns whether anything changed. Records
    /// of `skip` (this master's own incarnation) are left to the caller.
    pub fn absorb(&mut self, gossip: &BTreeMap<String, Record>, skip: &str) -> bool {
        let mut changed = false;
        for (inc, theirs) in gossip.iter().take(MAX_RECORDS) {
            if inc == skip || !theirs.validate() {
                continue;
            }
            let next = match self.records.get(inc) {
                Some(mine) => merge(inc, mine, theirs),
                None if self.records.len() < MAX_RECORDS => theirs.clone(),
                None => continue,
            };
            if self.records.get(inc) != Some(&next) {
                self.records.insert(inc.clone(), next);
                changed = true;
            }
        }
        changed
    }

    /// Keeps only the incarnations `keep` approves (the ones still in the
    /// membership); returns whether any was dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> bool {
        let before = self.records.len();
        self.records.retain(|inc, _| keep(inc));
        before != self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(run: u64, runs: &[&str], start: (u64, u64)) -> Claim {
        Claim {
            incarnation: "aa".into(),
            node: 1,
            run,
            runs: runs.iter().map(|s| s.to_string()).collect(),
            start: Promise::new(start.0, start.1),
            durable: None,
        }
    }

    #[test]
    fn a_clean_restart_is_accepted_and_keeps_promises() {
        let mut l = Ledger::default();
        let (r, _) = l.observe(&claim(1, &["01"], (0, 0)), Promise::new(3, 40));
        assert_eq!(r.forked, None);
        // Restarted from the state it had: vote 3, log 40 or more.
        let (r, changed) = l.observe(&claim(2, &["01", "02"], (3, 41)), Promise::default());
        assert!(changed);
        assert_eq!(r.forked, None, "{r:?}");
        assert_eq!(r.promised, Promise::new(3, 41));
        // The same run again learns nothing new.
        let (_, changed) = l.observe(&claim(2, &["01", "02"], (3, 41)), Promise::default());
        assert!(!changed);
        // A newer vote term covers any index of an older term.
        let (r, _) = l.observe(&claim(3, &["01", "02", "03"], (4, 0)), Promise::default());
        assert_eq!(r.forked, None);
    }

    #[test]
    fn a_start_behind_an_acknowledged_entry_is_a_restored_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(1, &["01"], (0, 0)), Promise::new(3, 40));
        let (r, _) = l.observe(&claim(2, &["01", "02"], (3, 39)), Promise::default());
        let why = r.forked.expect("older log in the same term");
        assert!(why.contains("restored"), "{why}");
        // Sticky: the incarnation stays refused.
        let (r, _) = l.observe(&claim(3, &["01", "02", "03"], (9, 0)), Promise::default());
        assert!(r.forked.is_some());
        assert!(l.forked("aa").is_some());
    }

    #[test]
    fn an_older_vote_term_is_a_restored_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(1, &["01"], (0, 0)), Promise::new(7, 0));
        let (r, _) = l.observe(&claim(2, &["01", "02"], (6, 500)), Promise::default());
        assert!(r.forked.is_some());
    }

    #[test]
    fn a_second_process_with_the_same_run_number_is_a_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(1, &["01"], (0, 0)), Promise::default());
        l.observe(&claim(2, &["01", "02"], (1, 1)), Promise::default());
        // A copy made during run 1 starts as run 2 with another id.
        let (r, _) = l.observe(&claim(2, &["01", "0b"], (1, 1)), Promise::default());
        assert!(r.forked.unwrap().contains("two different processes"));
    }

    #[test]
    fn a_run_not_descending_from_the_seen_one_is_a_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(2, &["01", "02"], (1, 1)), Promise::default());
        let (r, _) = l.observe(&claim(3, &["01", "0c", "03"], (1, 1)), Promise::default());
        assert!(r.forked.unwrap().contains("does not descend"));
    }

    #[test]
    fn a_late_message_from_the_run_before_a_restart_is_not_a_copy() {
        let mut l = Ledger::default();
        // Run 2 votes in term 4 (durable before it answers), is killed,
        // and run 3 starts from that state.
        l.observe(&claim(2, &["01", "02"], (3, 40)), Promise::new(4, 0));
        l.observe(&claim(3, &["01", "02", "03"], (4, 41)), Promise::default());
        // Then what run 2 had sent arrives.
        let (r, _) = l.observe(&claim(2, &["01", "02"], (3, 40)), Promise::new(4, 0));
        assert_eq!(r.forked, None, "{r:?}");
        assert_eq!(
            (r.run, r.run_id()),
            (3, "03"),
            "the newer run stays the record"
        );
        let (forked, _) = l.observe_quick(&claim(2, &["01", "02"], (3, 40)), Promise::new(4, 0));
        assert_eq!(forked, None);
    }

    #[test]
    fn an_older_run_vouching_past_its_successors_start_is_a_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(2, &["01", "02"], (3, 40)), Promise::default());
        l.observe(&claim(3, &["01", "02", "03"], (4, 41)), Promise::default());
        // Run 2 still votes: it lives on next to run 3, which started from
        // a copy of its work dir.
        let (r, _) = l.observe(&claim(2, &["01", "02"], (3, 40)), Promise::new(5, 0));
        assert!(r.forked.unwrap().contains("older than"));
    }

    #[test]
    fn an_older_run_that_is_not_the_successors_ancestor_is_a_copy() {
        let mut l = Ledger::default();
        l.observe(&claim(3, &["01", "02", "03"], (4, 41)), Promise::default());
        let (r, _) = l.observe(&claim(2, &["01", "0b"], (3, 40)), Promise::default());
        assert!(r.forked.unwrap().contains("does not descend"));
    }

    #[test]
    fn a_newer_run_of_this_very_master_seen_elsewhere_is_a_copy() {
        let me = claim(2, &["01", "02"], (3, 40));
        let seen = Record::from_claim(&claim(2, &["01", "02"], (3, 40)), Promise::new(4, 0));
        assert_eq!(judge_own_claim(&seen, &me), None);
        let newer = Record::from_claim(&claim(3, &["01", "02", "03"], (4, 41)), Promise::default());
        assert!(judge_own_claim(&newer, &me)
            .unwrap()
            .contains("another process"));
    }

    #[test]
    fn a_live_claim_of_a_run_beyond_the_history_is_a_copy() {
        let mut l = Ledger::default();
        let runs: Vec<String> = (1..=12).map(|i| format!("{i:02x}")).collect();
        let last8: Vec<&str> = runs[4..].iter().map(String::as_str).collect();
        l.observe(&claim(12, &last8, (5, 5)), Promise::default());
        // Run 2 is beyond the history window: only the run order tells.
        let (r, _) = l.observe(&claim(2, &["01", "02"], (1, 1)), Promise::default());
        assert!(r.forked.unwrap().contains("already seen"));
    }

    #[test]
    fn the_quick_path_agrees_with_the_full_one() {
        let mut quick = Ledger::default();
        let mut full = Ledger::default();
        let steps = [
            (claim(1, &["01"], (0, 0)), Promise::new(2, 5)),
            (claim(1, &["01"], (0, 0)), Promise::new(2, 9)),
            (claim(1, &["01"], (0, 0)), Promise::new(1, 50)),
            (claim(2, &["01", "02"], (2, 9)), Promise::default()),
            (claim(2, &["01", "0e"], (2, 9)), Promise::default()),
            (claim(2, &["01", "02"], (2, 9)), Promise::new(3, 1)),
        ];
        for (c, p) in steps {
            let (forked, changed) = quick.observe_quick(&c, p);
            let (record, full_changed) = full.observe(&c, p);
            assert_eq!(forked, record.forked);
            assert_eq!(changed, full_changed);
            assert_eq!(quick, full);
        }
    }

    #[test]
    fn gossip_merges_and_spreads_forks() {
        let mut mine = Ledger::default();
        mine.observe(&claim(1, &["01"], (0, 0)), Promise::new(2, 10));
        let mut theirs = Ledger::default();
        theirs.observe(&claim(2, &["01", "02"], (2, 10)), Promise::new(2, 30));
        assert!(mine.absorb(theirs.records(), "zz"));
        let r = mine.get("aa").unwrap();
        assert_eq!((r.run, r.promised), (2, Promise::new(2, 30)));
        assert!(
            !mine.absorb(theirs.records(), "zz"),
            "nothing new the second time"
        );

        // A gossiped record from a copy that started behind the promise.
        let mut copy = Ledger::default();
        copy.observe(&claim(3, &["01", "02", "0d"], (2, 20)), Promise::default());
        mine.absorb(copy.records(), "zz");
        assert!(mine.forked("aa").is_some());
        // Own records are not absorbed, and junk is ignored.
        let mut junk = BTreeMap::new();
        junk.insert(
            "bb".to_string(),
            Record {
                runs: vec![],
                ..mine.get("aa").unwrap().clone()
            },
        );
        assert!(!mine.absorb(&junk, "zz"));
        assert!(!mine.absorb(copy.records(), "aa"));
    }

    #[test]
    fn merge_is_order_independent() {
        let a = Record::from_claim(&claim(1, &["01"], (0, 0)), Promise::new(2, 5));
        let b = Record::from_claim(&claim(2, &["01", "02"], (2, 5)), Promise::new(3, 1));
        assert_eq!(merge("aa", &a, &b), merge("aa", &b, &a));
        let c = Record::from_claim(&claim(2, &["01", "0f"], (2, 5)), Promise::default());
        assert_eq!(
            merge("aa", &b, &c).forked.is_some(),
            merge("aa", &c, &b).forked.is_some()
        );
    }
}
