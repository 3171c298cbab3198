//! Metric names (one place) and the events that update them.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Objects created, by table.
pub const OBJECTS_WRITTEN: &str = "auditlog_archiver_objects_written_total";
/// Rows in created objects, by table.
pub const ROWS_WRITTEN: &str = "auditlog_archiver_rows_written_total";
/// Bytes of created objects, by table.
pub const BYTES_WRITTEN: &str = "auditlog_archiver_bytes_written_total";
/// Ranges whose objects and manifest are stored.
pub const RANGES_ARCHIVED: &str = "auditlog_archiver_ranges_archived_total";
/// Seals in those ranges (divided by ranges: seals per object).
pub const SEALS_ARCHIVED: &str = "auditlog_archiver_seals_archived_total";
/// Seconds per locked PUT.
pub const UPLOAD_SECONDS: &str = "auditlog_archiver_upload_seconds";
/// Ranges retried after an S3 or Kafka error.
pub const RETRIES: &str = "auditlog_archiver_retries_total";
/// PUTs that found an object already there, by outcome (`identical`
/// adopted, `different` refused).
pub const CONFLICTS: &str = "auditlog_archiver_conflicts_total";
/// Seconds between sealing and archiving of a partition's last range.
pub const LAG_SECONDS: &str = "auditlog_archiver_lag_seconds";
/// Key and value bytes of the ranges handed to the uploader and not yet
/// stored (bounded by the memory plan's in-flight share).
pub const BUFFERED_BYTES: &str = "auditlog_archiver_buffered_bytes";

/// Checkpoints written by this member.
pub const CHECKPOINTS_WRITTEN: &str = "auditlog_archiver_checkpoints_written_total";
/// The `seq` of the last checkpoint this member wrote.
pub const CHECKPOINT_SEQ: &str = "auditlog_archiver_checkpoint_seq";

/// Leaves appended to the partitions' transparency logs (one per record).
pub const TLOG_LEAVES: &str = "auditlog_archiver_tlog_leaves_total";
/// Signed transparency-log checkpoints stored (one per archived range).
pub const TLOG_CHECKPOINTS: &str = "auditlog_archiver_tlog_checkpoints_total";
/// Tiles stored for the transparency logs, by kind (`full`, `partial`).
pub const TLOG_TILES: &str = "auditlog_archiver_tlog_tiles_total";

/// Witness requests, by witness and outcome (`cosigned`, `conflict`,
/// `refused`, `unreachable`).
pub const WITNESS_REQUESTS: &str = "auditlog_archiver_witness_requests_total";
/// Records the logs of this member hold beyond the size each witness last
/// cosigned (summed over the logs), by witness: the cosigning lag.
pub const WITNESS_LAG_RECORDS: &str = "auditlog_archiver_witness_lag_records";
/// Checkpoints stored with a quorum of cosignatures.
pub const COSIGNED_CHECKPOINTS: &str = "auditlog_archiver_cosigned_checkpoints_total";

/// Seals partitions assigned to this member.
pub const PARTITIONS_OWNED: &str = "auditlog_archiver_partitions_owned";

