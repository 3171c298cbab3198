//! # verify
//!
//! Proves an archive complete and untouched (`docs/FORMAT.md` §8): every
//! manifest, object, seal, signature, chain link and retention setting under a
//! prefix, reporting **every** finding by name.
//!
//! - [`checks`], [`checkpoints`], [`rows`], [`registry`], [`state`], [`report`],
//!   [`incremental`] (what changed since the last clean run): pure logic over
//!   bytes and structs;
//! - [`proof`]: inclusion proofs, built and checked offline;
//! - [`audit`], [`prove`]: the IO edge (S3 through `archive::store`).
#![deny(missing_docs)]

use std::path::PathBuf;

pub mod audit;
pub mod budget;
pub mod checkpoints;
pub mod checks;
pub mod derived;
pub mod finding;
pub mod html;
pub mod incremental;
pub mod logproof;
pub mod merge;
pub mod metrics;
pub mod proof;
pub mod prove;
pub mod registry;
pub mod report;
pub mod rows;
pub mod selection;
pub mod state;
pub mod tlogcheck;
pub mod witnesscheck;

pub use audit::{Options, verify};
pub use finding::{Finding, FindingKind};
pub use registry::{Registry, Role};
pub use report::Report;
pub use state::{Location, State};
pub use witnesscheck::Witnesses;

/// Why verification could not run (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The key registry file is wrong.
    #[error("key registry {path}: {message}")]
    Registry {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A public key file is missing, of the wrong kind or malformed.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state file cannot be read or written.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// What `prove` was asked for is not in the archive.
    #[error("{0}")]
    NotFound(String),
    /// S3 refused or did not answer.
    #[error(transparent)]
    Store(#[from] archive::StoreError),
    /// A decoding thread failed (a bug: decoders catch their own panics).
    #[error("internal error: {0}")]
    Internal(String),
}
