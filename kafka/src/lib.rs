//! # auditlog-kafka
//!
//! The one Kafka adapter every stage and the `topics` command share:
//!
//! - [`client`]: rdkafka client configurations built from the validated
//!   config, with the properties delivery guarantees depend on forced
//!   (`auditlog_config::kafka`), and the overrides logged once;
//! - [`memo`]: a client context that remembers librdkafka's last specific
//!   error, so "all brokers down" can say *why* (TLS, SASL, DNS);
//! - [`admin`]: reaching the cluster, creating and describing topics;
//! - [`settings`]: the start-up check of the topic settings that durability
//!   depends on (pure assessment, thin describe-configs edge);
//! - [`close`]: closing clients on the way out within a grace period;
//! - [`commit`]: readings of rdkafka's commit results;
//! - [`rebootstrap`]: bootstrap servers added back when all brokers are
//!   down, so librdkafka cannot be left with none after a broker restart;
//! - [`quiet`]: librdkafka's errors and log lines, rate-limited per kind.
//!
//! Architecture Invariant: an unreachable broker or a failed authentication
//! is reported through [`KafkaError::Unreachable`], which names the bootstrap
//! servers, the time waited and librdkafka's last specific error.
#![deny(missing_docs)]

pub mod admin;
pub mod client;
pub mod close;
pub mod commit;
#[allow(unsafe_code)] // attaches a future producer's Rebootstrap; see `rebootstrap`
pub mod memo;
pub mod quiet;
#[allow(unsafe_code)] // the one FFI call; see the module's docs
pub mod rebootstrap;
pub mod settings;
pub mod telemetry;

/// Why a Kafka operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// A client could not be created from the configuration (a property
    /// librdkafka does not know, or a value it refuses).
    #[error("kafka client configuration (kafka.properties or kafka.*): {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    /// librdkafka's own parser refuses a property.
    #[error("config field kafka.properties.{key} = {value}: librdkafka refuses it: {message}")]
    Property {
        /// The property.
        key: String,
        /// Its value as configured (`<redacted>` for a secret).
        value: String,
        /// What librdkafka said.
        message: String,
    },
    /// No broker answered, or the connection was refused at the TLS or SASL
    /// step.
    #[error(
        "Kafka brokers {bootstrap} unreachable within {waited_ms} ms: {message}; check kafka.bootstrap_servers, that the brokers run, and the TLS/SASL settings in kafka.properties"
    )]
    Unreachable {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// How long the client tried.
        waited_ms: u128,
        /// What librdkafka said, with its last specific error.
        message: String,
    },
    /// A topic the component needs does not exist.
    #[error("topic {topic} does not exist (create it with `auditlog topics create`)")]
    TopicMissing {
        /// The topic.
        topic: String,
    },
    /// An admin operation on a topic failed.
    #[error("admin operation on topic {topic}: {message}")]
    Admin {
        /// The topic.
        topic: String,
        /// What the broker said.
        message: String,
    },
    /// A topic's settings would let acknowledged or sealed records vanish.
    #[error("{0}")]
    UnsafeTopic(settings::Refusal),
}
