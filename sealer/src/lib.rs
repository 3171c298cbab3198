//! # sealer
//!
//! `auditlog seal`: a consumer-group member that chains every record of its
//! assigned events partitions into the per-partition hash chain of
//! `docs/FORMAT.md` and publishes signed seals to the seals topic.
//!
//! - [`cutter`]: when to cut, and cutting seals (pure);
//! - [`keys`]: Ed25519 key files;
//! - [`seals_log`]: reading a seals partition and folding it with the
//!   canonical-chain rule; the anchor store that makes resume cheap;
//! - [`runtime`]: the consumer loop, rebalances, and the durability order
//!   (seal acknowledged → read back as canonical → offsets committed).
//!
//! Architecture Invariant: an events offset is committed only after a seal
//! covering it was acknowledged by the broker (acks=all) and read back as
//! canonical.
#![deny(missing_docs)]

mod context;
pub mod cutter;
pub mod keys;
mod producer;
pub mod runtime;
pub mod seals_log;
pub mod telemetry;

use std::path::PathBuf;

/// Why sealing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealerError {
    /// A key file is missing, malformed or too readable.
    #[error("key file {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A Kafka client could not be created or used.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The start-up check failed: brokers unreachable, a topic missing, or
    /// a topic setting that would let sealed records vanish.
    #[error(transparent)]
    Preflight(#[from] auditlog_kafka::KafkaError),
    /// A topic the sealer needs does not exist or is too small.
    #[error("topic {topic}: {message}")]
    Topic {
        /// The topic.
        topic: String,
        /// What is wrong.
        message: String,
    },
    /// Retention deleted records before they were sealed. The chain cannot
    /// continue without a gap; an operator must decide.
    #[error(
        "retention outran the sealer on {topic}/{partition}: the next offset to seal is {next_offset} but the log starts at {log_start}; records {next_offset}..{log_start} are gone unsealed"
    )]
    RetentionOutran {
        /// The events topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The next offset the chain needs.
        next_offset: i64,
        /// The partition's log start offset.
        log_start: i64,
    },
    /// The seals partition holds seals but none extends genesis or the
    /// anchor: it was tampered with or belongs to another deployment.
    #[error("seals partition {topic}/{partition} is inconsistent: {message}")]
    SealsInconsistent {
        /// The seals topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What was found.
        message: String,
    },
    /// The seal a partition resumes from is signed by a key this sealer
    /// does not trust (after a key rotation the old key's public file must
    /// stay in `sealer.trusted_keys`).
    #[error(
        "seals partition {topic}/{partition}: the seal at offset {offset} is signed by key {key_id}, which is neither sealer.key_file's key nor in sealer.trusted_keys"
    )]
    UntrustedKey {
        /// The seals topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The seal's offset.
        offset: i64,
        /// The signing key's id.
        key_id: String,
    },
    /// A seal was not acknowledged.
    #[error("seal for {topic}/{partition} not acknowledged: {message}")]
    NotAcknowledged {
        /// The events topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What librdkafka said.
        message: String,
    },
}

impl SealerError {
    /// Whether the same operation may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SealerError::Kafka(_) | SealerError::NotAcknowledged { .. }
        )
    }
}
