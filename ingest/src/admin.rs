//! Creating and describing topics.

use std::time::Duration;

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{admin_properties, durable_topic_configs};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::IngestError;
use crate::producer::client_config;

/// Creates `topic` unless it exists. Returns `true` if it was created.
pub async fn create_topic(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    seals: bool,
) -> Result<bool, IngestError> {
    let admin: AdminClient<DefaultClientContext> = client_config(&admin_properties(cfg))
        .create()
        .map_err(IngestError::Client)?;
    let configs = durable_topic_configs(replication_factor, seals);
    let mut new = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for (key, value) in &configs {
        new = new.set(key, value);
    }
    let opts = AdminOptions::new()
        .request_timeout(Some(cfg.request_timeout))
        .operation_timeout(Some(cfg.request_timeout));
    let results =
        admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| IngestError::BrokerUnavailable {
                bootstrap: cfg.bootstrap_servers.clone(),
                message: e.to_string(),
            })?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(IngestError::Admin {
            topic: topic.to_owned(),
            message: code.to_string(),
        }),
        None => Err(IngestError::Admin {
            topic: topic.to_owned(),
            message: "no answer".into(),
        }),
    }
}

/// One partition of a described topic.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionInfo {
    /// Partition number.
    pub partition: i32,
    /// Leader broker id.
    pub leader: i32,
    /// Log start offset.
    pub low: i64,
    /// High watermark (next offset to be written).
    pub high: i64,
}

/// A described topic.
#[derive(Debug, Clone, Serialize)]
pub struct TopicInfo {
    /// Topic name.
    pub topic: String,
    /// Its partitions, by number.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Records currently retained across all partitions.
    pub fn records(&self) -> i64 {
        self.partitions.iter().map(|p| p.high - p.low).sum()
    }
}

/// Describes `topic`: partitions, leaders and watermarks. Blocking.
pub fn describe_topic(cfg: &KafkaConfig, topic: &str) -> Result<TopicInfo, IngestError> {
    let consumer: BaseConsumer = client_config(&admin_properties(cfg))
        .create()
        .map_err(IngestError::Client)?;
    let timeout: Duration = cfg.request_timeout;
    let unreachable = |e: rdkafka::error::KafkaError| IngestError::BrokerUnavailable {
        bootstrap: cfg.bootstrap_servers.clone(),
        message: e.to_string(),
    };
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(unreachable)?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| IngestError::TopicMissing {
            topic: topic.to_owned(),
        })?;
    let mut partitions = Vec::with_capacity(t.partitions().len());
    for p in t.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(unreachable)?;
        partitions.push(PartitionInfo {
            partition: p.id(),
            leader: p.leader(),
            low,
            high,
        });
    }
    partitions.sort_by_key(|p| p.partition);
    Ok(TopicInfo {
        topic: topic.to_owned(),
        partitions,
    })
}
