//! # ingest
//!
//! How audit events enter Kafka:
//!
//! - [`gateway`]: the HTTP gateway (`auditlog ingest`): validate everything,
//!   publish everything, answer 202 only after the broker acknowledged every
//!   event;
//! - [`publish`]: NDJSON files (`auditlog publish`), validated whole before the
//!   first event is sent;
//! - [`body`]: the pure parsing of request bodies into events;
//! - [`producer`]: the events producer all of the above share (client
//!   configuration, topic administration and error memory come from the
//!   `auditlog-kafka` adapter).
//!
//! Architecture Invariant: nothing is published from a request or file that
//! contains an invalid event.
#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod gateway;
pub mod producer;
pub mod publish;
pub mod server;
pub mod telemetry;

use rdkafka::error::KafkaError;

/// Why an ingest operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A Kafka client could not be created from the configuration.
    #[error("kafka client configuration: {0}")]
    Client(#[source] KafkaError),
    /// The broker is unreachable, or the events topic is missing.
    #[error(transparent)]
    Kafka(#[from] auditlog_kafka::KafkaError),
    /// The local producer queue is full.
    #[error("producer queue full")]
    QueueFull,
    /// The broker did not acknowledge a record.
    #[error("publish to {topic} not acknowledged: {message}")]
    NotAcknowledged {
        /// The topic.
        topic: String,
        /// What librdkafka said.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// An input file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file, or `-` for standard input.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Serve(#[source] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
}

impl IngestError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IngestError::Kafka(auditlog_kafka::KafkaError::Unreachable { .. })
                | IngestError::QueueFull
                | IngestError::NotAcknowledged { .. }
        )
    }
}
