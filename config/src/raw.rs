//! The configuration file as written. Every field has a documented default.

use std::collections::BTreeMap;

use schemas::Limits;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Broker connection and topics.
    #[serde(default)]
    pub kafka: RawKafka,
    /// Bounds on one audit event.
    #[serde(default)]
    pub limits: Limits,
    /// The HTTP gateway.
    #[serde(default)]
    pub ingest: RawIngest,
    /// The archive bucket.
    #[serde(default)]
    pub s3: RawS3,
    /// The sealer.
    #[serde(default)]
    pub sealer: RawSealer,
    /// The archiver.
    #[serde(default)]
    pub archiver: RawArchiver,
    /// Logs and metrics.
    #[serde(default)]
    pub telemetry: RawTelemetry,
    /// The C2SP tlog witness (`auditlog witness`).
    #[serde(default)]
    pub witness: RawWitness,
}

/// `[kafka]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    /// Comma-separated `host:port` list.
    #[serde(default = "default_bootstrap")]
    pub bootstrap_servers: String,
    /// The topic audit events are published to.
    #[serde(default = "default_events_topic")]
    pub events_topic: String,
    /// Partitions for `auditlog topics create`.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor for `auditlog topics create`.
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
    /// Upper bound for one produce to be acknowledged (librdkafka
    /// `message.timeout.ms`), in milliseconds.
    #[serde(default = "default_message_timeout_ms")]
    pub message_timeout_ms: u64,
    /// Upper bound for metadata and admin requests, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// librdkafka properties passed through as-is (e.g. `security.protocol`,
    /// `linger.ms`). Delivery-critical ones are forced afterwards.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            bootstrap_servers: default_bootstrap(),
            events_topic: default_events_topic(),
            partitions: default_partitions(),
            replication_factor: default_replication(),
            message_timeout_ms: default_message_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            properties: BTreeMap::new(),
        }
    }
}

fn default_bootstrap() -> String {
    "127.0.0.1:9092".into()
}
fn default_events_topic() -> String {
    "audit.events".into()
}
fn default_partitions() -> i32 {
    6
}
fn default_replication() -> i32 {
    1
}
fn default_message_timeout_ms() -> u64 {
    15_000
}
fn default_request_timeout_ms() -> u64 {
    5_000
}

/// `[ingest]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    /// Address the gateway listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Most events being published at once; beyond it requests get 503.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_events: usize,
    /// Largest request body, in bytes; beyond it requests get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most events in one request.
    #[serde(default = "default_max_batch_events")]
    pub max_batch_events: usize,
    /// Upper bound for one request, from headers to answer, in milliseconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests, in milliseconds.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_ms: u64,
    /// How often broker reachability is probed for `/readyz`, in milliseconds.
    #[serde(default = "default_readiness_interval")]
    pub readiness_interval_ms: u64,
    /// PEM certificate chain for TLS; with `tls_key_file`, the gateway
    /// speaks HTTPS only.
    #[serde(default)]
    pub tls_cert_file: String,
    /// PEM private key for TLS.
    #[serde(default)]
    pub tls_key_file: String,
    /// A connection that has not sent a request's headers within this time
    /// is closed (slow-loris).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// Bearer tokens and the tenants each may write. Empty: no
    /// authentication (a warning is logged at start).
    #[serde(default)]
    pub tokens: Vec<RawToken>,
}

/// One bearer token of `[[ingest.tokens]]`. Only its SHA-256 is configured,
/// so the config holds no secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// A name for logs and metrics (never the token itself).
    pub name: String,
    /// SHA-256 of the token, 64 lowercase hex digits
    /// (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: String,
    /// Tenants it may write events for; `"*"` for any.
    pub tenants: Vec<String>,
}

impl Default for RawIngest {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_in_flight_events: default_max_in_flight(),
            max_body_bytes: default_max_body_bytes(),
            max_batch_events: default_max_batch_events(),
            request_timeout_ms: default_request_timeout(),
            shutdown_grace_ms: default_shutdown_grace(),
            readiness_interval_ms: default_readiness_interval(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            header_timeout_ms: default_header_timeout(),
            tokens: Vec::new(),
        }
    }
}

fn default_header_timeout() -> u64 {
    10_000
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_in_flight() -> usize {
    50_000
}
fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_max_batch_events() -> usize {
    10_000
}
fn default_request_timeout() -> u64 {
    30_000
}
fn default_shutdown_grace() -> u64 {
    20_000
}
fn default_readiness_interval() -> u64 {
    1_000
}

/// `[s3]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    /// Endpoint URL for S3-compatible servers (MinIO, moto); empty for AWS.
    #[serde(default)]
    pub endpoint: String,
    /// Region name.
    #[serde(default = "default_region")]
    pub region: String,
    /// The archive bucket; empty when no archive is configured.
    #[serde(default)]
    pub bucket: String,
    /// Path-style addressing (needed by MinIO and moto).
    #[serde(default)]
    pub force_path_style: bool,
}

impl Default for RawS3 {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: default_region(),
            bucket: String::new(),
            force_path_style: false,
        }
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

