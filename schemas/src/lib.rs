//! # schemas
//!
//! The contracts every stage of the pipeline shares, as plain data and pure
//! functions:
//!
//! - [`event`]: the audit event v1 type and its canonical JSON form;
//! - [`validate`]: parsing untrusted bytes into an [`AuditEvent`], naming the
//!   exact field and rule on failure;
//! - [`limits`]: the configurable bounds validation enforces;
//! - [`archive`]: the Arrow schema of the Parquet archive and the conversions
//!   between events and record batches.
//!
//! Architecture Invariant: this crate does no IO. It reads no files, opens no
//! sockets and reads no clock except to mint a UUIDv7 for an event without an id.
#![deny(missing_docs)]

pub mod archive;
mod batch;
pub mod canonical;
mod canonical_read;
pub mod columns;
pub mod event;
mod fast;
#[cfg(test)]
mod fast_vs_walk;
pub mod kafka_columns;
pub mod limits;
mod rules;
pub mod sample;
pub mod validate;

pub use canonical_read::{Canonical, parse_canonical_ref};
pub use event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext, TraceRef};
pub use fast::{EventRef, parse_event_ref};
pub use limits::Limits;
pub use validate::{FieldError, parse_event, parse_event_with};

/// The JSON Schema (draft 2020-12) of audit event v1, as published in
/// `schemas/audit-event.v1.schema.json`.
pub const EVENT_JSON_SCHEMA: &str = include_str!("../audit-event.v1.schema.json");

/// The only schema version this build accepts and writes.
pub const SCHEMA_VERSION: u16 = 1;
