//! Reaching the cluster, creating and describing topics, and the start-up
//! check every sealer and archiver runs ([`preflight`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{admin_properties, durable_topic_configs};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::KafkaError;
use crate::client::client_config;
use crate::memo::ErrorMemo;
use crate::settings::{Check, TopicRole, Verdict, assess, refusal};
use crate::telemetry;

/// An admin client that remembers librdkafka's last specific error.
struct Admin {
    client: AdminClient<ErrorMemo>,
    memo: ErrorMemo,
    bootstrap: String,
    timeout: Duration,
}

impl Admin {
    fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let memo = ErrorMemo::default();
        let client = client_config(admin_properties(cfg))
            .create_with_context(memo.clone())
            .map_err(KafkaError::Client)?;
        Ok(Self {
            client,
            memo,
            bootstrap: cfg.bootstrap_servers.clone(),
            timeout: cfg.request_timeout,
        })
    }

    fn unreachable(&self, since: Instant, e: &rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Unreachable {
            bootstrap: self.bootstrap.clone(),
            waited_ms: since.elapsed().as_millis(),
            message: self.memo.explain(e.to_string()),
        }
    }

    /// Metadata of `topic`; blocking, bounded by the request timeout.
    fn metadata(&self, topic: &str) -> Result<Metadata, KafkaError> {
        let since = Instant::now();
        self.client
            .inner()
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(|e| self.unreachable(since, &e))
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
    }
}

