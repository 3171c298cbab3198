//! Typed, cross-checked configuration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use schemas::Limits;

use crate::ConfigError;
use crate::memory::MemoryPlan;
use crate::raw::RawConfig;

/// The validated configuration every component reads.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[kafka]`
    pub kafka: KafkaConfig,
    /// `[limits]`
    pub limits: Limits,
    /// `[ingest]`
    pub ingest: IngestConfig,
    /// `[s3]`, when a bucket is configured.
    pub s3: Option<S3Config>,
    /// `[sealer]`
    pub sealer: SealerConfig,
    /// `[archiver]`
    pub archiver: ArchiverConfig,
    /// `[telemetry] log_format`
    pub log_format: LogFormat,
    /// `[telemetry] log_level`
    pub log_level: String,
    /// `[witness]`
    pub witness: crate::witness::WitnessConfig,
    /// The raw form, kept so `auditlog config` can print what is in effect.
    pub raw: RawConfig,
}

/// `[kafka]`, validated.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`
    pub bootstrap_servers: String,
    /// The events topic.
    pub events_topic: String,
    /// Partitions for topic creation.
    pub partitions: i32,
    /// Replication factor for topic creation.
    pub replication_factor: i32,
    /// Delivery bound for one produce.
    pub message_timeout: Duration,
    /// Bound on metadata and admin requests.
    pub request_timeout: Duration,
    /// The user's librdkafka properties, before forcing.
    pub properties: BTreeMap<String, String>,
}

/// `[ingest]`, validated.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Bound on events in flight.
    pub max_in_flight_events: NonZeroUsize,
    /// Bound on one request body.
    pub max_body_bytes: NonZeroUsize,
    /// Bound on events in one request.
    pub max_batch_events: NonZeroUsize,
    /// Bound on one request.
    pub request_timeout: Duration,
    /// Drain time at shutdown.
    pub shutdown_grace: Duration,
    /// Broker probe period.
    pub readiness_interval: Duration,
    /// TLS certificate chain and key files, when HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Bound on receiving a request's headers.
    pub header_timeout: Duration,
    /// Bearer tokens; empty means no authentication.
    pub tokens: Vec<TokenGrant>,
}

/// A bearer token (by its SHA-256) and what it may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// Its name, for logs and metrics.
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// Tenants it may write; `"*"` means any.
    pub tenants: Vec<String>,
}

/// `[sealer]`, validated.
#[derive(Debug, Clone)]
pub struct SealerConfig {
    /// Consumer group.
    pub group_id: String,
    /// Events topics sealed.
    pub topics: Vec<String>,
    /// Suffix naming each events topic's seals topic.
    pub seals_topic_suffix: String,
    /// Secret key file.
    pub key_file: std::path::PathBuf,
    /// Extra trusted public key files.
    pub trusted_keys: Vec<std::path::PathBuf>,
    /// Records per seal at most.
    pub max_records: NonZeroUsize,
    /// Record key and value bytes per seal at most (plus the record that
    /// crossed it).
    pub max_bytes: u64,
    /// Longest a record waits to be sealed.
    pub max_interval: Duration,
    /// Heartbeat period for idle partitions.
    pub heartbeat_interval: Duration,
    /// Metrics listen address, if any.
    pub metrics_listen: Option<SocketAddr>,
}

impl SealerConfig {
    /// The seals topic of an events topic.
    pub fn seals_topic(&self, events_topic: &str) -> String {
        format!("{events_topic}{}", self.seals_topic_suffix)
    }
}

