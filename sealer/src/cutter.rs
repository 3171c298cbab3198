//! Batch cutting for one partition: pure state, no IO.
//!
//! A [`PartitionSealer`] holds the chain of one partition and the records
//! appended since the last seal. It decides when to cut (every `max_records`
//! records, once `max_bytes` of record keys and values are pending, or
//! `max_interval` after the first unsealed record), and cuts data seals and
//! heartbeats. The caller supplies the clock.
//!
//! `max_bytes` is what bounds the archiver's memory: it holds one sealed
//! range at a time, so no range may be larger than `max_bytes` plus the one
//! record that crossed it.

use std::time::{Duration, Instant};

use chain::canonical::Tip;
use chain::link::{Chain, Hash, OffsetOrder, RecordRef};
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind};
use ed25519_dalek::SigningKey;

/// When to cut.
#[derive(Debug, Clone, Copy)]
pub struct CutPolicy {
    /// Cut after this many records.
    pub max_records: usize,
    /// Cut once the pending records' keys and values reach this many bytes.
    pub max_bytes: u64,
    /// Cut this long after the first unsealed record arrived.
    pub max_interval: Duration,
    /// Emit a heartbeat after this long without any seal.
    pub heartbeat_interval: Duration,
}

/// The sealing state of one partition.
#[derive(Debug, Clone)]
pub struct PartitionSealer {
    topic: String,
    partition: i32,
    /// The canonical tip the pending records extend.
    tip: Tip,
    chain: Chain,
    leaves: Vec<Hash>,
    pending_bytes: u64,
    first_offset: Option<i64>,
    last_offset: i64,
    oldest_timestamp_ms: Option<i64>,
    pending_since: Option<Instant>,
    last_seal_at: Instant,
}