/// Creates `topic` unless it exists, with the settings durability depends
/// on. Returns `true` if it was created.
pub async fn create_topic(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    seals: bool,
) -> Result<bool, KafkaError> {
    let admin = Admin::new(cfg)?;
    let configs = durable_topic_configs(replication_factor, seals);
    let mut new = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for (key, value) in &configs {
        new = new.set(key, value);
    }
    let since = Instant::now();
    let results = admin
        .client
        .create_topics([&new], &admin.options())
        .await
        .map_err(|e| admin.unreachable(since, &e))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(KafkaError::Admin {
            topic: topic.to_owned(),
            message: admin.memo.explain(code.to_string()),
        }),
        None => Err(KafkaError::Admin {
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

/// The partitions of `topic` and its replication factor (the smallest
/// replica count of any partition), or [`KafkaError::TopicMissing`].
fn shape(md: &Metadata, topic: &str) -> Result<(Vec<(i32, i32)>, usize), KafkaError> {
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| KafkaError::TopicMissing {
            topic: topic.to_owned(),
        })?;
    let mut parts: Vec<(i32, i32)> = t
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    parts.sort_unstable();
    let rf = t
        .partitions()
        .iter()
        .map(|p| p.replicas().len())
        .min()
        .unwrap_or(0);
    Ok((parts, rf))
}

/// A topic created a moment ago may not be in every broker's metadata yet
/// (a KRaft cluster propagates it within a second or two): a missing topic
/// is asked for again for this long before it is reported missing.
const MISSING_TOPIC_PATIENCE: Duration = Duration::from_secs(10);

/// [`shape`], asking again while the topic is missing, for up to
/// [`MISSING_TOPIC_PATIENCE`].
fn shape_patiently(admin: &Admin, topic: &str) -> Result<(Vec<(i32, i32)>, usize), KafkaError> {
    let since = Instant::now();
    loop {
        match shape(&admin.metadata(topic)?, topic) {
            Err(KafkaError::TopicMissing { .. }) if since.elapsed() < MISSING_TOPIC_PATIENCE => {
                std::thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// Describes `topic`: partitions, leaders and watermarks. Blocking.
pub fn describe_topic(cfg: &KafkaConfig, topic: &str) -> Result<TopicInfo, KafkaError> {
    let admin = Admin::new(cfg)?;
    let (parts, _) = shape(&admin.metadata(topic)?, topic)?;
    let mut partitions = Vec::with_capacity(parts.len());
    for (partition, leader) in parts {
        let since = Instant::now();
        let (low, high) = admin
            .client
            .inner()
            .fetch_watermarks(topic, partition, admin.timeout)
            .map_err(|e| admin.unreachable(since, &e))?;
        partitions.push(PartitionInfo {
            partition,
            leader,
            low,
            high,
        });
    }
    Ok(TopicInfo {
        topic: topic.to_owned(),
        partitions,
    })
}

/// What [`preflight`] found: each topic's partition count, and every
/// setting it judged.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Topic → number of partitions.
    pub partitions: BTreeMap<String, usize>,
    /// The judged settings (empty for a topic whose configs could not be
    /// described).
    pub checks: Vec<Check>,
}

/// Reaches the cluster, requires every topic to exist, and judges the
/// settings durability depends on ([`crate::settings`]). Blocking; logs and
/// refuses nothing (see [`preflight`]). Settings that cannot be described
/// (no DescribeConfigs permission) are logged and set the gauge's
/// `describe_configs` series, and that topic has no checks.
pub fn judge(cfg: &KafkaConfig, topics: &[(String, TopicRole)]) -> Result<Preflight, KafkaError> {
    let admin = Admin::new(cfg)?;
    let mut partitions = BTreeMap::new();
    let mut replication = BTreeMap::new();
    for (topic, _) in topics {
        let (parts, rf) = shape_patiently(&admin, topic)?;
        partitions.insert(topic.clone(), parts.len());
        replication.insert(topic.clone(), rf);
    }
    let mut checks = Vec::new();
    for (topic, role) in topics {
        let Some(configs) = describe_configs(&admin, topic) else {
            continue;
        };
        let rf = replication.get(topic).copied().unwrap_or(0);
        checks.extend(assess(topic, *role, rf, &configs));
    }
    Ok(Preflight { partitions, checks })
}

/// The start-up check of a sealer or an archiver: [`judge`], then refused
/// settings stop the component with [`KafkaError::UnsafeTopic`] and weak
/// ones are logged and set [`telemetry::TOPIC_SETTING_UNSAFE`]. An
/// unreachable broker or a failed authentication is a
/// [`KafkaError::Unreachable`] naming what librdkafka last said.
pub fn preflight(
    cfg: &KafkaConfig,
    topics: &[(String, TopicRole)],
) -> Result<Preflight, KafkaError> {
    let found = judge(cfg, topics)?;
    for c in &found.checks {
        telemetry::setting(&c.topic, c.setting, c.verdict != Verdict::Sound);
        if let Verdict::Weak(why) = c.verdict {
            tracing::warn!(topic = %c.topic, setting = c.setting, value = %c.value, why,
                "topic setting weaker than docs/OPERATIONS.md asks; starting anyway");
        }
    }
    if let Some(refused) = refusal(&found.checks) {
        return Err(KafkaError::UnsafeTopic(refused));
    }
    Ok(found)
}

/// The described configs of `topic`, or `None` (logged, gauge set) when
/// the broker would not describe them.
fn describe_configs(admin: &Admin, topic: &str) -> Option<BTreeMap<String, String>> {
    let spec = ResourceSpecifier::Topic(topic);
    let answer =
        futures::executor::block_on(admin.client.describe_configs([&spec], &admin.options()));
    let failure = match answer.map(|mut v| v.pop()) {
        Ok(Some(Ok(resource))) => {
            telemetry::setting(topic, "describe_configs", false);
            return Some(
                resource
                    .entries
                    .into_iter()
                    .filter_map(|e| Some((e.name, e.value?)))
                    .collect(),
            );
        }
        Ok(Some(Err(code))) => code.to_string(),
        Ok(None) => "no answer".to_owned(),
        Err(e) => admin.memo.explain(e.to_string()),
    };
    telemetry::setting(topic, "describe_configs", true);
    tracing::warn!(%topic, %failure,
        "cannot describe the topic's settings (DescribeConfigs permission?); starting without checking them");
    None
}
