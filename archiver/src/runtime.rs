//! The archiver's consumer loop (first cut).
//!
//! One thread polls a `BaseConsumer` subscribed to the seals topics. Each
//! seal is put through the canonical-chain rule; for each accepted data seal
//! the archiver reads the sealed records from the events partition, checks
//! them against the seal, encodes them, PUTs the objects and then the signed
//! manifest create-only under COMPLIANCE retention, and only then commits the
//! seals offset. Heartbeats and rejected seals are committed without writing.
//!
//! The member holding seals partition 0 of the first topic also writes the
//! periodic checkpoint (`crate::checkpoint`), and a last one when it stops.
//!
//! Not built yet: grouping several seals into one object, a memory budget.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{admin_properties, consumer_properties};
use chain::canonical::{Tip, apply};
use chain::link::Hash;
use chain::manifest::{Manifest, ObjectRef, Table};
use chain::seal::{KeyId, Seal, SealKind};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use schemas::Limits;
use tokio::runtime::Handle;

use crate::ArchiverError;
use crate::checkpoint::Checkpointer;
use crate::encode::encode_range;
use crate::layout::{dead_letters_key, events_key, manifest_key, retain_until_secs};
use crate::reader::{Reader, kafka_err};
use crate::store::{Put, Store};
use crate::telemetry;

/// What the archiver needs.
#[derive(Debug)]
pub struct Settings {
    /// Broker settings.
    pub kafka: KafkaConfig,
    /// Consumer group (on the seals topics).
    pub group_id: String,
    /// Events topics.
    pub topics: Vec<String>,
    /// Seals topic suffix.
    pub seals_suffix: String,
    /// Key prefix.
    pub prefix: String,
    /// Retention per events topic.
    pub retention: BTreeMap<String, Duration>,
    /// Default retention.
    pub default_retention: Duration,
    /// Manifest signing key.
    pub key: SigningKey,
    /// Trusted sealer keys.
    pub seal_keys: Vec<VerifyingKey>,
    /// Event validation bounds.
    pub limits: Limits,
    /// Time between checkpoints; `None` writes none.
    pub checkpoint_interval: Option<Duration>,
}

impl Settings {
    /// The longest retention of any topic: what a checkpoint, which speaks
    /// for every partition, is locked for.
    pub fn checkpoint_retention(&self) -> Duration {
        self.retention
            .values()
            .copied()
            .fold(self.default_retention, Duration::max)
    }
}

struct Part {
    events_topic: String,
    tip: Tip,
    /// Digest and seq of the partition's last manifest.
    last_manifest: Option<(Hash, u64)>,
    /// The next seals offset to process; earlier deliveries (fetched before
    /// the seek) are ignored.
    next: i64,
}

/// Records revocations so the loop drops a partition's state before it can
/// act on a stale tip; never blocks.
#[derive(Default)]
struct Ctx {
    revoked: std::sync::Mutex<Vec<(String, i32)>>,
}

impl rdkafka::ClientContext for Ctx {}

impl rdkafka::consumer::ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &rdkafka::consumer::Rebalance<'_>) {
        if let rdkafka::consumer::Rebalance::Revoke(tpl) = r {
            let mut v = match self.revoked.lock() {
                Ok(v) => v,
                Err(poisoned) => poisoned.into_inner(),
            };
            v.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition())),
            );
        }
    }
}

fn client(props: impl IntoIterator<Item = (String, String)>) -> ClientConfig {
    let mut cc = ClientConfig::new();
    for (k, v) in props {
        cc.set(k, v);
    }
    cc
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The running archiver.
pub struct Archiver {
    s: Settings,
    consumer: BaseConsumer<Ctx>,
    reader: Reader,
    store: Store,
    rt: Handle,
    parts: HashMap<(String, i32), Part>,
    timeout: Duration,
    checkpoints: Option<(Checkpointer, Duration, Instant)>,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("group", &self.s.group_id)
            .finish_non_exhaustive()
    }
}

