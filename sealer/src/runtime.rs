//! The sealer's consumer loop.
//!
//! One thread polls a `BaseConsumer` subscribed to the events topics. The
//! rebalance callbacks only record what changed (a mutex push, never IO);
//! the loop applies the changes right after the poll that delivered them,
//! before it touches another record. All IO (resuming, producing seals,
//! reading them back, committing) happens on the loop thread, so a revoked
//! partition can never be sealed by this member after the loop saw the
//! revocation.
//!
//! Durability order for each seal: produce (acks=all, idempotent) → read the
//! seals partition back up to the seal and fold it with the canonical rule →
//! only if the seal is canonical, commit the events offset past its last
//! record and the anchor past the seal. If a rival seal won (a zombie
//! member's, or an earlier attempt of ours whose acknowledgement was lost),
//! the partition adopts the winner's tip and re-reads from its next offset.

use foldhash::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auditlog_config::KafkaConfig;
use auditlog_kafka::client;
use auditlog_kafka::close::{CLOSE_GRACE, close_within};
use auditlog_kafka::settings::TopicRole;
use chain::link::RecordRef;
use chain::seal::{Seal, SealKind};
use ed25519_dalek::SigningKey;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::SealerError;
use crate::context::{Change, Ctx};
use crate::cutter::{CutPolicy, PartitionSealer};
use crate::producer::SealProducer;
use crate::seals_log::{KeySet, SealsLog, fold};
use crate::telemetry;

/// What the sealer needs to run.
#[derive(Debug)]
pub struct Settings {
    /// Broker settings and user properties.
    pub kafka: KafkaConfig,
    /// The consumer group.
    pub group_id: String,
    /// Events topics to seal.
    pub topics: Vec<String>,
    /// Seals topic suffix.
    pub seals_suffix: String,
    /// When to cut.
    pub policy: CutPolicy,
    /// The signing key.
    pub key: SigningKey,
    /// Keys whose seals count as canonical (includes the signing key's).
    pub keys: KeySet,
}

/// A partition this member owns.
struct Owned {
    seals_topic: String,
    /// `None` until resumed.
    sealer: Option<PartitionSealer>,
    /// Seals-partition offset up to which the log was folded.
    seals_pos: i64,
    /// When the last seal became canonical.
    last_canonical: Instant,
    /// The last resume failure, retried after `retry_at`.
    retry_at: Instant,
    /// Failed resumes, for the stuck gauge and rate-limited reporting.
    resuming: resume::Resuming,
    /// A forward gap we already re-seeked for once.
    gap_checked: Option<i64>,
    /// Set when the partition cannot be sealed without an operator.
    stopped: bool,
}

/// How long a stopping sealer spends sealing what is pending, in all. A seal
/// not acknowledged by then is left to the partition's next owner, which
/// settles its fate from the seals log; without this bound a sealer asked to
/// stop while the broker is down would wait `kafka.message_timeout_ms` plus
/// 10 s (25 s by default, minutes where it is raised) per partition.
const STOP_SEAL_GRACE: Duration = Duration::from_secs(10);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

mod resume;

/// The adapter's start-up check over the events and seals topics, and
/// the sealer's own rule: seals for partition p go to partition p, so the
/// seals topic needs at least as many partitions as its events topic.
fn preflight(s: &Settings) -> Result<(), SealerError> {
    let seals_of = |t: &String| format!("{t}{}", s.seals_suffix);
    let topics: Vec<(String, TopicRole)> = s
        .topics
        .iter()
        .flat_map(|t| {
            [
                (t.clone(), TopicRole::Events),
                (seals_of(t), TopicRole::Seals),
            ]
        })
        .collect();
    let found = auditlog_kafka::admin::preflight(&s.kafka, &topics)?;
    for t in &s.topics {
        let events = found.partitions.get(t).copied().unwrap_or(0);
        let seals_topic = seals_of(t);
        let seals = found.partitions.get(&seals_topic).copied().unwrap_or(0);
        if seals < events {
            return Err(SealerError::Topic {
                topic: seals_topic,
                message: format!(
                    "has {seals} partitions but {t} has {events}; seals for partition p go to partition p"
                ),
            });
        }
    }
    Ok(())
}

