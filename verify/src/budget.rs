//! The memory a run may hold in manifests being checked at once: each one
//! holds its objects' bodies and every decoded row until its chain is
//! re-hashed, so what bounds a run's memory is bytes, not the count of
//! requests in flight (`--concurrency`). A manifest's weight is estimated
//! from what the manifest itself says of its objects, before any is read.

use chain::manifest::ObjectRef;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Memory per row besides the object's body: the row's offset and record
/// digest, which a manifest keeps until its chain is checked (40 bytes),
/// and a share of the decoder's buffers. Measured with 80,000-row objects
/// of 3.9 MiB: ~12.5 MiB held per manifest in flight (docs/PERFORMANCE.md,
/// "Verify memory bounded by bytes").
pub const ROW_BYTES: u64 = 128;

/// A manifest's estimated weight in KiB: its objects' bodies, plus
/// [`ROW_BYTES`] per row they hold.
pub fn weight_kib(objects: &[ObjectRef]) -> u64 {
    objects
        .iter()
        .map(|o| o.bytes.saturating_add(o.rows.saturating_mul(ROW_BYTES)))
        .fold(0u64, u64::saturating_add)
        .div_ceil(1024)
}

/// The run's budget, in KiB.
#[derive(Debug)]
pub struct Budget {
    sem: Semaphore,
    total_kib: u32,
}

impl Budget {
    /// A budget of `kib` KiB (at least 1).
    pub fn new(kib: u64) -> Self {
        let total_kib = u32::try_from(kib.max(1)).unwrap_or(u32::MAX);
        Budget {
            sem: Semaphore::new(total_kib as usize),
            total_kib,
        }
    }

    /// Waits until `objects` fit in what is left, and holds their weight
    /// until the permit drops. A manifest heavier than the whole budget
    /// waits for all of it and then runs alone, so none waits forever.
    pub async fn take(&self, objects: &[ObjectRef]) -> Option<SemaphorePermit<'_>> {
        let want = u32::try_from(weight_kib(objects))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        self.sem.acquire_many(want).await.ok()
    }

    /// KiB not held now.
    pub fn available_kib(&self) -> usize {
        self.sem.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::manifest::Table;
    use futures::FutureExt;

    fn object(bytes: u64, rows: u64) -> ObjectRef {
        ObjectRef {
            table: Table::Events,
            key: "k".into(),
            version_id: "v".into(),
            sha256: [0; 32],
            rows,
            bytes,
        }
    }

    #[test]
    fn weight_counts_bodies_and_rows_of_every_object() {
        assert_eq!(weight_kib(&[]), 0);
        assert_eq!(weight_kib(&[object(1024, 0)]), 1);
        assert_eq!(weight_kib(&[object(0, 1)]), ROW_BYTES.div_ceil(1024));
        assert_eq!(
            weight_kib(&[object(2048, 3), object(1, 0)]),
            (2048 + 3 * ROW_BYTES + 1).div_ceil(1024)
        );
        assert_eq!(
            weight_kib(&[object(u64::MAX, u64::MAX)]),
            u64::MAX / 1024 + 1
        );
    }

    #[test]
    fn a_manifest_waits_while_others_hold_the_budget() {
        let b = Budget::new(1024);
        // 4,800 rows: one fits in 1 MiB, two do not.
        let heavy = [object(0, 4_800)];
        assert!(weight_kib(&heavy) > 512 && weight_kib(&heavy) <= 1024);
        let first = b.take(&heavy).now_or_never().flatten();
        assert!(first.is_some());
        assert_eq!(b.available_kib() as u64, 1024 - weight_kib(&heavy));
        assert!(
            b.take(&heavy).now_or_never().is_none(),
            "two fit in one budget"
        );
        let light = [object(10 * 1024, 0)];
        assert!(
            b.take(&light).now_or_never().flatten().is_some(),
            "a light one still fits"
        );
        drop(first);
        assert!(b.take(&heavy).now_or_never().flatten().is_some());
    }

    #[test]
    fn a_manifest_heavier_than_the_budget_runs_alone() {
        let b = Budget::new(1024);
        let huge = [object(10 << 20, 1_000_000)];
        let alone = b.take(&huge).now_or_never().flatten();
        assert!(alone.is_some(), "it takes the whole budget");
        assert_eq!(b.available_kib(), 0);
        assert!(b.take(&[object(1, 0)]).now_or_never().is_none());
        drop(alone);
        assert_eq!(b.available_kib(), 1024);
    }
}