/// `[archiver]`, validated.
#[derive(Debug, Clone)]
pub struct ArchiverConfig {
    /// Consumer group.
    pub group_id: String,
    /// Events topics archived.
    pub topics: Vec<String>,
    /// Key prefix.
    pub prefix: String,
    /// Manifest signing key.
    pub key_file: std::path::PathBuf,
    /// Trusted sealer public keys.
    pub seal_keys: Vec<std::path::PathBuf>,
    /// Default retention.
    pub retention: Duration,
    /// Per-topic retention.
    pub retention_by_topic: BTreeMap<String, Duration>,
    /// Retention per event class: `action` prefix → at least this long.
    pub retention_by_action: BTreeMap<String, Duration>,
    /// Metrics listen address, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Time between checkpoints, if they are written.
    pub checkpoint_interval: Option<Duration>,
    /// How long an unchanged archive goes without a checkpoint; `None`:
    /// none is written unless a partition moved.
    pub checkpoint_idle: Option<Duration>,
    /// The archiver's memory, in bytes (`crate::memory`).
    pub memory_budget: u64,
    /// How the archiver shares `memory_budget` between reading and
    /// uploading: computed once, here, so a config that validated always
    /// has one.
    pub memory: MemoryPlan,
    /// Records in one archived run of seals, at most.
    pub group_max_records: u64,
    /// Whether every value is stored, canonical or not (format 1).
    pub store_every_value: bool,
    /// Seals in one archived run, at most.
    pub group_max_seals: u32,
    /// Seal time one archived run spans, at most, in ms.
    pub group_max_age_ms: u64,
    /// The origin prefix (and checkpoint key name) of the partitions'
    /// transparency logs, when `archiver.transparency_log` writes them.
    pub log_origin: Option<String>,
    /// `archiver.log_origin` as written (empty: the default), for a
    /// verifier reading another prefix ([`log_origin`]).
    pub log_origin_setting: String,
    /// The witnesses that cosign the logs' checkpoints, and the quorum.
    pub cosigning: crate::Cosigning,
}

impl ArchiverConfig {
    /// The most bytes of records one archived run can hold: its seals, each
    /// at most `sealer.max_bytes` (plus the record that crossed it).
    pub fn max_run_bytes(&self, sealer_max_bytes: u64) -> u64 {
        max_run_bytes(self.group_max_seals, sealer_max_bytes)
    }
}

/// `archiver.log_origin`, or its default `auditlog.local/<bucket>[/<prefix>]`:
/// it becomes a signed-note key name and the first part of every origin
/// line, so it must be non-empty, printable and hold no space or `+`.
pub fn log_origin(configured: &str, bucket: &str, prefix: &str) -> Result<String, ConfigError> {
    let origin = if configured.is_empty() {
        let mut o = format!("auditlog.local/{bucket}");
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            o.push('/');
            o.push_str(prefix);
        }
        o
    } else {
        configured.to_owned()
    };
    let bad = origin.is_empty()
        || origin.ends_with('/')
        || origin
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+');
    if bad {
        return Err(invalid(
            "archiver.log_origin",
            format!(
                "{origin:?} must be non-empty, not end in /, and hold no space, control character or +"
            ),
        ));
    }
    Ok(origin)
}

fn max_run_bytes(group_max_seals: u32, sealer_max_bytes: u64) -> u64 {
    u64::from(group_max_seals).saturating_mul(sealer_max_bytes)
}

impl ArchiverConfig {
    /// The Object Lock retention of a topic.
    pub fn retention_for(&self, topic: &str) -> Duration {
        self.retention_by_topic
            .get(topic)
            .copied()
            .unwrap_or(self.retention)
    }
}

/// The longest retention accepted: 100 years. Longer than any records rule
/// we know of, and every retain-until date stays a four-digit year that S3's
/// date headers carry; a larger value would fail on every PUT, forever.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

fn days(field: &str, d: u32) -> Result<Duration, ConfigError> {
    if d == 0 {
        return Err(invalid(field, "must be at least 1 day"));
    }
    if d > MAX_RETENTION_DAYS {
        return Err(invalid(
            field,
            format!(
                "{d} days is more than the {MAX_RETENTION_DAYS} days (100 years) a retention may be"
            ),
        ));
    }
    Ok(Duration::from_secs(u64::from(d) * 86_400))
}

