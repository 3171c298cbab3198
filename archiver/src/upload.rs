//! The second stage of the archiver: encode a range, PUT its objects and its
//! signed manifest, on a thread of its own, so that reading range n+1 from
//! Kafka overlaps the encoding and upload of range n.
//!
//! Jobs arrive in the order the consumer loop decided them and leave (as
//! [`Done`]) in the same order, so seals offsets are committed in order and
//! only after everything before them is durable. The manifest chain of each
//! partition (digest and seq of its last manifest) lives here, set by
//! [`Job::Resume`] before the partition's first range.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chain::link::Hash;
use chain::manifest::{Manifest, ObjectRef, Seals, Table};
use chain::seal::KeyId;
use ed25519_dalek::SigningKey;
use schemas::Limits;
use schemas::archive::KafkaRecord;
use tokio::runtime::Handle;

use crate::ArchiverError;
use crate::encode::{Encoded, encode_range_keeping};
use crate::reader::record_bytes;
use crate::telemetry;
use crate::translog::TransparencyLog;
use archive::layout::{dead_letters_key, events_key, manifest_key};
use archive::store::{Put, Store};
use archive::{Retention, StoreError, retain_until_secs};

/// What the uploader is asked to do, in order.
pub(crate) enum Job {
    /// A partition was (re)assigned: its manifest chain continues from here.
    Resume {
        /// Events topic and partition.
        at: (String, i32),
        /// Digest and seq of its last manifest, if any.
        last_manifest: Option<(Hash, u64)>,
        /// Records in the chain before the committed seals offset: the size
        /// its transparency log has there (`crate::translog`).
        logged: u64,
    },
    /// Archive a run of canonical data seals (`crate::group`) as one range,
    /// then report `done`.
    Range {
        /// Events topic and partition.
        at: (String, i32),
        /// The seals.
        seals: Seals,
        /// Its records, in offset order.
        records: Vec<KafkaRecord>,
        /// What to commit once it is durable.
        done: Done,
    },
    /// Nothing to write (a heartbeat, a rejected seal): report `done` once
    /// every job before it is finished.
    Pass(Done),
}

/// A seals offset that may be committed.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// Seals topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next seals offset.
    pub next: i64,
}

/// What the uploader needs.
pub(crate) struct Uploader {
    prefix: String,
    retention: Retention,
    key: SigningKey,
    limits: Limits,
    /// Store every value, canonical or not.
    store_every_value: bool,
    store: Store,
    rt: Handle,
    chains: HashMap<(String, i32), Option<(Hash, u64)>>,
    /// The partitions' transparency logs, when they are written.
    log: Option<TransparencyLog>,
    /// Key and value bytes handed over and not yet stored (the consumer
    /// loop adds, this thread subtracts once a range is stored).
    in_flight: Arc<AtomicU64>,
}

/// Exponential backoff for retried Kafka reads and S3 writes: 200 ms,
/// doubling, at most 10 s.
pub(crate) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(200))
    }
}

