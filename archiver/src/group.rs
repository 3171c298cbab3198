//! Which consecutive seals become one object: a pure, deterministic rule
//! over the canonical seals of a partition (`docs/FORMAT.md` §6a).
//!
//! The rule sees only what every reader of the seals topic sees (each seal's
//! count and `sealed_at_ms`, heartbeats included), never wall-clock time or
//! what happened to be fetched together, so an archiver that restarts, or
//! the member a partition moves to, cuts the same runs and names the same
//! keys: a retry finds its own objects instead of writing different ones.
//!
//! Seals are offered in canonical order. A run closes
//! - *with* a data seal that brings it to `max_records` records or
//!   `max_seals` seals;
//! - *before* a data seal sealed `max_age_ms` or more after the run's first
//!   seal (that seal starts the next run);
//! - *at* a heartbeat sealed `max_age_ms` or more after the run's first
//!   seal, so the last run of a partition that went quiet closes within
//!   `max_age_ms` plus one heartbeat interval.

use chain::manifest::Seals;
use chain::seal::{Seal, SealKind};

/// The targets of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRule {
    /// Records in a run, at most (a seal is never split, so a single seal
    /// may hold more).
    pub max_records: u64,
    /// Seals in a run, at most (bounds a run's bytes by this many times the
    /// sealer's `max_bytes`).
    pub max_seals: usize,
    /// Milliseconds of seal time a run spans, at most.
    pub max_age_ms: i64,
}

impl GroupRule {
    /// One seal per object: every data seal closes its run.
    pub const ONE_SEAL: GroupRule = GroupRule {
        max_records: 1,
        max_seals: 1,
        max_age_ms: 0,
    };
}

/// The open run of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    seals: Vec<Seal>,
    records: u64,
}

/// What offering a seal did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offered {
    /// A run that closed before the offered seal (which is not in it).
    pub before: Option<Seals>,
    /// A run that closed with the offered seal (its last).
    pub with: Option<Seals>,
}

impl Group {
    /// Whether a run is open (holds seals not yet in a closed run).
    pub fn is_open(&self) -> bool {
        !self.seals.is_empty()
    }

    fn take(&mut self) -> Option<Seals> {
        self.records = 0;
        Seals::new(std::mem::take(&mut self.seals))
    }

    fn aged(&self, rule: &GroupRule, seal: &Seal) -> bool {
        self.seals
            .first()
            .is_some_and(|f| seal.sealed_at_ms.saturating_sub(f.sealed_at_ms) >= rule.max_age_ms)
    }