/// `[sealer]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSealer {
    /// Consumer group of the sealers. Anchors are committed in
    /// `<group_id>.anchors`.
    #[serde(default = "default_sealer_group")]
    pub group_id: String,
    /// Events topics to seal; empty means `kafka.events_topic`.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Seals for topic T go to `T<seals_topic_suffix>`, partition for partition.
    #[serde(default = "default_seals_suffix")]
    pub seals_topic_suffix: String,
    /// The Ed25519 secret key file (`auditlog keygen`); must be mode 0600.
    #[serde(default = "default_key_file")]
    pub key_file: String,
    /// Extra public key files whose seals are accepted as canonical (keys
    /// of other sealers in the group, or retired keys during rotation).
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// Cut a seal after this many records.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Cut a seal once its records' keys and values reach this many bytes:
    /// the bound on one archived range, so on the archiver's memory.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Cut a seal this long after its first record arrived, in milliseconds.
    #[serde(default = "default_max_interval_ms")]
    pub max_interval_ms: u64,
    /// Heartbeat an idle partition this often, in milliseconds.
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u64,
    /// Where `/metrics` is served; empty to disable.
    #[serde(default = "default_sealer_metrics")]
    pub metrics_listen: String,
}

impl Default for RawSealer {
    fn default() -> Self {
        Self {
            group_id: default_sealer_group(),
            topics: Vec::new(),
            seals_topic_suffix: default_seals_suffix(),
            key_file: default_key_file(),
            trusted_keys: Vec::new(),
            max_records: default_max_records(),
            max_bytes: default_max_bytes(),
            max_interval_ms: default_max_interval_ms(),
            heartbeat_interval_ms: default_heartbeat_interval_ms(),
            metrics_listen: default_sealer_metrics(),
        }
    }
}

fn default_sealer_group() -> String {
    "auditlog-sealer".into()
}
fn default_seals_suffix() -> String {
    ".seals".into()
}
fn default_key_file() -> String {
    "sealer.key".into()
}
fn default_max_records() -> usize {
    10_000
}
// A record waits at most a quarter second (plus the 100 ms tick) for its
// seal: publish -> sealed p50 0.17 s, p99 0.34 s at half the broker's
// maximum rate on Apache Kafka (docs/PERFORMANCE.md). Seals stay at up to
// 4 MiB: each costs a synchronous round trip, and 1 MiB seals cut the
// sealer's rate to 0.12 of a plain consumer's.
fn default_max_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_max_interval_ms() -> u64 {
    250
}
fn default_heartbeat_interval_ms() -> u64 {
    10_000
}
fn default_sealer_metrics() -> String {
    "127.0.0.1:9465".into()
}

/// `[archiver]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArchiver {
    /// Consumer group of the archivers (on the seals topics).
    #[serde(default = "default_archiver_group")]
    pub group_id: String,
    /// Events topics to archive; empty means `kafka.events_topic`.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Key prefix inside the bucket, e.g. `audit/`; empty for the root.
    #[serde(default)]
    pub prefix: String,
    /// The archiver's Ed25519 secret key file, for signing manifests.
    #[serde(default = "default_archiver_key")]
    pub key_file: String,
    /// Public key files of the sealers whose seals are trusted.
    #[serde(default)]
    pub seal_keys: Vec<String>,
    /// Object Lock retention, in days, for topics not in `retention_days_by_topic`.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Per-topic retention in days.
    #[serde(default)]
    pub retention_days_by_topic: BTreeMap<String, u32>,
    /// Longer retention, in days, for event classes: an event whose `action`
    /// starts with a key (e.g. `admin.`) is kept at least that long, and so
    /// is every object of its range.
    #[serde(default)]
    pub retention_days_by_action: BTreeMap<String, u32>,
    /// Where `/metrics` is served; empty to disable.
    #[serde(default = "default_archiver_metrics")]
    pub metrics_listen: String,
    /// Seconds between signed checkpoints across all partitions; 0 writes none.
    #[serde(default = "default_checkpoint_interval_secs")]
    pub checkpoint_interval_secs: u64,
    /// With no partition moved since the last checkpoint, the next is
    /// written only this many seconds after it (a liveness heartbeat); 0
    /// writes none that says nothing new.
    #[serde(default = "default_checkpoint_idle_secs")]
    pub checkpoint_idle_secs: u64,
    /// Memory for records in flight, in MiB: how many sealed ranges (each at
    /// most `sealer.max_bytes`) are read and uploaded at once.
    #[serde(default = "default_memory_budget_mib")]
    pub memory_budget_mib: u64,
    /// A run of consecutive seals archived as one object closes at this
    /// many records …
    #[serde(default = "default_group_max_records")]
    pub group_max_records: u64,
    /// … or this many seals …
    #[serde(default = "default_group_max_seals")]
    pub group_max_seals: u32,
    /// … or when a seal is this many ms younger than the run's first seal
    /// (`docs/FORMAT.md` §6a). 0 and 1 seal: one object per seal.
    #[serde(default = "default_group_max_age_ms")]
    pub group_max_age_ms: u64,
    /// Write each (topic, partition) as a C2SP transparency log under
    /// `<prefix>tlog/` (tiles and signed checkpoints, docs/FORMAT.md §11.11).
    #[serde(default)]
    pub transparency_log: bool,
    /// The origin prefix of those logs and the key name of their
    /// checkpoints: a log's origin is `<log_origin>/<topic>/<partition>`.
    /// Empty: `auditlog.local/<bucket>`, then `/<prefix without its
    /// trailing slash>` when the prefix is not empty.
    #[serde(default)]
    pub log_origin: String,
    /// Witnesses the logs' checkpoints are sent to for cosigning
    /// (`[[archiver.witnesses]]`, c2sp.org/tlog-witness).
    #[serde(default)]
    pub witnesses: Vec<RawCosigner>,
    /// How many of `witnesses` must cosign a checkpoint before it is stored
    /// as cosigned; 0 means all of them.
    #[serde(default)]
    pub witness_quorum: u32,
    /// Store every record's value in `kafka_value`, as archives did before
    /// `kafka_value_canonical` (format 1). By default a value that is the
    /// canonical JSON of its row (docs/FORMAT.md §1a) is rebuilt from the
    /// row, not stored.
    #[serde(default)]
    pub store_every_value: bool,
}