/// Histogram buckets for [`UPLOAD_SECONDS`].
pub const UPLOAD_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Registers descriptions for every archiver metric.
pub fn describe() {
    describe_counter!(
        WITNESS_REQUESTS,
        "add-checkpoint requests to witnesses, by witness and outcome."
    );
    describe_gauge!(
        WITNESS_LAG_RECORDS,
        "Records beyond the size each witness last cosigned, summed over this member's logs."
    );
    describe_counter!(
        COSIGNED_CHECKPOINTS,
        "Transparency-log checkpoints stored with a quorum of witness cosignatures."
    );
    describe_counter!(OBJECTS_WRITTEN, "Objects created, by table.");
    describe_counter!(ROWS_WRITTEN, "Rows in created objects, by table.");
    describe_counter!(BYTES_WRITTEN, "Bytes of created objects, by table.");
    describe_counter!(
        RANGES_ARCHIVED,
        "Sealed ranges whose objects and manifest are stored."
    );
    describe_counter!(
        SEALS_ARCHIVED,
        "Seals in the stored ranges; over ranges, the seals per object."
    );
    describe_histogram!(UPLOAD_SECONDS, "Seconds per create-only locked PUT.");
    describe_counter!(
        CHECKPOINTS_WRITTEN,
        "Signed checkpoints across all partitions written by this member."
    );
    describe_gauge!(
        CHECKPOINT_SEQ,
        "Seq of the last checkpoint this member wrote."
    );
    describe_counter!(RETRIES, "Ranges retried after an S3 or Kafka error.");
    describe_counter!(
        CONFLICTS,
        "PUTs that found an object already there: identical (adopted) or different (refused)."
    );
    describe_gauge!(
        LAG_SECONDS,
        "Seconds between sealing and archiving of the last range, per partition."
    );
    describe_gauge!(
        BUFFERED_BYTES,
        "Bytes of records held for the range being archived."
    );
    describe_counter!(
        TLOG_LEAVES,
        "Leaves appended to the partitions' transparency logs (one per archived record)."
    );
    describe_counter!(
        TLOG_CHECKPOINTS,
        "Signed transparency-log checkpoints stored (one per archived range)."
    );
    describe_counter!(
        TLOG_TILES,
        "Transparency-log tiles stored, by kind (full, partial)."
    );
    describe_gauge!(
        PARTITIONS_OWNED,
        "Seals partitions currently assigned to this archiver."
    );
    gauge!(PARTITIONS_OWNED).set(0.0);
    counter!(RANGES_ARCHIVED).absolute(0);
    counter!(RETRIES).absolute(0);
    gauge!(BUFFERED_BYTES).set(0.0);
}

/// An object was created.
pub fn object_written(table: &'static str, rows: u64, bytes: u64, seconds: f64) {
    counter!(OBJECTS_WRITTEN, "table" => table).increment(1);
    counter!(ROWS_WRITTEN, "table" => table).increment(rows);
    counter!(BYTES_WRITTEN, "table" => table).increment(bytes);
    histogram!(UPLOAD_SECONDS).record(seconds);
}

/// A range of `seals` seals is stored; `lag_seconds` since it was sealed.
pub fn range_archived(topic: &str, partition: i32, seals: usize, lag_seconds: f64) {
    // Seals first: a scrape never sees more ranges than seals.
    counter!(SEALS_ARCHIVED).increment(seals as u64);
    counter!(RANGES_ARCHIVED).increment(1);
    gauge!(LAG_SECONDS, "topic" => topic.to_owned(), "partition" => partition.to_string())
        .set(lag_seconds);
}

/// The group assigned this member `n` seals partitions.
pub fn partitions_owned(n: usize) {
    gauge!(PARTITIONS_OWNED).set(n as f64);
}

/// A PUT found an object already there.
pub fn conflict(identical: bool) {
    counter!(CONFLICTS, "outcome" => if identical { "identical" } else { "different" })
        .increment(1);
}

/// A range is retried.
pub fn retried() {
    counter!(RETRIES).increment(1);
}

/// Key and value bytes handed to the uploader and not yet stored.
pub fn buffered(bytes: u64) {
    gauge!(BUFFERED_BYTES).set(bytes as f64);
}

/// A checkpoint was written.
pub fn checkpoint_written(seq: u64) {
    counter!(CHECKPOINTS_WRITTEN).increment(1);
    gauge!(CHECKPOINT_SEQ).set(seq as f64);
}

/// A range's record digests were appended to its partition's transparency
/// log: `full` and `partial` tiles and one checkpoint stored.
pub fn range_logged(leaves: u64, full: u64, partial: u64) {
    counter!(TLOG_LEAVES).increment(leaves);
    counter!(TLOG_TILES, "kind" => "full").increment(full);
    counter!(TLOG_TILES, "kind" => "partial").increment(partial);
    counter!(TLOG_CHECKPOINTS).increment(1);
}

/// A witness answered (or did not): `outcome` is one of `cosigned`,
/// `conflict`, `refused`, `unreachable`.
pub fn witness_request(witness: &str, outcome: &'static str) {
    counter!(WITNESS_REQUESTS, "witness" => witness.to_owned(), "outcome" => outcome).increment(1);
}

/// The cosigning lag of one witness, in records.
pub fn witness_lag(witness: &str, records: u64) {
    gauge!(WITNESS_LAG_RECORDS, "witness" => witness.to_owned()).set(records as f64);
}

/// A checkpoint with a quorum of cosignatures was stored.
pub fn cosigned_stored() {
    counter!(COSIGNED_CHECKPOINTS).increment(1);
}