pub(crate) fn optional_listen(field: &str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<SocketAddr>().map(Some).map_err(|_| {
        invalid(
            field,
            format!("{v:?} is not an address such as 127.0.0.1:9465"),
        )
    })
}

/// `[s3]`, validated.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Endpoint URL, if not AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Path-style addressing.
    pub force_path_style: bool,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn non_zero(field: &str, v: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(v).ok_or_else(|| invalid(field, "must be greater than 0"))
}

fn positive(field: &str, v: u64) -> Result<u64, ConfigError> {
    if v == 0 {
        return Err(invalid(field, "must be greater than 0"));
    }
    Ok(v)
}

fn millis(field: &str, v: u64) -> Result<Duration, ConfigError> {
    if v == 0 {
        return Err(invalid(field, "must be greater than 0 milliseconds"));
    }
    Ok(Duration::from_millis(v))
}

/// Kafka topic names: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic(field: &str, name: &str) -> Result<(), ConfigError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if name.is_empty() || name.len() > 249 || !ok_chars || name == "." || name == ".." {
        return Err(invalid(
            field,
            format!(
                "{name:?} is not a valid Kafka topic name ([a-zA-Z0-9._-], 1 to 249 characters)"
            ),
        ));
    }
    Ok(())
}

impl Config {
    /// Turns the raw file into typed values, naming the first field at fault.
    pub fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let k = &raw.kafka;
        if k.bootstrap_servers.trim().is_empty() {
            return Err(invalid(
                "kafka.bootstrap_servers",
                "must list at least one host:port",
            ));
        }
        check_topic("kafka.events_topic", &k.events_topic)?;
        if k.partitions < 1 {
            return Err(invalid("kafka.partitions", "must be at least 1"));
        }
        if !(1..=i32::from(i16::MAX)).contains(&k.replication_factor) {
            return Err(invalid("kafka.replication_factor", "must be at least 1"));
        }
        if k.properties.contains_key("bootstrap.servers") {
            return Err(invalid(
                "kafka.properties",
                "set bootstrap.servers with kafka.bootstrap_servers instead",
            ));
        }
        let kafka = KafkaConfig {
            bootstrap_servers: k.bootstrap_servers.clone(),
            events_topic: k.events_topic.clone(),
            partitions: k.partitions,
            replication_factor: k.replication_factor,
            message_timeout: millis("kafka.message_timeout_ms", k.message_timeout_ms)?,
            request_timeout: millis("kafka.request_timeout_ms", k.request_timeout_ms)?,
            properties: k.properties.clone(),
        };

        let l = &raw.limits;
        for (field, v) in [
            ("limits.max_event_bytes", l.max_event_bytes),
            ("limits.max_string_len", l.max_string_len),
            ("limits.max_text_len", l.max_text_len),
            ("limits.max_attribute_key_len", l.max_attribute_key_len),
            ("limits.max_attribute_value_len", l.max_attribute_value_len),
        ] {
            non_zero(field, v)?;
        }

