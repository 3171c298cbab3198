//! How the archiver splits `archiver.memory_budget_mib` (the whole process's
//! memory, not only its records) between its stages. Pure arithmetic:
//! config validation computes the plan once and keeps it
//! (`ArchiverConfig::memory`), and the archiver is handed that plan.
//!
//! What the archiver holds at once:
//! - a fixed part ([`FIXED_BYTES`]): the reader's prefetch (16 MiB,
//!   `queued.max.messages.kbytes`), both Kafka clients and their fetch
//!   buffers, the S3 client, the runtime and the allocator's slack (an idle
//!   archiver holds 26 MiB);
//! - the encoding of the range being uploaded: its Arrow columns and Parquet
//!   bytes, about [`ENCODING_FACTOR_TENTHS`] / 10 × the range's record bytes, at most
//!   that × the largest range;
//! - records, each costing about [`RECORD_FACTOR_TENTHS`] / 10 × its key and value bytes
//!   on the heap (the owned record around them), in two places: the batch
//!   being read (bounded before it is read, by each range's seals × the
//!   sealer's byte bound) and the ranges handed to the uploader but not yet
//!   stored (bounded by their actual bytes). Each place gets half.
//!
//! The constants are calibrated, not derived: with one range read while the
//! previous one is encoded and uploaded (the worst case), the archiver's peak
//! RSS measured 99 MiB with ranges of 8 MiB, 139–145 MiB with 16 MiB and
//! 211 MiB with 32 MiB, i.e. about 62 MiB + 4.7 × the range, on Tansu. On
//! Apache Kafka, which serves the reader's fetches faster, the peaks of three
//! runs were 105–114 MiB with 8 MiB ranges and 146–165 MiB with 16 MiB: the
//! spread between runs is about 20 MiB, so the fixed part left 34 MiB
//! above the Tansu fit (96 MiB; it was 88, which one run of three overshot
//! by 1 MiB). On 2026-12-04, six runs with 16 MiB ranges on a loaded
//! machine peaked at 153–176 MiB, two of them above that plan's 172 MiB:
//! the fixed part is now 104 MiB (a 180 MiB plan there; the defaults'
//! minimum, 104 + 4.7 × 32 MiB = 255 MiB, still fits the default 256). The
//! integration test
//! `test_full_size_ranges_keep_the_whole_archiver_within_its_memory_budget`
//! holds the process to the plan at two range sizes.

/// Memory the archiver needs whatever it archives.
pub const FIXED_BYTES: u64 = 104 << 20;
/// Heap per byte of record key and value, in tenths (owned records).
pub const RECORD_FACTOR_TENTHS: u64 = 16;
/// Encoding (Arrow columns + Parquet bytes) per byte of record, in tenths.
pub const ENCODING_FACTOR_TENTHS: u64 = 15;
/// Ranges read in one batch at most (more does not read faster).
pub const MAX_BATCH_RANGES: usize = 8;

/// The archiver's shares of its memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Upper bound (seals × `sealer.max_bytes`) of the record bytes of the
    /// ranges read in one batch; a batch always takes at least one range.
    pub batch_bytes: u64,
    /// Record bytes handed to the uploader and not yet stored, at most
    /// (one range may always be handed over, however large).
    pub in_flight_bytes: u64,
}

/// Splits `budget` bytes for ranges of at most `max_run` record bytes.
/// `None` when the budget cannot hold one largest range in each place.
pub fn plan(budget: u64, max_run: u64) -> Option<MemoryPlan> {
    let encoding = max_run.saturating_mul(ENCODING_FACTOR_TENTHS) / 10;
    let records = budget.checked_sub(FIXED_BYTES)?.checked_sub(encoding)?;
    let share = records.saturating_mul(10) / RECORD_FACTOR_TENTHS / 2;
    (share >= max_run).then_some(MemoryPlan {
        batch_bytes: share,
        in_flight_bytes: share,
    })
}

/// The smallest budget [`plan`] accepts for ranges of `max_run` bytes.
pub fn min_budget(max_run: u64) -> u64 {
    let per_run = (2 * RECORD_FACTOR_TENTHS + ENCODING_FACTOR_TENTHS) * max_run;
    FIXED_BYTES + per_run.div_ceil(10)
}

#[cfg(test)]
mod tests {
    use super::{FIXED_BYTES, MAX_BATCH_RANGES, min_budget, plan};

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_default_budget_holds_the_worst_case_within_itself() {
        let p = plan(256 * MIB, 32 * MIB).expect("the defaults fit");
        // Everything at its bound: fixed, a full batch and a full queue of
        // owned records, and the encoding of one largest range.
        let worst =
            FIXED_BYTES + (p.batch_bytes + p.in_flight_bytes) * 16 / 10 + 32 * MIB * 15 / 10;
        assert!(worst <= 256 * MIB, "{} MiB", worst / MIB);
        assert!(p.batch_bytes >= 32 * MIB && p.in_flight_bytes >= 32 * MIB);
    }

    #[test]
    fn small_seals_make_room_for_many_ranges_per_batch() {
        let p = plan(256 * MIB, 32 * MIB).expect("fits");
        // 64 partitions with one 4 MiB-bound seal each: 9 fit the batch bound.
        assert!(p.batch_bytes / (4 * MIB) >= MAX_BATCH_RANGES as u64);
        assert_eq!(MAX_BATCH_RANGES, 8);
    }

    #[test]
    fn min_budget_is_the_boundary_of_plan() {
        for run in [MIB, 4 * MIB, 32 * MIB, 100 * MIB + 7] {
            let b = min_budget(run);
            assert!(plan(b, run).is_some(), "run {run}");
            assert!(plan(b - MIB, run).is_none(), "run {run}");
        }
        assert!(plan(FIXED_BYTES, MIB).is_none());
        assert!(plan(0, 0).is_none());
    }
}