/// The running sealer.
pub struct Sealer {
    s: Settings,
    consumer: Arc<BaseConsumer<Ctx>>,
    producer: SealProducer,
    seals: SealsLog,
    owned: HashMap<String, HashMap<i32, Owned>>,
    timeout: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("group", &self.s.group_id)
            .field("topics", &self.s.topics)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Connects, checks the topics, and subscribes.
    pub fn connect(s: Settings) -> Result<Self, SealerError> {
        preflight(&s)?;
        // Prefetch at most 16 MiB (librdkafka's default is 64): the sealer
        // hashes slower than a broker serves, so its queue runs full, and
        // every MiB of it is memory faulted in and copied once more. A full
        // queue postpones the next fetch by `fetch.queue.backoff.ms`
        // (librdkafka's default 1 s, an idle second whenever the sealer
        // catches up); 16 MiB is ~0.1 s of hashing, so look again after
        // 10 ms. A user's own settings still win.
        let cprops = client::consumer(
            &s.kafka,
            &s.group_id,
            &[
                ("statistics.interval.ms", "1000"),
                ("queued.max.messages.kbytes", "16384"),
                ("fetch.queue.backoff.ms", "10"),
            ],
        );
        // One seal is in flight at a time and the loop waits for it: there is
        // nothing to batch, so lingering (librdkafka's default 5 ms) only adds
        // to every seal's round trip. A user's own setting still wins.
        let pprops = client::producer(&s.kafka, &[("linger.ms", "0")]);
        let consumer: BaseConsumer<Ctx> =
            client::client_config(cprops).create_with_context(Ctx::default())?;
        auditlog_kafka::rebootstrap::attach(consumer.client(), &s.kafka.bootstrap_servers);
        let producer = SealProducer::new(pprops)?;
        let seals = SealsLog::new(&s.kafka, &s.group_id)?;
        let timeout = s.kafka.request_timeout.max(Duration::from_secs(5));
        let sealer = Self {
            s,
            consumer: Arc::new(consumer),
            producer,
            seals,
            owned: HashMap::default(),
            timeout,
        };
        let topics: Vec<&str> = sealer.s.topics.iter().map(String::as_str).collect();
        sealer.consumer.subscribe(&topics)?;
        Ok(sealer)
    }