impl Archiver {
    /// Connects and subscribes. The bucket must already have passed
    /// [`Store::check_bucket`].
    pub fn connect(s: Settings, store: Store, rt: Handle) -> Result<Self, ArchiverError> {
        let (props, _) = consumer_properties(&s.kafka, &s.group_id);
        let consumer: BaseConsumer<Ctx> = client(props)
            .create_with_context(Ctx::default())
            .map_err(kafka_err)?;
        let mut rprops = admin_properties(&s.kafka);
        rprops.insert("group.id".into(), format!("{}.reader", s.group_id));
        rprops.insert("enable.auto.commit".into(), "false".into());
        rprops.insert("fetch.wait.max.ms".into(), "10".into());
        // The reader reads one sealed range at a time; what it prefetches
        // beyond that range is bounded too (16 MiB), so the archiver's memory
        // is this, one range (at most `sealer.max_bytes` plus one record) and
        // its encoding.
        rprops.insert("queued.max.messages.kbytes".into(), "16384".into());
        let reader = Reader {
            consumer: client(rprops).create().map_err(kafka_err)?,
            timeout: s.kafka.request_timeout.max(Duration::from_secs(10)),
        };
        let seals: Vec<String> = s
            .topics
            .iter()
            .map(|t| format!("{t}{}", s.seals_suffix))
            .collect();
        let refs: Vec<&str> = seals.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(kafka_err)?;
        let timeout = s.kafka.request_timeout.max(Duration::from_secs(10));
        let checkpoints = s.checkpoint_interval.map(|every| {
            let cp = Checkpointer::new(
                &s.prefix,
                &s.topics,
                s.checkpoint_retention(),
                s.key.clone(),
            );
            (cp, every, Instant::now() + every)
        });
        Ok(Self {
            s,
            consumer,
            reader,
            store,
            rt,
            parts: HashMap::new(),
            timeout,
            checkpoints,
        })
    }

    fn key(&self, id: &KeyId) -> Option<VerifyingKey> {
        self.s
            .seal_keys
            .iter()
            .find(|k| KeyId::of(k) == *id)
            .copied()
    }