/// One `[[archiver.witnesses]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCosigner {
    /// The witness's base URL; requests go to `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature/v1 verifier key (signature type 0x04),
    /// as `auditlog witness --print-vkey` prints it.
    pub public_key: String,
}

impl Default for RawArchiver {
    fn default() -> Self {
        Self {
            group_id: default_archiver_group(),
            topics: Vec::new(),
            prefix: String::new(),
            key_file: default_archiver_key(),
            seal_keys: Vec::new(),
            retention_days: default_retention_days(),
            retention_days_by_topic: BTreeMap::new(),
            retention_days_by_action: BTreeMap::new(),
            metrics_listen: default_archiver_metrics(),
            checkpoint_interval_secs: default_checkpoint_interval_secs(),
            checkpoint_idle_secs: default_checkpoint_idle_secs(),
            memory_budget_mib: default_memory_budget_mib(),
            group_max_records: default_group_max_records(),
            group_max_seals: default_group_max_seals(),
            group_max_age_ms: default_group_max_age_ms(),
            transparency_log: false,
            store_every_value: false,
            log_origin: String::new(),
            witnesses: Vec::new(),
            witness_quorum: 0,
        }
    }
}

fn default_checkpoint_interval_secs() -> u64 {
    300
}
fn default_checkpoint_idle_secs() -> u64 {
    86_400
}
fn default_memory_budget_mib() -> u64 {
    256
}
fn default_group_max_records() -> u64 {
    100_000
}
fn default_group_max_seals() -> u32 {
    8
}
fn default_group_max_age_ms() -> u64 {
    60_000
}
fn default_archiver_group() -> String {
    "auditlog-archiver".into()
}
fn default_archiver_key() -> String {
    "archiver.key".into()
}
fn default_retention_days() -> u32 {
    365
}
fn default_archiver_metrics() -> String {
    "127.0.0.1:9466".into()
}

/// `[telemetry]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// A `tracing` filter such as `info` or `ingest=debug,info`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        Self {
            log_format: default_log_format(),
            log_level: default_log_level(),
        }
    }
}

fn default_log_format() -> String {
    "text".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// `[witness]`: the c2sp.org/tlog-witness service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWitness {
    /// Address `POST /add-checkpoint` is served on.
    #[serde(default = "default_witness_listen")]
    pub listen: String,
    /// The witness's key name, as its cosignatures and vkey carry it
    /// (e.g. `witness.example.com/w1`); required by `auditlog witness`.
    #[serde(default)]
    pub name: String,
    /// The witness's Ed25519 secret key file (`auditlog keygen`); must be
    /// mode 0600.
    #[serde(default = "default_witness_key")]
    pub key_file: String,
    /// Directory of the durable per-log state (latest cosigned size and root).
    #[serde(default = "default_witness_state_dir")]
    pub state_dir: String,
    /// Where `/metrics` is served; empty to disable.
    #[serde(default = "default_witness_metrics")]
    pub metrics_listen: String,
    /// The logs witnessed: `[[witness.logs]]` with `origin` and `public_key`.
    #[serde(default)]
    pub logs: Vec<RawWitnessedLog>,
}

/// One `[[witness.logs]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWitnessedLog {
    /// The checkpoints' origin line.
    pub origin: String,
    /// The log's Ed25519 signed-note verifier key,
    /// `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub public_key: String,
}

impl Default for RawWitness {
    fn default() -> Self {
        Self {
            listen: default_witness_listen(),
            name: String::new(),
            key_file: default_witness_key(),
            state_dir: default_witness_state_dir(),
            metrics_listen: default_witness_metrics(),
            logs: Vec::new(),
        }
    }
}

fn default_witness_listen() -> String {
    "127.0.0.1:8090".into()
}
fn default_witness_key() -> String {
    "witness.key".into()
}
fn default_witness_state_dir() -> String {
    "witness-state".into()
}
fn default_witness_metrics() -> String {
    "127.0.0.1:9467".into()
}