    /// Runs until `stop` is set, then seals what is pending and leaves the group.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), SealerError> {
        let tick = Duration::from_millis(100);
        let mut last_tick = Instant::now();
        let mut last_slow_tick = Instant::now();
        let consumer = Arc::clone(&self.consumer);
        // Reading the clock for every record showed up in profiles: look at
        // it every 256 records, or whenever a poll came back empty.
        let mut since_clock = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let polled = consumer.poll(tick);
            let empty = polled.is_none();
            self.apply_changes();
            match polled {
                None => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                }
                Some(Ok(m)) => {
                    let record = RecordRef {
                        offset: m.offset(),
                        timestamp_ms: m.timestamp().to_millis(),
                        key: m.key(),
                        value: m.payload(),
                    };
                    self.on_record(m.topic(), m.partition(), &record);
                }
            }
            since_clock += 1;
            let look = empty || since_clock >= 256;
            if look {
                since_clock = 0;
            }
            if look && last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                let slow = last_slow_tick.elapsed() >= Duration::from_secs(1);
                if slow {
                    last_slow_tick = last_tick;
                }
                self.on_tick(slow);
            }
        }
        tracing::info!("stopping: sealing pending records");
        self.apply_changes();
        let owned: Vec<(String, i32)> = self.owned_partitions();
        let deadline = Instant::now() + STOP_SEAL_GRACE;
        for (t, p) in owned {
            if self
                .get(&t, p)
                .and_then(|o| o.sealer.as_ref())
                .is_some_and(|s| s.pending() > 0)
            {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(topic = %t, partition = p, "no time left to seal pending records at shutdown; the next owner will");
                    continue;
                }
                self.producer.wait_at_most(left);
                if let Err(error) = self.seal(&t, p) {
                    tracing::warn!(topic = %t, partition = p, %error, "could not seal pending records at shutdown; the next owner will");
                }
            }
        }
        self.consumer.unsubscribe();
        drop(consumer);
        let Self {
            consumer,
            producer,
            seals,
            ..
        } = self;
        close_within(
            vec![
                ("events consumer", Box::new(consumer)),
                ("seal producer", Box::new(producer)),
                ("seals log reader", Box::new(seals)),
            ],
            CLOSE_GRACE,
        );
        Ok(())
    }

    fn owned_partitions(&self) -> Vec<(String, i32)> {
        self.owned
            .iter()
            .flat_map(|(t, ps)| ps.keys().map(move |p| (t.clone(), *p)))
            .collect()
    }

    fn get(&self, topic: &str, partition: i32) -> Option<&Owned> {
        self.owned.get(topic).and_then(|m| m.get(&partition))
    }

    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Owned> {
        self.owned
            .get_mut(topic)
            .and_then(|m| m.get_mut(&partition))
    }

    fn apply_changes(&mut self) {
        let changes = self.consumer.context().take();
        if changes.is_empty() {
            return;
        }
        for change in changes {
            match change {
                Change::Revoked(ps) => {
                    for (t, p) in ps {
                        if let Some(o) = self.owned.get_mut(&t).and_then(|m| m.remove(&p)) {
                            let pending = o.sealer.as_ref().map_or(0, PartitionSealer::pending);
                            tracing::info!(topic = %t, partition = p, discarded_unsealed = pending, "partition revoked");
                        }
                    }
                }
                Change::Assigned(ps) => {
                    for (t, p) in ps {
                        tracing::info!(topic = %t, partition = p, "partition assigned");
                        let seals_topic = format!("{t}{}", self.s.seals_suffix);
                        let now = Instant::now();
                        self.owned.entry(t.clone()).or_default().insert(
                            p,
                            Owned {
                                seals_topic,
                                sealer: None,
                                seals_pos: 0,
                                last_canonical: now,
                                retry_at: now,
                                resuming: resume::Resuming::default(),
                                gap_checked: None,
                                stopped: false,
                            },
                        );
                        self.try_resume(&t, p);
                    }
                }
            }
        }
        telemetry::owned(self.owned.values().map(HashMap::len).sum());
    }

    fn on_record(&mut self, topic: &str, partition: i32, r: &RecordRef<'_>) {
        let policy = self.s.policy;
        let Some(o) = self.get_mut(topic, partition) else {
            return;
        };
        let Some(s) = o.sealer.as_mut() else { return };
        let expected = s.next_offset().unwrap_or(r.offset);
        if r.offset < expected {
            return; // already sealed, or fetched before the seek
        }
        if r.offset > expected && o.gap_checked != Some(expected) {
            // A record from before a seek, or a real gap: re-seek once.
            o.gap_checked = Some(expected);
            tracing::warn!(
                topic,
                partition,
                expected,
                got = r.offset,
                "offset gap; re-reading from the expected offset"
            );
            if let Err(error) =
                self.consumer
                    .seek(topic, partition, Offset::Offset(expected), self.timeout)
            {
                tracing::warn!(topic, partition, %error, "seek failed");
            }
            return;
        }
        if let Err(e) = s.append(r, Instant::now) {
            tracing::error!(topic, partition, error = %e, "record out of order");
            return;
        }
        if s.full(&policy) {
            if let Err(error) = self.seal(topic, partition) {
                tracing::warn!(topic, partition, %error, "sealing failed; will retry");
            }
        }
    }

    /// Every tick: cut data seals that are due, retry resumes. Every slow
    /// tick (1 s): heartbeats and the lag gauges, from the watermarks that
    /// librdkafka's statistics report.
    fn on_tick(&mut self, slow: bool) {
        let now = Instant::now();
        if slow {
            self.report_stuck();
        }
        for (t, p) in self.owned_partitions() {
            let Some(o) = self.get(&t, p) else { continue };
            if o.stopped {
                continue;
            }
            let Some(s) = o.sealer.as_ref() else {
                if now >= o.retry_at {
                    self.try_resume(&t, p);
                }
                continue;
            };
            let data_due = s.data_due(&self.s.policy, now);
            let heartbeat_due = s.heartbeat_due(&self.s.policy, now);
            let next = s.next_offset().unwrap_or(0);
            let head_age = now.duration_since(o.last_canonical).as_secs_f64();
            let mut idle = false;
            if slow {
                if let Some(hw) = self.consumer.context().high_watermark(&t, p) {
                    telemetry::partition_gauges(&t, p, hw - next, head_age);
                    idle = hw <= next;
                }
            }
            let due = data_due || (heartbeat_due && idle);
            if due {
                if let Err(error) = self.seal(&t, p) {
                    tracing::warn!(topic = %t, partition = p, %error, "sealing failed; will retry");
                }
            }
        }
    }

    /// Cuts, publishes and confirms one seal of a partition.
    fn seal(&mut self, topic: &str, partition: i32) -> Result<(), SealerError> {
        let t0 = Instant::now();
        let hw = self
            .consumer
            .context()
            .high_watermark(topic, partition)
            .unwrap_or(0);
        let Some(o) = self.get(topic, partition) else {
            return Ok(());
        };
        let Some(s) = o.sealer.as_ref() else {
            return Ok(());
        };
        let seals_topic = o.seals_topic.clone();
        let seals_pos = o.seals_pos;
        let tip = s.tip().clone();
        let oldest = s.oldest_pending_timestamp_ms();
        let sealed_at = now_ms();
        let seal = s.cut(hw.max(s.next_offset().unwrap_or(0)), sealed_at, &self.s.key);
        let payload = seal.to_json();
        let key = format!("{topic}/{partition}");
        let seal_offset = self
            .producer
            .publish(&seals_topic, partition, &key, &payload)
            .map_err(|message| SealerError::NotAcknowledged {
                topic: topic.to_owned(),
                partition,
                message,
            })?;
        let t_produce = t0.elapsed();
        let records = self
            .seals
            .read(&seals_topic, partition, seals_pos, seal_offset + 1)?;
        let f = fold(tip, topic, partition, records, &self.s.keys);
        tracing::debug!(topic, partition, produce = ?t_produce, total = ?t0.elapsed(), "seal round trip");
        let won = f
            .accepted
            .last()
            .is_some_and(|(off, _)| *off == seal_offset);
        let now = Instant::now();
        let Some(o) = self.get_mut(topic, partition) else {
            return Ok(());
        };
        o.seals_pos = seal_offset + 1;
        o.gap_checked = None;
        let Some(s) = o.sealer.as_mut() else {
            return Ok(());
        };
        if won {
            s.confirm(&seal, now);
            o.last_canonical = now;
            let latency = oldest.map(|ts| (sealed_at - ts).max(0) as f64 / 1_000.0);
            let kind = match seal.kind {
                SealKind::Data => "data",
                SealKind::Heartbeat => "heartbeat",
            };
            telemetry::sealed(kind, seal.count, latency);
            tracing::debug!(
                topic,
                partition,
                seq = seal.seq,
                first_offset = seal.first_offset,
                last_offset = seal.last_offset,
                seal_offset,
                "sealed"
            );
            self.commit(
                topic,
                partition,
                &seals_topic,
                seal.last_offset + 1,
                seal_offset + 1,
            )
        } else {
            // Someone else's seal is canonical: adopt it and re-read after it.
            let winner: Option<&(i64, Seal)> = f.accepted.last();
            tracing::warn!(
                topic,
                partition,
                lost_seq = seal.seq,
                seal_offset,
                adopted_seq = winner.map(|(_, w)| w.seq),
                next_offset = f.tip.next_offset,
                "own seal lost to a rival; adopting the canonical chain"
            );
            telemetry::fork_resolved();
            let next = f.tip.next_offset.unwrap_or(0);
            let anchor = winner.map(|(off, _)| off + 1);
            s.rewind(f.tip, now);
            o.last_canonical = now;
            self.consumer
                .seek(topic, partition, Offset::Offset(next), self.timeout)?;
            match anchor {
                Some(a) => self.commit(topic, partition, &seals_topic, next, a),
                None => Ok(()),
            }
        }
    }

    fn commit(
        &self,
        topic: &str,
        partition: i32,
        seals_topic: &str,
        next_offset: i64,
        anchor: i64,
    ) -> Result<(), SealerError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(next_offset))?;
        if let Err(error) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(topic, partition, %error, "offset commit failed; resume will re-read from the anchor");
        }
        self.seals.commit_anchor(seals_topic, partition, anchor)
    }
}

/// Runs a sealer until `stop` is set.
pub fn run(settings: Settings, stop: Arc<AtomicBool>) -> Result<(), SealerError> {
    Sealer::connect(settings)?.run(&stop)
}
