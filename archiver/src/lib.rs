//! # archiver
//!
//! `auditlog archive`: turns each sealed range into Parquet objects on S3
//! under Object Lock, with a signed manifest per range and a periodic signed
//! checkpoint across all partitions.
//!
//! - [`layout`]: object, manifest and checkpoint keys, a pure function of
//!   the range (or the checkpoint's seq);
//! - [`runtime`]: the consumer loop; [`store`]: the S3 adapter;
//!   [`telemetry`]: metric names;
//! - [`encode`]: records of a sealed range → deterministic zstd Parquet
//!   (events table and dead-letter table);
//! - [`checkpoint`]: the periodic signed checkpoint across all partitions.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod encode;
pub mod group;
pub mod layout;
mod reader;
pub mod runtime;
pub mod store;
pub mod telemetry;
mod upload;

/// Why archiving failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiverError {
    /// Building Arrow batches failed.
    #[error(transparent)]
    Archive(#[from] schemas::archive::ArchiveError),
    /// Writing or reading Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A Kafka request failed.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The start-up check failed: brokers unreachable, a topic missing, or
    /// a topic setting that would let sealed records vanish.
    #[error(transparent)]
    Preflight(#[from] auditlog_kafka::KafkaError),
    /// An S3 request failed.
    #[error("s3://{bucket}/{key}: {message}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The key, empty for bucket-level requests.
        key: String,
        /// What the SDK said.
        message: String,
    },
    /// The bucket lacks versioning or Object Lock.
    #[error(
        "bucket {bucket} cannot hold an audit archive: {message}; create it with Object Lock enabled (versioning follows)"
    )]
    BucketNotLocked {
        /// The bucket.
        bucket: String,
        /// What is missing.
        message: String,
    },
    /// A different object already exists at a key the archiver must write.
    #[error(
        "conflict at s3://{bucket}/{key}: an object with SHA-256 {existing} exists; this range encodes to {ours}"
    )]
    Conflict {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The existing object's checksum (base64).
        existing: String,
        /// Ours (base64).
        ours: String,
    },
    /// The records do not match the seal that covers them.
    #[error("records of {topic}/{partition} {first}..={last} do not match seal {seq}: {message}")]
    SealMismatch {
        /// The events topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Sequence number of the seal.
        seq: u64,
        /// First offset of the range.
        first: i64,
        /// Last offset of the range.
        last: i64,
        /// What differs.
        message: String,
    },
}
