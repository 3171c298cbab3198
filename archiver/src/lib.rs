//! # archiver
//!
//! Writes sealed ranges to S3 as Parquet under Object Lock (issue 4).
//! Not built yet: this crate is a placeholder so the workspace layout is final.
#![deny(missing_docs)]
