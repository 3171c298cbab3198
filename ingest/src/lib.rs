//! # ingest
//!
//! How audit events enter Kafka:
//!
//! - [`gateway`]: the HTTP gateway (`auditlog ingest`): validate everything,
//!   publish everything, answer 202 only after the broker acknowledged every
//!   event;
//! - [`publish`]: NDJSON files (`auditlog publish`), validated whole before the
//!   first event is sent;
//! - [`admin`]: creating and describing the events topic;
//! - [`body`]: the pure parsing of request bodies into events;
//! - [`producer`]: the thin rdkafka adapter all of the above share.
//!
//! Architecture Invariant: nothing is published from a request or file that
//! contains an invalid event.
#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod context;
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
    /// The broker did not answer a metadata request in time.
    #[error("broker {bootstrap} unreachable: {message}")]
    BrokerUnavailable {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// What librdkafka said.
        message: String,
    },
    /// The events topic does not exist.
    #[error("topic {topic} does not exist (create it with `auditlog topics create`)")]
    TopicMissing {
        /// The topic.
        topic: String,
    },
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
    /// An admin operation failed.
    #[error("admin operation on topic {topic}: {message}")]
    Admin {
        /// The topic.
        topic: String,
        /// What the broker said.
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
            IngestError::BrokerUnavailable { .. }
                | IngestError::QueueFull
                | IngestError::NotAcknowledged { .. }
        )
    }
}
