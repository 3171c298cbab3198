//! # archive
//!
//! What the writer of the archive (`archiver`) and its reader (`verify`)
//! share, and nothing else: neither Kafka nor the archiver's loop is in
//! here, so the auditors' verifier does not carry them.
//!
//! - [`layout`]: object, manifest and checkpoint keys, a pure function of
//!   the range (or the checkpoint's seq), and their parsing back;
//! - [`retention`]: the Object Lock retention policy and the retain-until
//!   date of a range;
//! - [`derived`]: the id the derived columns give an event without one;
//! - [`store`]: the S3 adapter (create-only locked PUTs, the bucket check,
//!   listings, version and retention reads).
//!
//! The borrowing view of the `kafka_*` columns both sides read is
//! `schemas::kafka_columns::KafkaColumns`: the events table's schema and
//! builder live in `schemas`, which does no IO and so cannot depend on this
//! crate's S3 store.
#![deny(missing_docs)]

mod announce;
pub mod derived;
pub mod layout;
pub mod retention;
pub mod store;

pub use derived::derived_event_id;
pub use retention::{Retention, retain_until_secs};

/// Why a request to the archive's bucket failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An S3 request failed, or what it returned is not what the key names.
    #[error("s3://{bucket}/{key}: {message}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The key, empty for bucket-level requests.
        key: String,
        /// What the SDK said.
        message: String,
    },
    /// The endpoint gave no answer (connection refused or reset, a timeout)
    /// or a server error (5xx): worth asking again.
    #[error("s3://{bucket}/: no answer from S3 ({message})")]
    Unreachable {
        /// The bucket.
        bucket: String,
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
    /// A different object already exists at a key that must be written.
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
}