    /// Rebuilds a partition's tip and manifest chain from the seals before
    /// the committed offset.
    fn resume(&mut self, seals_topic: &str, partition: i32) -> Result<(), ArchiverError> {
        let events_topic = seals_topic
            .strip_suffix(self.s.seals_suffix.as_str())
            .unwrap_or(seals_topic)
            .to_owned();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(seals_topic, partition);
        let committed = self
            .consumer
            .committed_offsets(tpl, self.timeout)
            .map_err(kafka_err)?;
        let next = match committed
            .find_partition(seals_topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        let (low, _) = self.reader.watermarks(seals_topic, partition)?;
        let mut tip = Tip::genesis(&events_topic, partition);
        let mut last_data: Option<Seal> = None;
        for seal in self
            .reader
            .seals_in(seals_topic, partition, low, next - 1)?
            .into_iter()
            .flatten()
        {
            if apply(&mut tip, &events_topic, partition, &seal, |id| self.key(id)).is_ok()
                && seal.kind == SealKind::Data
            {
                last_data = Some(seal);
            }
        }
        let last_manifest = match last_data {
            None => None,
            Some(seal) => {
                let key = manifest_key(&self.s.prefix, &events_topic, partition, seal.first_offset);
                let bytes =
                    self.rt
                        .block_on(self.store.get(&key))?
                        .ok_or_else(|| ArchiverError::S3 {
                            bucket: self.store.bucket().to_owned(),
                            key: key.clone(),
                            message: "manifest of the last archived seal is missing".into(),
                        })?;
                let m = Manifest::from_json(&bytes).map_err(|e| ArchiverError::S3 {
                    bucket: self.store.bucket().to_owned(),
                    key,
                    message: e.to_string(),
                })?;
                Some((m.digest(), m.seq))
            }
        };
        tracing::info!(topic = %events_topic, partition, seals_offset = next, seq = tip.next_seq, "archiver resumed");
        self.consumer
            .seek(seals_topic, partition, Offset::Offset(next), self.timeout)
            .map_err(kafka_err)?;
        self.parts.insert(
            (seals_topic.to_owned(), partition),
            Part {
                events_topic,
                tip,
                last_manifest,
                next,
            },
        );
        Ok(())
    }

    /// Archives one accepted data seal: objects, then manifest.
    fn archive(
        &mut self,
        seals_topic: &str,
        partition: i32,
        seal: &Seal,
    ) -> Result<(), ArchiverError> {
        let Some(part) = self.parts.get(&(seals_topic.to_owned(), partition)) else {
            return Ok(());
        };
        let topic = part.events_topic.clone();
        let prev = part.last_manifest.map(|(d, _)| d);
        let next_seq = part.last_manifest.map_or(0, |(_, s)| s + 1);
        let records = self
            .reader
            .read(&topic, partition, seal.first_offset, seal.last_offset)?;
        telemetry::buffered(
            records
                .iter()
                .map(|r| r.value.as_ref().map_or(0, Vec::len) + r.key.as_ref().map_or(0, Vec::len))
                .sum(),
        );
        let first_ts = records.first().and_then(|r| r.timestamp_ms);
        let encoded = encode_range(seal, records, &self.s.limits)?;
        let retention = self
            .s
            .retention
            .get(&topic)
            .copied()
            .unwrap_or(self.s.default_retention);
        let retain_until = retain_until_secs(seal.sealed_at_ms, retention);
        let mut objects = Vec::new();
        for (table, enc, key) in [
            (
                Table::Events,
                encoded.events,
                events_key(
                    &self.s.prefix,
                    &topic,
                    partition,
                    seal.first_offset,
                    first_ts,
                ),
            ),
            (
                Table::DeadLetters,
                encoded.dead_letters,
                dead_letters_key(
                    &self.s.prefix,
                    &topic,
                    partition,
                    seal.first_offset,
                    first_ts,
                ),
            ),
        ] {
            let Some(enc) = enc else { continue };
            let bytes = enc.bytes.len() as u64;
            let started = Instant::now();
            let put = self.rt.block_on(self.store.put_locked(
                &key,
                enc.bytes,
                &enc.sha256,
                retain_until,
                "application/vnd.apache.parquet",
            ))?;
            let table_name = match table {
                Table::Events => "events",
                Table::DeadLetters => "dead_letters",
            };
            match &put {
                Put::Created { .. } => telemetry::object_written(
                    table_name,
                    enc.rows as u64,
                    bytes,
                    started.elapsed().as_secs_f64(),
                ),
                Put::Existing { .. } => telemetry::conflict(true),
            }
            objects.push(ObjectRef {
                table,
                key,
                version_id: put.version_id().to_owned(),
                sha256: enc.sha256,
                rows: enc.rows as u64,
                bytes,
            });
        }
        let mut manifest = Manifest {
            seal: seal.clone(),
            objects,
            schema_version: schemas::SCHEMA_VERSION,
            seq: next_seq,
            prev_manifest: prev,
            written_at_ms: now_ms(),
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        };
        manifest.sign(&self.s.key);
        let key = manifest_key(&self.s.prefix, &topic, partition, seal.first_offset);
        let json = manifest.to_json();
        let sha: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(&json).into()
        };
        match self.rt.block_on(self.store.put_locked(
            &key,
            json,
            &sha,
            retain_until,
            "application/json",
        )) {
            Ok(_) => {}
            // A retry wrote a manifest before (different written_at): adopt it.
            Err(ArchiverError::Conflict { .. }) => {
                telemetry::conflict(true);
                if let Some(bytes) = self.rt.block_on(self.store.get(&key))? {
                    if let Ok(existing) = Manifest::from_json(&bytes) {
                        if existing.seal == *seal {
                            manifest = existing;
                        }
                    }
                }
            }
            Err(e) => return Err(e),
        }
        telemetry::buffered(0);
        telemetry::range_archived(
            &topic,
            partition,
            (now_ms() - seal.sealed_at_ms).max(0) as f64 / 1000.0,
        );
        tracing::info!(topic = %topic, partition, seq = seal.seq, first_offset = seal.first_offset, last_offset = seal.last_offset, objects = manifest.objects.len(), "range archived");
        if let Some(part) = self.parts.get_mut(&(seals_topic.to_owned(), partition)) {
            part.last_manifest = Some((manifest.digest(), manifest.seq));
        }
        Ok(())
    }

    /// Whether this member writes checkpoints: it holds seals partition 0
    /// of the first topic, so exactly one member does once the group is
    /// stable.
    fn checkpoint_leader(&self) -> bool {
        let Some(first) = self.s.topics.iter().min() else {
            return false;
        };
        let seals = format!("{first}{}", self.s.seals_suffix);
        self.consumer.assignment().is_ok_and(|tpl| {
            tpl.elements()
                .iter()
                .any(|e| e.topic() == seals && e.partition() == 0)
        })
    }

