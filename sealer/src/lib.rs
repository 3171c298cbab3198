//! # sealer
//!
//! Chains each events partition into a signed SHA-256 hash chain (issue 3).
//! Not built yet: this crate is a placeholder so the workspace layout is final.
#![deny(missing_docs)]
