//! The consumer loop's batching rules, pure: when a batch of closed runs is
//! read, and when a read range may be handed to the uploader, under the
//! memory plan (`auditlog_config::memory`).

use auditlog_config::memory::{MAX_BATCH_RANGES, MemoryPlan};
use chain::manifest::Seals;

use crate::upload::Done;

/// Records read at once, at most (besides the memory plan's bounds).
pub(super) const BATCH_RECORDS: u64 = 100_000;

/// A seal waiting in a batch: its range is read together with the others.
pub(super) enum Pending {
    Pass(Done),
    Data {
        at: (String, i32),
        seals: Seals,
        done: Done,
    },
}

/// The ranges of a batch, their records, and the bound of their key and
/// value bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct BatchSize {
    ranges: usize,
    records: u64,
    bytes: u64,
}

/// How big `batch` may be once read, when a seal holds at most
/// `seal_max_bytes` (plus the record that crossed it, which is not known
/// before reading: the plan's factors leave room for it).
fn size(batch: &[Pending], seal_max_bytes: u64) -> BatchSize {
    batch.iter().fold(BatchSize::default(), |s, p| match p {
        Pending::Data { seals, .. } => BatchSize {
            ranges: s.ranges + 1,
            records: s.records + seals.count(),
            bytes: s.bytes + seal_max_bytes.saturating_mul(seals.len() as u64),
        },
        Pending::Pass(_) => s,
    })
}

/// Whether adding `pending` would take a batch that already holds ranges
/// past the plan's byte bound: then the batch is read first.
pub(super) fn overflows(
    batch: &[Pending],
    pending: &[Pending],
    seal_max_bytes: u64,
    plan: &MemoryPlan,
) -> bool {
    let held = size(batch, seal_max_bytes).bytes;
    held > 0 && held + size(pending, seal_max_bytes).bytes > plan.batch_bytes
}

/// Whether a batch is as large as it may grow: read it now.
pub(super) fn is_full(batch: &[Pending], seal_max_bytes: u64, plan: &MemoryPlan) -> bool {
    let s = size(batch, seal_max_bytes);
    s.ranges >= MAX_BATCH_RANGES || s.records >= BATCH_RECORDS || s.bytes >= plan.batch_bytes
}

/// Whether a range of `bytes` may join the `held` bytes handed to the
/// uploader and not yet stored. One range always may when nothing is held,
/// however large, so the archiver never stalls.
pub(super) fn has_room(held: u64, bytes: u64, plan: &MemoryPlan) -> bool {
    held == 0 || held.saturating_add(bytes) <= plan.in_flight_bytes
}

#[cfg(test)]
mod tests {
    use super::{Pending, has_room, is_full, overflows};
    use crate::upload::Done;
    use auditlog_config::memory::MemoryPlan;
    use chain::manifest::Seals;
    use chain::seal::{KeyId, Seal, SealKind};

    const MIB: u64 = 1 << 20;

    fn plan() -> MemoryPlan {
        MemoryPlan {
            batch_bytes: 56 * MIB,
            in_flight_bytes: 56 * MIB,
        }
    }

    /// A pending run of `n` seals of 10 records each.
    fn run(n: u64) -> Pending {
        let seals: Vec<Seal> = (0..n)
            .map(|i| Seal {
                kind: SealKind::Data,
                topic: "t".into(),
                partition: 0,
                seq: i,
                first_offset: (i * 10) as i64,
                last_offset: (i * 10 + 9) as i64,
                count: 10,
                prev_head: [0; 32],
                head: [0; 32],
                merkle_root: [0; 32],
                high_watermark: 0,
                sealed_at_ms: 0,
                key_id: KeyId([0; 16]),
                signature: [0; 64],
            })
            .collect();
        Pending::Data {
            at: ("t".into(), 0),
            seals: Seals::new(seals).expect("consecutive"),
            done: Done {
                topic: "t.seals".into(),
                partition: 0,
                next: 1,
            },
        }
    }

    #[test]
    fn a_run_that_would_pass_the_byte_bound_starts_the_next_batch() {
        let p = plan();
        // Runs of 8 seals of 4 MiB are bounded at 32 MiB: one fits, two do not.
        assert!(
            !overflows(&[], &[run(8)], 4 * MIB, &p),
            "an empty batch takes any run"
        );
        assert!(overflows(&[run(8)], &[run(8)], 4 * MIB, &p));
        // Runs of one seal: 14 fit 56 MiB, the 15th starts a new batch.
        let batch: Vec<Pending> = (0..14).map(|_| run(1)).collect();
        assert!(!overflows(&batch[..13], &[run(1)], 4 * MIB, &p));
        assert!(overflows(&batch, &[run(1)], 4 * MIB, &p));
        // Heartbeats and rejected seals weigh nothing.
        let pass = Pending::Pass(Done {
            topic: "t.seals".into(),
            partition: 0,
            next: 1,
        });
        assert!(!overflows(&[run(8)], &[pass], 4 * MIB, &p));
    }

    #[test]
    fn a_batch_is_read_at_its_range_count_or_byte_bound() {
        let p = plan();
        let seven: Vec<Pending> = (0..7).map(|_| run(1)).collect();
        assert!(!is_full(&seven, MIB, &p));
        let eight: Vec<Pending> = (0..8).map(|_| run(1)).collect();
        assert!(is_full(&eight, MIB, &p), "at most 8 ranges");
        assert!(is_full(&[run(2)], 28 * MIB, &p), "56 MiB bound reached");
        assert!(!is_full(&[run(2)], 27 * MIB, &p));
    }

    #[test]
    fn the_uploader_queue_is_bounded_by_actual_bytes_but_never_stalls() {
        let p = plan();
        assert!(
            has_room(0, 500 * MIB, &p),
            "one range always goes when nothing is held"
        );
        assert!(has_room(30 * MIB, 26 * MIB, &p));
        assert!(!has_room(30 * MIB, 27 * MIB, &p));
        assert!(!has_room(u64::MAX, 1, &p));
    }
}