    /// Writes a checkpoint when one is due (or `now`), if this member leads.
    /// Failures are logged and retried at the next interval: checkpoints
    /// add evidence, they never hold archiving up.
    fn maybe_checkpoint(&mut self, now: bool) {
        let due = self
            .checkpoints
            .as_ref()
            .is_some_and(|(_, _, at)| now || Instant::now() >= *at);
        if !due || !self.checkpoint_leader() {
            return;
        }
        let Some((cp, every, at)) = self.checkpoints.as_mut() else {
            return;
        };
        *at = Instant::now() + *every;
        let written = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), cp.write(&self.store, now_ms())).await
        });
        match written {
            Ok(Ok(c)) => telemetry::checkpoint_written(c.seq),
            Ok(Err(error)) => {
                tracing::warn!(%error, "checkpoint not written; retrying at the next interval");
            }
            Err(_) => tracing::warn!("checkpoint timed out; retrying at the next interval"),
        }
    }

    fn commit(&self, topic: &str, partition: i32, next: i64) {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(topic, partition, Offset::Offset(next))
            .is_ok()
        {
            if let Err(error) = self.consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(topic, partition, %error, "commit failed");
            }
        }
    }

    /// Runs until `stop` is set; the checkpoint leader writes a last
    /// checkpoint on the way out.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), ArchiverError> {
        let result = self.run_loop(stop);
        if result.is_ok() {
            self.maybe_checkpoint(true);
        }
        result
    }

    fn run_loop(&mut self, stop: &AtomicBool) -> Result<(), ArchiverError> {
        while !stop.load(Ordering::Relaxed) {
            self.maybe_checkpoint(false);
            let Some(polled) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = match polled {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    continue;
                }
            };
            let (topic, partition, offset) = (m.topic().to_owned(), m.partition(), m.offset());
            let payload = m.payload().map(<[u8]>::to_vec);
            drop(m);
            let revoked: Vec<(String, i32)> = match self.consumer.context().revoked.lock() {
                Ok(mut v) => std::mem::take(&mut *v),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            for r in revoked {
                if self.parts.remove(&r).is_some() {
                    tracing::info!(topic = %r.0, partition = r.1, "seals partition revoked");
                }
            }
            if !self.parts.contains_key(&(topic.clone(), partition)) {
                if let Err(e) = self.resume(&topic, partition) {
                    tracing::warn!(topic, partition, error = %e, "resume failed; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
                continue; // the seek re-delivers from the committed offset
            }
            if self
                .parts
                .get(&(topic.clone(), partition))
                .is_some_and(|p| offset < p.next)
            {
                continue; // fetched before the seek
            }
            let Some(seal) = payload.and_then(|p| Seal::from_json(&p).ok()) else {
                if let Some(p) = self.parts.get_mut(&(topic.clone(), partition)) {
                    p.next = offset + 1;
                }
                self.commit(&topic, partition, offset + 1);
                continue;
            };
            let key = |id: &KeyId| {
                self.s
                    .seal_keys
                    .iter()
                    .find(|k| KeyId::of(k) == *id)
                    .copied()
            };
            let Some(part) = self.parts.get_mut(&(topic.clone(), partition)) else {
                continue;
            };
            if offset < part.next {
                continue;
            }
            part.next = offset + 1;
            let events_topic = part.events_topic.clone();
            let accepted = apply(&mut part.tip, &events_topic, partition, &seal, key).is_ok();
            if accepted && seal.kind == SealKind::Data {
                let mut backoff = Duration::from_millis(200);
                while let Err(e) = self.archive(&topic, partition, &seal) {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    if matches!(
                        e,
                        ArchiverError::Conflict { .. } | ArchiverError::SealMismatch { .. }
                    ) {
                        if matches!(e, ArchiverError::Conflict { .. }) {
                            telemetry::conflict(false);
                        }
                        tracing::error!(topic, partition, seq = seal.seq, error = %e, "cannot archive this range; partition stopped");
                        return Err(e);
                    }
                    telemetry::retried();
                    tracing::warn!(topic, partition, seq = seal.seq, error = %e, ?backoff, "archiving failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            self.commit(&topic, partition, offset + 1);
        }
        Ok(())
    }
}