impl Backoff {
    /// Counts a retry and returns how long to pause before it.
    pub(crate) fn next(&mut self) -> Duration {
        telemetry::retried();
        let pause = self.0;
        self.0 = (pause * 2).min(Duration::from_secs(10));
        pause
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Uploader {
    /// An uploader with no partitions yet.
    pub fn new(
        prefix: &str,
        retention: Retention,
        key: SigningKey,
        limits: Limits,
        store: Store,
        rt: Handle,
        in_flight: Arc<AtomicU64>,
    ) -> Self {
        Self {
            prefix: prefix.to_owned(),
            retention,
            key,
            limits,
            store_every_value: false,
            store,
            rt,
            chains: HashMap::new(),
            log: None,
            in_flight,
        }
    }

    /// Also appends each stored range to its partition's transparency log.
    pub fn with_log(mut self, log: Option<TransparencyLog>) -> Self {
        self.log = log;
        self
    }

    /// Stores every value, canonical or not, if `yes` (format 1).
    pub fn storing_every_value(mut self, yes: bool) -> Self {
        self.store_every_value = yes;
        self
    }

    /// Runs jobs until the sender is dropped or `stop` is set; sends each
    /// finished job's [`Done`] back. Returns the error that stopped a
    /// partition for good (a conflict or records that do not match their
    /// seal).
    pub fn run(
        mut self,
        jobs: &Receiver<Job>,
        done: &Sender<Done>,
        stop: &AtomicBool,
    ) -> Result<(), ArchiverError> {
        while let Ok(job) = jobs.recv() {
            let finished = match job {
                Job::Resume {
                    at,
                    last_manifest,
                    logged,
                } => {
                    if let Some(log) = self.log.as_mut() {
                        log.resume(&at, logged);
                    }
                    self.chains.insert(at, last_manifest);
                    continue;
                }
                Job::Pass(d) => d,
                Job::Range {
                    at,
                    seals,
                    records,
                    done: d,
                } => {
                    // Encoding is deterministic: once is enough, retries
                    // only repeat the PUTs.
                    let started = Instant::now();
                    let bytes = record_bytes(&records);
                    let first_ts = records.first().and_then(|r| r.timestamp_ms);
                    let seq = seals.first().seq;
                    let keep = self.log.is_some();
                    let encoded = encode_range_keeping(&seals, records, &self.limits, keep, self.store_every_value).inspect_err(|e| {
                        tracing::error!(topic = %at.0, partition = at.1, seq, error = %e, "cannot archive this range; the archiver stops");
                    })?;
                    let encoded_ms = started.elapsed().as_millis() as u64;
                    let mut backoff = Backoff::default();
                    loop {
                        match self.store_range(&at, &seals, &encoded, first_ts) {
                            Ok(()) => {
                                let left = self.in_flight.fetch_sub(bytes, Ordering::AcqRel);
                                telemetry::buffered(left.saturating_sub(bytes));
                                tracing::debug!(
                                    encode_ms = encoded_ms,
                                    store_ms = started.elapsed().as_millis() as u64 - encoded_ms,
                                    "range stored"
                                );
                                break;
                            }
                            Err(
                                e @ (ArchiverError::Store(StoreError::Conflict { .. })
                                | ArchiverError::LogInconsistent { .. }),
                            ) => {
                                if matches!(e, ArchiverError::Store(_)) {
                                    telemetry::conflict(false);
                                }
                                tracing::error!(topic = %at.0, partition = at.1, seq, error = %e, "cannot archive this range; the archiver stops");
                                return Err(e);
                            }
                            Err(e) => {
                                if stop.load(Ordering::Relaxed) {
                                    return Ok(());
                                }
                                let pause = backoff.next();
                                tracing::warn!(topic = %at.0, partition = at.1, seq, error = %e, ?pause, "archiving failed; retrying");
                                std::thread::sleep(pause);
                            }
                        }
                    }
                    d
                }
            };
            if done.send(finished).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Stores one encoded range: objects, then manifest, then (when the
    /// transparency logs are written) its leaves, tiles and checkpoint.
    fn store_range(
        &mut self,
        at: &(String, i32),
        seals: &Seals,
        encoded: &Encoded,
        first_ts: Option<i64>,
    ) -> Result<(), ArchiverError> {
        let (topic, partition) = (at.0.as_str(), at.1);
        let last = self.chains.get(at).copied().flatten();
        let prev = last.map(|(d, _)| d);
        let next_seq = last.map_or(0, |(_, s)| s + 1);
        let retention = self
            .retention
            .for_range(topic, encoded.actions.iter().map(String::as_str));
        let retain_until = retain_until_secs(seals.sealed_at_ms(), retention);
        let first_offset = seals.first_offset();
        let mut objects = Vec::new();
        for (table, enc, key) in [
            (
                Table::Events,
                encoded.events.as_ref(),
                events_key(&self.prefix, topic, partition, first_offset, first_ts),
            ),
            (
                Table::DeadLetters,
                encoded.dead_letters.as_ref(),
                dead_letters_key(&self.prefix, topic, partition, first_offset, first_ts),
            ),
        ] {
            let Some(enc) = enc else { continue };
            let bytes = enc.bytes.len() as u64;
            let started = Instant::now();
            let put = self.rt.block_on(self.store.put_locked(
                &key,
                enc.bytes.clone(),
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
            seals: seals.clone(),
            objects,
            schema_version: schemas::SCHEMA_VERSION,
            seq: next_seq,
            prev_manifest: prev,
            written_at_ms: now_ms(),
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        };
        manifest.sign(&self.key);
        let key = manifest_key(&self.prefix, topic, partition, first_offset);
        match self.rt.block_on(
            self.store
                .put_locked_json(&key, manifest.to_json(), retain_until),
        ) {
            Ok(_) => {}
            // A retry, or the partition's previous owner, wrote a manifest
            // for these seals before (different written_at): adopt it.
            // Different seals there is a fork in the archive, or a run
            // grouped by other targets: loud.
            Err(conflict @ StoreError::Conflict { .. }) => {
                let existing = self
                    .rt
                    .block_on(self.store.get(&key))?
                    .and_then(|bytes| Manifest::from_json(&bytes).ok())
                    .filter(|m| m.seals == *seals)
                    .ok_or(conflict)?;
                telemetry::conflict(true);
                manifest = existing;
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(log) = self.log.as_mut() {
            // Tiles hold records of many ranges: they are kept as long as
            // the longest retention any object of this topic can have.
            let classes = self.retention.by_action.keys().map(String::as_str);
            let longest = self.retention.for_range(topic, classes);
            let until = retain_until_secs(seals.sealed_at_ms(), longest);
            log.append(&self.store, &self.rt, at, &encoded.record_digests, until)?;
        }
        telemetry::range_archived(
            topic,
            partition,
            seals.len(),
            (now_ms() - seals.sealed_at_ms()).max(0) as f64 / 1000.0,
        );
        tracing::info!(
            topic,
            partition,
            first_seq = seals.first().seq,
            last_seq = seals.last().seq,
            first_offset,
            last_offset = seals.last_offset(),
            objects = manifest.objects.len(),
            "range archived"
        );
        self.chains
            .insert(at.clone(), Some((manifest.digest(), manifest.seq)));
        Ok(())
    }
}