impl PartitionSealer {
    /// Starts from the canonical `tip` of (topic, partition).
    pub fn new(topic: &str, partition: i32, tip: Tip, now: Instant) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            chain: Chain::resume(tip.head, tip.next_offset),
            tip,
            leaves: Vec::new(),
            pending_bytes: 0,
            first_offset: None,
            last_offset: -1,
            oldest_timestamp_ms: None,
            pending_since: None,
            last_seal_at: now,
        }
    }

    /// The tip the pending records extend.
    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    /// The next offset this partition expects (after pending records).
    pub fn next_offset(&self) -> Option<i64> {
        self.chain.next_offset()
    }

    /// Records appended since the last seal.
    pub fn pending(&self) -> usize {
        self.leaves.len()
    }

    /// Timestamp of the oldest unsealed record, if any.
    pub fn oldest_pending_timestamp_ms(&self) -> Option<i64> {
        self.oldest_timestamp_ms
    }

    /// Appends one record. `now` is called only for the first record of a
    /// seal (reading the clock per record is measurable).
    pub fn append(
        &mut self,
        r: &RecordRef<'_>,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), OffsetOrder> {
        let leaf = self.chain.append(r)?;
        self.leaves.push(leaf);
        self.pending_bytes +=
            (r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len)) as u64;
        self.first_offset.get_or_insert(r.offset);
        self.last_offset = r.offset;
        if let Some(ts) = r.timestamp_ms {
            self.oldest_timestamp_ms = Some(self.oldest_timestamp_ms.map_or(ts, |o| o.min(ts)));
        }
        if self.pending_since.is_none() {
            self.pending_since = Some(now());
        }
        Ok(())
    }

    /// Whether the pending records fill a seal (by count or bytes): cut now,
    /// without waiting for the tick.
    pub fn full(&self, policy: &CutPolicy) -> bool {
        self.leaves.len() >= policy.max_records || self.pending_bytes >= policy.max_bytes
    }

    /// Whether a data seal is due.
    pub fn data_due(&self, policy: &CutPolicy, now: Instant) -> bool {
        self.full(policy)
            || self
                .pending_since
                .is_some_and(|t| now.duration_since(t) >= policy.max_interval)
    }

    /// Whether a heartbeat is due (nothing pending, quiet for a while).
    pub fn heartbeat_due(&self, policy: &CutPolicy, now: Instant) -> bool {
        self.leaves.is_empty() && now.duration_since(self.last_seal_at) >= policy.heartbeat_interval
    }

    /// Cuts a data seal over the pending records, or a heartbeat if none are
    /// pending. The pending state is kept until [`Self::confirm`] or
    /// [`Self::rewind`].
    pub fn cut(&self, high_watermark: i64, sealed_at_ms: i64, key: &SigningKey) -> Seal {
        let (kind, first, last, count, root) = match self.first_offset {
            Some(first) => (
                SealKind::Data,
                first,
                self.last_offset,
                self.leaves.len() as u64,
                merkle::root(&self.leaves),
            ),
            None => {
                let next = self.tip.next_offset.unwrap_or(0);
                (SealKind::Heartbeat, next, next - 1, 0, merkle::empty_root())
            }
        };
        let mut seal = Seal {
            kind,
            topic: self.topic.clone(),
            partition: self.partition,
            seq: self.tip.next_seq,
            first_offset: first,
            last_offset: last,
            count,
            prev_head: self.tip.head,
            head: self.chain.head(),
            merkle_root: root,
            high_watermark,
            sealed_at_ms,
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        };
        seal.sign(key);
        seal
    }

    /// The seal was accepted as canonical: it becomes the tip.
    pub fn confirm(&mut self, seal: &Seal, now: Instant) {
        self.tip = Tip::after(seal);
        self.reset(now);
    }

    /// Another seal won: continue from `tip` (the caller re-reads records
    /// from `tip.next_offset`).
    pub fn rewind(&mut self, tip: Tip, now: Instant) {
        self.tip = tip;
        self.reset(now);
    }

    fn reset(&mut self, now: Instant) {
        self.chain = Chain::resume(self.tip.head, self.tip.next_offset);
        self.leaves.clear();
        self.pending_bytes = 0;
        self.first_offset = None;
        self.last_offset = -1;
        self.oldest_timestamp_ms = None;
        self.pending_since = None;
        self.last_seal_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::canonical::apply;
    use chain::seal::signing_key;

    fn policy() -> CutPolicy {
        CutPolicy {
            max_records: 3,
            max_bytes: 1 << 20,
            max_interval: Duration::from_millis(100),
            heartbeat_interval: Duration::from_secs(5),
        }
    }

    fn rec(offset: i64) -> (i64, Vec<u8>) {
        (offset, format!("v{offset}").into_bytes())
    }

    #[test]
    fn cuts_by_count_and_by_time_and_seals_chain_canonically() {
        let key = signing_key(&[7; 32]).expect("key");
        let known = key.verifying_key();
        let t0 = Instant::now();
        let mut tip = Tip::genesis("t", 1);
        let mut s = PartitionSealer::new("t", 1, tip.clone(), t0);
        for o in 10..12 {
            let (off, v) = rec(o);
            s.append(
                &RecordRef {
                    offset: off,
                    timestamp_ms: Some(o),
                    key: None,
                    value: Some(&v),
                },
                || t0,
            )
            .expect("append");
        }
        assert!(!s.data_due(&policy(), t0));
        assert!(
            s.data_due(&policy(), t0 + Duration::from_millis(100)),
            "time cut"
        );
        let (off, v) = rec(12);
        s.append(
            &RecordRef {
                offset: off,
                timestamp_ms: Some(12),
                key: None,
                value: Some(&v),
            },
            || t0,
        )
        .expect("append");
        assert!(s.data_due(&policy(), t0), "count cut");
        assert_eq!(s.oldest_pending_timestamp_ms(), Some(10));
        let seal = s.cut(13, 99, &key);
        assert_eq!(
            (seal.first_offset, seal.last_offset, seal.count, seal.seq),
            (10, 12, 3, 0)
        );
        assert_eq!(apply(&mut tip, "t", 1, &seal, |_| Some(known)), Ok(()));
        s.confirm(&seal, t0);
        assert_eq!(s.tip(), &tip);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn cuts_once_the_pending_bytes_reach_the_bound_and_starts_counting_again() {
        let key = signing_key(&[7; 32]).expect("key");
        let t0 = Instant::now();
        let policy = CutPolicy {
            max_records: 1000,
            max_bytes: 100,
            ..policy()
        };
        let mut s = PartitionSealer::new("t", 0, Tip::genesis("t", 0), t0);
        let value = [0u8; 40];
        let k = [1u8; 5];
        let add = |s: &mut PartitionSealer, o: i64| {
            s.append(
                &RecordRef {
                    offset: o,
                    timestamp_ms: None,
                    key: Some(&k),
                    value: Some(&value),
                },
                || t0,
            )
            .expect("append");
        };
        add(&mut s, 0);
        add(&mut s, 1);
        assert!(
            !s.full(&policy) && !s.data_due(&policy, t0),
            "90 bytes pending"
        );
        add(&mut s, 2);
        assert!(
            s.full(&policy) && s.data_due(&policy, t0),
            "135 bytes: the record that crossed the bound is the last"
        );
        let seal = s.cut(3, 1, &key);
        s.confirm(&seal, t0);
        add(&mut s, 3);
        assert!(!s.full(&policy), "bytes restart at each seal");
    }

    #[test]
    fn heartbeat_after_quiet_interval_is_canonical_and_keeps_the_head() {
        let key = signing_key(&[7; 32]).expect("key");
        let t0 = Instant::now();
        let mut tip = Tip {
            next_seq: 4,
            head: [9; 32],
            next_offset: Some(50),
        };
        let s = PartitionSealer::new("t", 1, tip.clone(), t0);
        assert!(!s.heartbeat_due(&policy(), t0 + Duration::from_secs(4)));
        assert!(s.heartbeat_due(&policy(), t0 + Duration::from_secs(5)));
        let hb = s.cut(50, 1, &key);
        assert_eq!(hb.kind, SealKind::Heartbeat);
        assert_eq!(
            (hb.first_offset, hb.last_offset, hb.count, hb.seq, hb.head),
            (50, 49, 0, 4, [9; 32])
        );
        assert_eq!(
            apply(&mut tip, "t", 1, &hb, |_| Some(key.verifying_key())),
            Ok(())
        );
        assert_eq!(tip.next_offset, Some(50));
    }
}
