//! # witness
//!
//! A c2sp.org/tlog-witness service (`auditlog witness`): it cosigns, with
//! its own Ed25519 key (`cosignature/v1`), checkpoints of the logs it is
//! configured with, but only those that consistently extend the last one it
//! cosigned for that log. docs/FORMAT.md §11.10 gives the wire format,
//! docs/OPERATIONS.md ("Running a witness") how to run it.
//!
//! - [`core`]: the decision around `tlog::witness_decide` (pure) and
//!   [`Witness`], which runs it under a per-log lock and persists the new
//!   tree head before returning the cosignature;
//! - [`state`]: the per-log state file, its encoding (pure) and the
//!   atomic write (temp file, fsync, rename, fsync of the directory);
//! - [`service`]: the axum HTTP edge, `POST /add-checkpoint`;
//! - [`keys`]: the witness's secret key file (`auditlog keygen` format);
//! - [`telemetry`]: metric names and events.
//!
//! Architecture Invariant: the witness never answers 200 for a checkpoint
//! before the (size, root) it cosigns is durable in its state directory, and
//! the check of the stored size and that write happen under one per-log
//! lock: so no crash or race makes it cosign two checkpoints of a log that
//! are not consistent.
#![deny(missing_docs)]

pub mod core;
pub mod keys;
pub mod service;
pub mod state;
pub mod telemetry;

pub use crate::core::{Answer, Witness};

use std::path::PathBuf;

/// Why the witness could not start or could not handle a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The witness's key file is missing, unreadable or not a secret key.
    #[error("witness key file {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key name or a log's configuration cannot make a witness.
    #[error("witness configuration: {0}")]
    Config(tlog::TlogError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file could not be read, written or made durable.
    #[error("witness state {path}: {source}")]
    StateIo {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file exists but does not hold a valid state for its log;
    /// the witness refuses to guess (treating it as empty could let it
    /// cosign a split view).
    #[error("witness state {path} is corrupt: {reason}")]
    StateCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP server failed.
    #[error("witness HTTP server: {0}")]
    Serve(std::io::Error),
}

impl WitnessError {
    /// Whether the operator must fix the configuration or a file (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            WitnessError::Key { .. } | WitnessError::Config(_) | WitnessError::Bind { .. }
        )
    }
}
