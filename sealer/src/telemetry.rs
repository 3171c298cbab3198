//! Metric names (one place) and the events that update them.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Records bound into a canonical seal.
pub const RECORDS_SEALED: &str = "auditlog_sealer_records_sealed_total";
/// Seals accepted as canonical, by kind.
pub const SEALS_EMITTED: &str = "auditlog_sealer_seals_emitted_total";
/// Own seals that lost to a rival and were resolved by adopting it.
pub const FORKS_RESOLVED: &str = "auditlog_sealer_forks_resolved_total";
/// Seals in the seals log rejected by the canonical rule, by reason.
pub const SEALS_REJECTED: &str = "auditlog_sealer_seals_rejected_total";
/// Partitions stopped because retention outran the sealer.
pub const RETENTION_OUTRAN: &str = "auditlog_sealer_retention_outran_total";
/// Publish → sealed latency of the oldest record in each seal, in seconds.
pub const SEAL_LATENCY: &str = "auditlog_sealer_seal_latency_seconds";
/// Records not yet sealed per partition (high watermark − chain position).
pub const LAG: &str = "auditlog_sealer_lag_records";
/// Seconds since the partition's last canonical seal.
pub const HEAD_AGE: &str = "auditlog_sealer_head_age_seconds";
/// Partitions currently owned.
pub const PARTITIONS: &str = "auditlog_sealer_partitions_owned";
/// Gauge: owned partitions this sealer is not sealing (failing to resume,
/// or stopped because retention outran it).
pub const STUCK: &str = "auditlog_sealer_partitions_stuck";

/// Histogram buckets for [`SEAL_LATENCY`].
pub const LATENCY_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// Registers descriptions for every sealer metric.
pub fn describe() {
    describe_counter!(RECORDS_SEALED, "Records bound into a canonical seal.");
    describe_counter!(
        SEALS_EMITTED,
        "Seals accepted as canonical, by kind (data, heartbeat)."
    );
    describe_counter!(
        FORKS_RESOLVED,
        "Own seals that lost to a rival seal and were resolved by adopting it."
    );
    describe_counter!(
        SEALS_REJECTED,
        "Seals in the seals log rejected by the canonical rule, by reason."
    );
    describe_counter!(
        RETENTION_OUTRAN,
        "Partitions stopped because retention deleted unsealed records."
    );
    describe_histogram!(
        SEAL_LATENCY,
        "Publish-to-sealed latency of the oldest record of each seal, seconds."
    );
    describe_gauge!(LAG, "Records not yet sealed, per partition.");
    describe_gauge!(
        HEAD_AGE,
        "Seconds since the partition's last canonical seal."
    );
    describe_gauge!(PARTITIONS, "Partitions currently owned by this sealer.");
    describe_gauge!(
        STUCK,
        "Owned partitions this sealer is not sealing: failing to resume, or stopped because retention outran it."
    );
    gauge!(STUCK).set(0.0);
    counter!(RECORDS_SEALED).absolute(0);
    counter!(FORKS_RESOLVED).absolute(0);
    counter!(RETENTION_OUTRAN).absolute(0);
}

/// A seal became canonical.
pub fn sealed(kind: &'static str, records: u64, latency_seconds: Option<f64>) {
    counter!(SEALS_EMITTED, "kind" => kind).increment(1);
    counter!(RECORDS_SEALED).increment(records);
    if let Some(s) = latency_seconds {
        histogram!(SEAL_LATENCY).record(s);
    }
}

/// A rival won; this sealer adopted it.
pub fn fork_resolved() {
    counter!(FORKS_RESOLVED).increment(1);
}

/// A seal in the log was rejected.
pub fn rejected(reason: &'static str) {
    counter!(SEALS_REJECTED, "reason" => reason).increment(1);
}

/// Retention outran the sealer on a partition.
pub fn retention_outran() {
    counter!(RETENTION_OUTRAN).increment(1);
}

/// Per-partition gauges. Labels are built once per partition per tick, not
/// per record.
pub fn partition_gauges(topic: &str, partition: i32, lag: i64, head_age_seconds: f64) {
    let p = partition.to_string();
    gauge!(LAG, "topic" => topic.to_owned(), "partition" => p.clone()).set(lag as f64);
    gauge!(HEAD_AGE, "topic" => topic.to_owned(), "partition" => p).set(head_age_seconds);
}

/// Owned partitions not being sealed.
pub fn stuck(n: usize) {
    gauge!(STUCK).set(n as f64);
}

/// The number of owned partitions changed.
pub fn owned(n: usize) {
    gauge!(PARTITIONS).set(n as f64);
}