        let i = &raw.ingest;
        let listen = i.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "ingest.listen",
                format!("{:?} is not an address such as 127.0.0.1:8080", i.listen),
            )
        })?;
        let ingest = IngestConfig {
            listen,
            max_in_flight_events: non_zero("ingest.max_in_flight_events", i.max_in_flight_events)?,
            max_body_bytes: non_zero("ingest.max_body_bytes", i.max_body_bytes)?,
            max_batch_events: non_zero("ingest.max_batch_events", i.max_batch_events)?,
            request_timeout: millis("ingest.request_timeout_ms", i.request_timeout_ms)?,
            shutdown_grace: millis("ingest.shutdown_grace_ms", i.shutdown_grace_ms)?,
            readiness_interval: millis("ingest.readiness_interval_ms", i.readiness_interval_ms)?,
            tls: match (i.tls_cert_file.is_empty(), i.tls_key_file.is_empty()) {
                (true, true) => None,
                (false, false) => Some((
                    i.tls_cert_file.clone().into(),
                    i.tls_key_file.clone().into(),
                )),
                _ => {
                    return Err(invalid(
                        "ingest.tls_cert_file",
                        "set both ingest.tls_cert_file and ingest.tls_key_file, or neither",
                    ));
                }
            },
            header_timeout: millis("ingest.header_timeout_ms", i.header_timeout_ms)?,
            tokens: crate::tokens::tokens(&i.tokens)?,
        };
        if ingest.max_batch_events.get() > ingest.max_in_flight_events.get() {
            return Err(invalid(
                "ingest.max_batch_events",
                "must not exceed ingest.max_in_flight_events, or a full batch could never be admitted",
            ));
        }
        if ingest.max_body_bytes.get() < l.max_event_bytes {
            return Err(invalid(
                "ingest.max_body_bytes",
                "must be at least limits.max_event_bytes",
            ));
        }

        let s3 = if raw.s3.bucket.is_empty() {
            None
        } else {
            Some(S3Config {
                endpoint: (!raw.s3.endpoint.is_empty()).then(|| raw.s3.endpoint.clone()),
                region: raw.s3.region.clone(),
                bucket: raw.s3.bucket.clone(),
                force_path_style: raw.s3.force_path_style,
            })
        };
        let sr = &raw.sealer;
        let topics = if sr.topics.is_empty() {
            vec![kafka.events_topic.clone()]
        } else {
            sr.topics.clone()
        };
        for t in &topics {
            check_topic("sealer.topics", t)?;
            check_topic(
                "sealer.seals_topic_suffix",
                &format!("{t}{}", sr.seals_topic_suffix),
            )?;
        }
        if sr.seals_topic_suffix.is_empty() {
            return Err(invalid(
                "sealer.seals_topic_suffix",
                "must not be empty: seals need a topic of their own",
            ));
        }
        if sr.group_id.trim().is_empty() {
            return Err(invalid("sealer.group_id", "must not be empty"));
        }
        let metrics_listen = if sr.metrics_listen.is_empty() {
            None
        } else {
            Some(sr.metrics_listen.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "sealer.metrics_listen",
                    format!(
                        "{:?} is not an address such as 127.0.0.1:9465",
                        sr.metrics_listen
                    ),
                )
            })?)
        };
        let sealer = SealerConfig {
            group_id: sr.group_id.clone(),
            topics,
            seals_topic_suffix: sr.seals_topic_suffix.clone(),
            key_file: sr.key_file.clone().into(),
            trusted_keys: sr.trusted_keys.iter().map(Into::into).collect(),
            max_records: non_zero("sealer.max_records", sr.max_records)?,
            max_bytes: positive("sealer.max_bytes", sr.max_bytes)?,
            max_interval: millis("sealer.max_interval_ms", sr.max_interval_ms)?,
            heartbeat_interval: millis("sealer.heartbeat_interval_ms", sr.heartbeat_interval_ms)?,
            metrics_listen,
        };
        let ar = &raw.archiver;
        let archive_topics = if ar.topics.is_empty() {
            vec![kafka.events_topic.clone()]
        } else {
            ar.topics.clone()
        };
        for t in &archive_topics {
            check_topic("archiver.topics", t)?;
        }
        if !ar.prefix.is_empty() && !ar.prefix.ends_with('/') {
            return Err(invalid("archiver.prefix", "must be empty or end with /"));
        }
        let mut retention_by_topic = BTreeMap::new();
        for (t, d) in &ar.retention_days_by_topic {
            retention_by_topic.insert(t.clone(), days("archiver.retention_days_by_topic", *d)?);
        }
        let mut retention_by_action = BTreeMap::new();
        for (prefix, d) in &ar.retention_days_by_action {
            if prefix.is_empty() {
                return Err(invalid(
                    "archiver.retention_days_by_action",
                    "an event class is a non-empty action prefix such as \"admin.\"",
                ));
            }
            retention_by_action.insert(
                prefix.clone(),
                days("archiver.retention_days_by_action", *d)?,
            );
        }
        let retention = days("archiver.retention_days", ar.retention_days)?;
        let metrics_listen = optional_listen("archiver.metrics_listen", &ar.metrics_listen)?;
        let group_max_records = positive("archiver.group_max_records", ar.group_max_records)?;
        let group_max_seals = u32::try_from(positive(
            "archiver.group_max_seals",
            u64::from(ar.group_max_seals),
        )?)
        .unwrap_or(u32::MAX);
        let memory_budget = ar.memory_budget_mib.saturating_mul(1 << 20);
        let run = max_run_bytes(group_max_seals, sealer.max_bytes);
        let Some(memory) = crate::memory::plan(memory_budget, run) else {
            return Err(invalid(
                "archiver.memory_budget_mib",
                format!(
                    "{} MiB is too little for ranges of archiver.group_max_seals ({}) seals of sealer.max_bytes ({} bytes) each: one range being read, one waiting, one being encoded and the fixed part need at least {} MiB (docs/OPERATIONS.md); raise it or lower archiver.group_max_seals or sealer.max_bytes",
                    ar.memory_budget_mib,
                    ar.group_max_seals,
                    sealer.max_bytes,
                    crate::memory::min_budget(run).div_ceil(1 << 20)
                ),
            ));
        };
        let log_origin = if ar.transparency_log {
            Some(log_origin(&ar.log_origin, &raw.s3.bucket, &ar.prefix)?)
        } else {
            None
        };
        let archiver = ArchiverConfig {
            group_id: ar.group_id.clone(),
            topics: archive_topics,
            prefix: ar.prefix.clone(),
            key_file: ar.key_file.clone().into(),
            seal_keys: ar.seal_keys.iter().map(Into::into).collect(),
            retention,
            retention_by_topic,
            retention_by_action,
            metrics_listen,
            checkpoint_interval: (ar.checkpoint_interval_secs > 0)
                .then(|| Duration::from_secs(ar.checkpoint_interval_secs)),
            checkpoint_idle: (ar.checkpoint_idle_secs > 0)
                .then(|| Duration::from_secs(ar.checkpoint_idle_secs)),
            memory_budget,
            memory,
            group_max_records,
            store_every_value: ar.store_every_value,
            group_max_seals,
            group_max_age_ms: ar.group_max_age_ms,
            log_origin,
            log_origin_setting: ar.log_origin.clone(),
            cosigning: crate::witness::validate_cosigning(ar)?,
        };
        let log_format = match raw.telemetry.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "telemetry.log_format",
                    format!("{other:?} is not text or json"),
                ));
            }
        };
        Ok(Config {
            kafka,
            limits: raw.limits.clone(),
            ingest,
            s3,
            sealer,
            archiver,
            log_format,
            log_level: raw.telemetry.log_level.clone(),
            witness: crate::witness::validate(&raw.witness)?,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::log_origin;

    #[test]
    fn the_log_origin_defaults_to_bucket_and_prefix_and_must_be_a_key_name() {
        assert_eq!(
            log_origin("", "b", "").as_deref().ok(),
            Some("auditlog.local/b")
        );
        assert_eq!(
            log_origin("", "b", "audit/x/").as_deref().ok(),
            Some("auditlog.local/b/audit/x")
        );
        assert_eq!(
            log_origin("example.com/logs", "b", "p/").as_deref().ok(),
            Some("example.com/logs")
        );
        for bad in ["a b", "a+b", "a/", "a\tb"] {
            assert!(log_origin(bad, "b", "").is_err(), "{bad}");
        }
    }
}
