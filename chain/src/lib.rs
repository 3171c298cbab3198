//! # chain
//!
//! The pure core every stage shares, specified byte for byte in
//! `docs/FORMAT.md`:
//!
//! - [`link`]: the per-partition hash chain (genesis, record digests, links);
//! - [`merkle`]: Merkle roots and inclusion proofs over a seal's records;
//! - [`seal`]: seal statements, their signing message, Ed25519 signatures,
//!   key ids and the JSON form written to the seals topic;
//! - [`checkpoint`]: signed statements across all partitions of the last
//!   manifest each held, chained by digest;
//! - [`keyfile`]: the self-describing text of secret and public key files;
//! - [`canonical`]: the rule that picks the one canonical chain of seals out
//!   of a seals partition, so sealer, archiver and verifier agree without
//!   coordinating.
//!
//! Architecture Invariant: chain does no IO and reads no clock.
#![deny(missing_docs)]

pub mod canonical;
pub mod checkpoint;
pub mod hex;
pub mod keyfile;
pub mod link;
pub mod manifest;
pub mod merkle;
pub mod seal;
mod short;

pub use link::{Chain, Hash, RecordRef, genesis, record_digest};
pub use seal::{KeyId, Seal, SealKind};

/// Why a chain artefact was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A seal's JSON does not decode.
    #[error("seal does not decode: {0}")]
    Decode(String),
    /// A hex field is malformed.
    #[error("field {field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A signature does not verify.
    #[error("signature of seal {partition}/{seq} does not verify under key {key_id}")]
    BadSignature {
        /// The partition.
        partition: i32,
        /// The seal sequence number.
        seq: u64,
        /// The key named by the seal.
        key_id: String,
    },
    /// The seal names a key that is not known.
    #[error("seal {partition}/{seq} is signed by unknown key {key_id}")]
    UnknownKey {
        /// The partition.
        partition: i32,
        /// The seal sequence number.
        seq: u64,
        /// The key named by the seal.
        key_id: String,
    },
    /// A key file's bytes are not a key.
    #[error("not an Ed25519 key: {0}")]
    BadKey(String),
    /// A key file is not of the kind asked for, is of an earlier release's
    /// format, or is not a key file (`docs/FORMAT.md` §10a).
    #[error("{0}")]
    KeyFile(String),
}
