//! # archiver
//!
//! `auditlog archive`: turns each sealed range into Parquet objects on S3
//! under Object Lock, with a signed manifest per range and a periodic signed
//! checkpoint across all partitions.
//!
//! - [`runtime`]: the consumer loop; [`telemetry`]: metric names;
//! - [`group`]: the pure rule that cuts a partition's seals into ranges;
//! - [`encode`]: records of a sealed range → deterministic zstd Parquet
//!   (events table and dead-letter table);
//! - [`checkpoint`]: the periodic signed checkpoint across all partitions;
//! - [`translog`]: each partition as a C2SP transparency log in the bucket
//!   (tiles and signed checkpoints, `docs/FORMAT.md` §11.11);
//! - [`cosign`]: the collector that has witnesses cosign those checkpoints
//!   and stores them with a quorum of cosignatures (§11.12).
//!
//! Keys, retention, the derived event id and the S3 store are the `archive`
//! crate's, which the verifier shares.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cosign;
pub mod encode;
pub mod group;
mod reader;
pub mod runtime;
pub mod telemetry;
pub mod translog;
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
    /// The archive's bucket refused, did not answer, or holds something
    /// else at a key (a different object, an undecodable manifest).
    #[error(transparent)]
    Store(#[from] archive::StoreError),
    /// A partition's transparency log in the bucket does not line up with
    /// its archive (missing or foreign checkpoint, tiles that do not give
    /// the checkpoint's root): the archiver stops rather than fork the log.
    #[error("transparency log of {topic}/{partition}: {message}")]
    LogInconsistent {
        /// The events topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What does not line up.
        message: String,
    },
    /// The HTTP client for the witnesses could not be built (the system's
    /// root certificates could not be read).
    #[error("the witness client: {0}")]
    WitnessClient(std::io::Error),
    /// A transparency-log artefact could not be built (an invalid key name).
    #[error(transparent)]
    Tlog(#[from] tlog::TlogError),
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