    /// Offers the partition's next canonical seal (data or heartbeat).
    pub fn offer(&mut self, rule: &GroupRule, seal: &Seal) -> Offered {
        let before = if self.aged(rule, seal) {
            self.take()
        } else {
            None
        };
        if seal.kind == SealKind::Heartbeat {
            return Offered { before, with: None };
        }
        self.seals.push(seal.clone());
        self.records = self.records.saturating_add(seal.count);
        let full = self.records >= rule.max_records || self.seals.len() >= rule.max_seals;
        Offered {
            before,
            with: if full { self.take() } else { None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::seal::KeyId;
    use proptest::prelude::*;

    fn seal(kind: SealKind, seq: u64, count: u64, at: i64) -> Seal {
        Seal {
            kind,
            topic: "t".into(),
            partition: 0,
            seq,
            first_offset: 0,
            last_offset: count as i64 - 1,
            count,
            prev_head: [0; 32],
            head: [0; 32],
            merkle_root: [0; 32],
            high_watermark: 0,
            sealed_at_ms: at,
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        }
    }

    fn seqs(s: &Option<Seals>) -> Vec<u64> {
        s.iter().flat_map(|r| r.iter().map(|x| x.seq)).collect()
    }

    const RULE: GroupRule = GroupRule {
        max_records: 100,
        max_seals: 3,
        max_age_ms: 1000,
    };

    #[test]
    fn a_run_closes_at_its_record_seal_and_age_targets() {
        let mut g = Group::default();
        let d = SealKind::Data;
        assert_eq!(g.offer(&RULE, &seal(d, 0, 60, 0)), Offered::default());
        // Records: 60 + 40 reaches 100 with seal 1.
        let o = g.offer(&RULE, &seal(d, 1, 40, 10));
        assert_eq!((seqs(&o.before), seqs(&o.with)), (vec![], vec![0, 1]));
        assert!(!g.is_open());
        // Seals: the third closes it.
        g.offer(&RULE, &seal(d, 2, 1, 20));
        g.offer(&RULE, &seal(d, 3, 1, 30));
        let o = g.offer(&RULE, &seal(d, 4, 1, 40));
        assert_eq!(seqs(&o.with), vec![2, 3, 4]);
        // Age: a data seal 1000 ms after the run's first starts the next run.
        g.offer(&RULE, &seal(d, 5, 1, 100));
        let o = g.offer(&RULE, &seal(d, 6, 1, 1100));
        assert_eq!((seqs(&o.before), seqs(&o.with)), (vec![5], vec![]));
        assert!(g.is_open());
        // A heartbeat too young leaves the run open; an old enough one closes it.
        let hb = SealKind::Heartbeat;
        assert_eq!(g.offer(&RULE, &seal(hb, 7, 0, 2099)), Offered::default());
        let o = g.offer(&RULE, &seal(hb, 8, 0, 2100));
        assert_eq!((seqs(&o.before), seqs(&o.with)), (vec![6], vec![]));
        assert!(!g.is_open());
        // A seal bigger than the target is a run of its own, even right
        // after an aged run closed.
        g.offer(&RULE, &seal(d, 9, 1, 3000));
        let o = g.offer(&RULE, &seal(d, 10, 500, 5000));
        assert_eq!((seqs(&o.before), seqs(&o.with)), (vec![9], vec![10]));
    }

    #[test]
    fn one_seal_per_object() {
        let mut g = Group::default();
        for i in 0..5 {
            let o = g.offer(&GroupRule::ONE_SEAL, &seal(SealKind::Data, i, 1, 0));
            assert_eq!((seqs(&o.before), seqs(&o.with)), (vec![], vec![i]));
        }
    }

    proptest! {
        /// Whatever the seals, the runs are the data seals in order, each
        /// exactly once, none over its targets except a lone big seal; and
        /// offering the same seals again cuts the same runs.
        #[test]
        fn runs_partition_the_data_seals_within_the_targets(
            spec in proptest::collection::vec((any::<bool>(), 1u64..80, 0i64..700), 0..60)
        ) {
            let mut at = 0;
            let seals: Vec<Seal> = spec.iter().enumerate().map(|(i, (hb, n, dt))| {
                at += dt;
                let kind = if *hb { SealKind::Heartbeat } else { SealKind::Data };
                seal(kind, i as u64, if *hb { 0 } else { *n }, at)
            }).collect();
            let cut = |seals: &[Seal]| {
                let mut g = Group::default();
                let mut runs = Vec::new();
                for s in seals {
                    let o = g.offer(&RULE, s);
                    runs.extend(o.before);
                    runs.extend(o.with);
                }
                (runs, g)
            };
            let (runs, open) = cut(&seals);
            let (again, _) = cut(&seals);
            prop_assert_eq!(&runs, &again);
            let mut flat: Vec<u64> = runs.iter().flat_map(|r| r.iter().map(|s| s.seq)).collect();
            flat.extend(open.seals.iter().map(|s| s.seq));
            let data: Vec<u64> = seals.iter().filter(|s| s.kind == SealKind::Data).map(|s| s.seq).collect();
            prop_assert_eq!(flat, data);
            for r in &runs {
                prop_assert!(r.len() <= RULE.max_seals);
                prop_assert!(r.len() == 1 || r.count() - r.last().count < RULE.max_records);
                prop_assert!(r.last().sealed_at_ms - r.first().sealed_at_ms < RULE.max_age_ms);
            }
        }
    }
}
