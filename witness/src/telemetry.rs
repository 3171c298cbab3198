//! The witness's metric names (described once, in [`describe`]) and one
//! event struct per thing that happens, whose `emit()` logs and counts.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use tlog::WitnessRefusal;

/// Requests answered, by HTTP status.
pub const REQUESTS: &str = "auditlog_witness_requests_total";
/// Checkpoints cosigned, by origin.
pub const COSIGNED: &str = "auditlog_witness_checkpoints_cosigned_total";
/// Checkpoints refused, by reason.
pub const REFUSED: &str = "auditlog_witness_checkpoints_refused_total";
/// Size of the latest checkpoint cosigned, by origin.
pub const TREE_SIZE: &str = "auditlog_witness_tree_size";
/// Time to write a state file durably.
pub const STATE_WRITE_SECONDS: &str = "auditlog_witness_state_write_seconds";

/// Histogram buckets of [`STATE_WRITE_SECONDS`].
pub const STATE_WRITE_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// Describes every metric of this crate to the installed recorder.
pub fn describe() {
    describe_counter!(
        REQUESTS,
        "add-checkpoint requests answered, by HTTP status."
    );
    describe_counter!(COSIGNED, "Checkpoints cosigned, by log origin.");
    describe_counter!(REFUSED, "Checkpoints refused, by reason.");
    describe_gauge!(
        TREE_SIZE,
        "Size of the latest checkpoint cosigned, by log origin."
    );
    describe_histogram!(
        STATE_WRITE_SECONDS,
        "Time to write a log's state durably, seconds."
    );
}

/// Sets [`TREE_SIZE`] of a configured origin.
pub fn set_tree_size(origin: &str, size: u64) {
    // Sizes above 2^53 lose precision as f64; a gauge needs no more.
    #[allow(clippy::cast_precision_loss)]
    gauge!(TREE_SIZE, "origin" => origin.to_owned()).set(size as f64);
}

/// A checkpoint was cosigned (after its state was durable).
#[derive(Debug)]
pub struct CheckpointCosigned<'a> {
    /// The log (a configured origin: a bounded label).
    pub origin: &'a str,
    /// The request's old size.
    pub old_size: u64,
    /// The size cosigned.
    pub size: u64,
}

impl CheckpointCosigned<'_> {
    /// Logs and counts.
    pub fn emit(&self) {
        tracing::info!(origin = %self.origin, old_size = self.old_size, size = self.size, "checkpoint cosigned");
        counter!(COSIGNED, "origin" => self.origin.to_owned()).increment(1);
        set_tree_size(self.origin, self.size);
    }
}

/// A checkpoint was refused.
#[derive(Debug)]
pub struct CheckpointRefused<'a> {
    /// The log, when it is a configured one (unknown origins are not
    /// logged as labels or fields: anyone can send them).
    pub origin: Option<&'a str>,
    /// The bounded reason label.
    pub reason: &'static str,
    /// The refusal.
    pub refusal: &'a WitnessRefusal,
}

impl CheckpointRefused<'_> {
    /// Logs and counts. An inconsistent checkpoint (422) correctly signed
    /// by a configured log may be evidence of a misbehaving log, so it is a
    /// warning; a 409 is the protocol's way of telling a client the size.
    pub fn emit(&self) {
        match (self.origin, self.refusal.status()) {
            (Some(origin), 422) => {
                tracing::warn!(%origin, reason = self.reason, refusal = %self.refusal, "checkpoint refused");
            }
            (origin, _) => {
                tracing::debug!(origin = origin.unwrap_or("-"), reason = self.reason, refusal = %self.refusal, "checkpoint refused");
            }
        }
        counter!(REFUSED, "reason" => self.reason).increment(1);
    }
}

/// A state file was written durably.
#[derive(Debug)]
pub struct StateWritten {
    /// How long it took.
    pub seconds: f64,
}

impl StateWritten {
    /// Records the time.
    pub fn emit(&self) {
        histogram!(STATE_WRITE_SECONDS).record(self.seconds);
    }
}

/// An HTTP answer was sent.
#[derive(Debug)]
pub struct RequestAnswered {
    /// Its status.
    pub status: u16,
}

impl RequestAnswered {
    /// Counts.
    pub fn emit(&self) {
        counter!(REQUESTS, "status" => self.status.to_string()).increment(1);
    }
}
