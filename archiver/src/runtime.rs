//! The archiver's consumer loop.
//!
//! One thread polls a `BaseConsumer` subscribed to the seals topics. Each
//! seal is put through the canonical-chain rule, and the accepted ones
//! through the grouping rule (`crate::group`), which cuts each partition's
//! data seals into runs. For each closed run the archiver reads the sealed
//! records from the events partition and hands them to the uploader thread
//! (`crate::upload`), which checks them against every seal, encodes them as
//! one object per table, PUTs the objects and then the signed manifest
//! create-only under COMPLIANCE retention. Seals offsets are committed here,
//! in order, once the uploader reports everything up to them durable, and
//! only at the end of a run: a committed offset is always a run boundary, so
//! whoever resumes from it cuts the same runs. Heartbeats and rejected seals
//! outside a run pass through the uploader too, so they are never committed
//! ahead of a range still being written. Memory follows the plan of
//! `auditlog_config::memory`: a batch's runs are bounded before they are
//! read (seals × `sealer.max_bytes`, at most `batch_bytes`), and the ranges
//! handed to the uploader and not yet stored by their actual bytes (at most
//! `in_flight_bytes`), so the previous batch waits there while this one is
//! read, whatever the size of its runs. Offsets are
//! committed asynchronously, coalesced per partition (a backlog of
//! heartbeats would otherwise wait for a broker round trip each).
//!
//! The member holding seals partition 0 of the first topic also writes the
//! periodic checkpoint (`crate::checkpoint`), and a last one when it stops.

use auditlog_kafka::close::{CLOSE_GRACE, close_within};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use auditlog_config::KafkaConfig;
use auditlog_config::memory::MAX_BATCH_RANGES;
pub use auditlog_config::memory::MemoryPlan;
use auditlog_kafka::client;
use auditlog_kafka::settings::TopicRole;
use chain::canonical::{Tip, apply};
use chain::manifest::Seals;
use chain::seal::{KeyId, Seal};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::Limits;
use tokio::runtime::Handle;

use crate::ArchiverError;
use crate::checkpoint::Checkpointer;
use crate::cosign::collector::{Collector, Input as CollectorInput};
use crate::group::{Group, GroupRule};
use crate::reader::{Reader, kafka_err, record_bytes};
use crate::telemetry;
use crate::translog::TransparencyLog;
use crate::upload::{Backoff, Done, Job, Uploader, now_ms};
use archive::Retention;
use archive::store::Store;

mod batch;
mod context;
mod resume;

use context::Ctx;

use batch::Pending;

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
    pub retention: Retention,
    /// Manifest signing key.
    pub key: SigningKey,
    /// Trusted sealer keys.
    pub seal_keys: Vec<VerifyingKey>,
    /// Event validation bounds.
    pub limits: Limits,
    /// Store every value, canonical or not (`encode::encode_range_keeping`).
    pub store_every_value: bool,
    /// Time between checkpoints; `None` writes none.
    pub checkpoint_interval: Option<Duration>,
    /// How long an unchanged archive goes without a checkpoint.
    pub checkpoint_idle: Option<Duration>,
    /// How memory is shared between reading and uploading.
    pub memory: MemoryPlan,
    /// `sealer.max_bytes`: a seal's records hold at most this many key and
    /// value bytes (plus the record that crossed it).
    pub seal_max_bytes: u64,
    /// Which seals are archived together.
    pub group: GroupRule,
    /// The origin prefix of the partitions' transparency logs (also the
    /// checkpoints' key name), `None` when they are not written.
    pub log_origin: Option<String>,
    /// The witnesses that cosign those logs' checkpoints, and the quorum.
    pub cosigning: auditlog_config::Cosigning,
}

struct Part {
    events_topic: String,
    tip: Tip,
    /// The open run: seals not yet handed over.
    group: Group,
    /// The next seals offset to process; earlier deliveries (fetched before
    /// the seek) are ignored.
    next: i64,
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
    /// Key and value bytes handed to the uploader and not yet stored.
    in_flight: Arc<AtomicU64>,
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
        let seals: Vec<String> = s
            .topics
            .iter()
            .map(|t| format!("{t}{}", s.seals_suffix))
            .collect();
        let checked: Vec<(String, TopicRole)> = s
            .topics
            .iter()
            .map(|t| (t.clone(), TopicRole::Events))
            .chain(seals.iter().map(|t| (t.clone(), TopicRole::Seals)))
            .collect();
        auditlog_kafka::admin::preflight(&s.kafka, &checked)?;
        let props = client::consumer(&s.kafka, &s.group_id, &[]);
        let consumer: BaseConsumer<Ctx> = client::client_config(props)
            .create_with_context(Ctx::default())
            .map_err(kafka_err)?;
        auditlog_kafka::rebootstrap::attach(consumer.client(), &s.kafka.bootstrap_servers);
        let mut rprops = client::reader(&s.kafka, &format!("{}.reader", s.group_id));
        // The reader reads one sealed range at a time; what it prefetches
        // beyond that range is bounded too (16 MiB), so the archiver's memory
        // is this, one range (at most `sealer.max_bytes` plus one record) and
        // its encoding.
        rprops.insert("queued.max.messages.kbytes".into(), "16384".into());
        let timeout = s.kafka.request_timeout.max(Duration::from_secs(10));
        let reader = Reader {
            consumer: client::client_config(rprops)
                .create_with_context(auditlog_kafka::quiet::Quiet::default())
                .map_err(kafka_err)?,
            timeout,
        };
        auditlog_kafka::rebootstrap::attach(reader.consumer.client(), &s.kafka.bootstrap_servers);
        let refs: Vec<&str> = seals.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(kafka_err)?;
        let checkpoints = s.checkpoint_interval.map(|every| {
            let cp = Checkpointer::new(&s.prefix, &s.topics, s.retention.longest(), s.key.clone())
                .idle_for(s.checkpoint_idle);
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
            in_flight: Arc::new(AtomicU64::new(0)),
        })
    }

    fn key(&self, id: &KeyId) -> Option<VerifyingKey> {
        self.s
            .seal_keys
            .iter()
            .find(|k| KeyId::of(k) == *id)
            .copied()
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
            Ok(Ok(Some(c))) => telemetry::checkpoint_written(c.seq),
            Ok(Ok(None)) => {} // nothing moved: nothing new to say
            Ok(Err(error)) => {
                tracing::warn!(%error, "checkpoint not written; retrying at the next interval");
            }
            Err(_) => tracing::warn!("checkpoint timed out; retrying at the next interval"),
        }
    }

    /// Commits the next seals offset of each partition in one asynchronous
    /// request (the context's commit callback reports a failure).
    fn commit(&self, next: &BTreeMap<(String, i32), i64>) {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            if let Err(error) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            {
                tracing::warn!(topic, partition, %error, "commit skipped");
            }
        }
        if tpl.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(partitions = tpl.count(), %error, "commit failed");
        }
    }

    /// Runs until `stop` is set; the checkpoint leader writes a last
    /// checkpoint on the way out. Encoding and uploading run on a second
    /// thread ([`crate::upload`]) while this one reads the next range.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), ArchiverError> {
        let (jobs, jobs_rx) = std::sync::mpsc::sync_channel::<Job>(MAX_BATCH_RANGES);
        let (done_tx, done) = std::sync::mpsc::channel::<Done>();
        let (to_collector, collector_rx) = std::sync::mpsc::channel::<CollectorInput>();
        let collector = Collector::if_configured(
            &self.s.prefix,
            &self.store,
            &self.rt,
            self.s.log_origin.is_some().then_some(&self.s.cosigning),
        )?;
        let log = match &self.s.log_origin {
            Some(origin) => Some(
                TransparencyLog::new(&self.s.prefix, origin, self.s.key.clone())?
                    .with_collector(collector.as_ref().map(|_| to_collector)),
            ),
            None => None,
        };
        let uploader = Uploader::new(
            &self.s.prefix,
            self.s.retention.clone(),
            self.s.key.clone(),
            self.s.limits.clone(),
            self.store.clone(),
            self.rt.clone(),
            Arc::clone(&self.in_flight),
        )
        .with_log(log)
        .storing_every_value(self.s.store_every_value);
        let (looped, uploaded) = std::thread::scope(|scope| {
            let up = scope.spawn(move || uploader.run(&jobs_rx, &done_tx, stop));
            if let Some(c) = collector {
                scope.spawn(move || c.run(&collector_rx, stop));
            }
            let looped = self.run_loop(stop, &jobs, &done);
            tracing::info!("reading stopped; waiting for the uploader to finish the range in hand");
            drop(jobs);
            let uploaded = up.join().unwrap_or_else(|_| {
                Err(ArchiverError::Kafka("the uploader thread panicked".into()))
            });
            (looped, uploaded)
        });
        let stopping = Instant::now();
        tracing::info!("uploader finished; committing what was stored");
        // Asynchronous, like every commit: a synchronous one waits for a
        // coordinator as long as socket.timeout.ms when the broker is
        // unreachable. Closing the consumer (below) waits for the commit to
        // finish, within the close grace; a commit lost to that grace only
        // means the range is redone and adopted by the next owner.
        self.commit_done(&done);
        if uploaded.is_ok() && looped.is_ok() {
            self.maybe_checkpoint(true);
        }
        tracing::info!(
            ms = stopping.elapsed().as_millis() as u64,
            "commit sent and checkpoint written; closing the Kafka clients (closing waits for the commit)"
        );
        let Self {
            consumer, reader, ..
        } = self;
        close_within(
            vec![
                ("seals consumer", Box::new(consumer)),
                ("events reader", Box::new(reader)),
            ],
            CLOSE_GRACE,
        );
        uploaded?;
        looped?;
        Ok(())
    }

    /// Commits what the uploader finished, for partitions still owned.
    /// Done arrive in order, so the last one per partition covers the rest:
    /// one commit request however many seals (heartbeats included) finished.
    /// The loop commits asynchronously (what it commits is already durable,
    /// and a lost commit only means a range is redone and adopted), so a
    /// backlog of heartbeats does not wait for a broker round trip each.
    /// The last one on the way out is asynchronous too; closing the consumer
    /// waits for it, within the close grace.
    fn commit_done(&self, done: &Receiver<Done>) {
        let mut next = BTreeMap::new();
        for d in done.try_iter() {
            let at = (d.topic, d.partition);
            if self.parts.contains_key(&at) {
                next.insert(at, d.next);
            }
        }
        self.commit(&next);
    }

    /// Hands a job to the uploader, committing what it finishes meanwhile.
    /// A range waits while the records already handed over and its own
    /// would pass the plan's in-flight bound (unless nothing is in flight).
    /// `false` when the uploader has stopped (its error is returned by
    /// [`Self::run`]) or `stop` is set.
    fn hand_over(
        &self,
        mut job: Job,
        jobs: &SyncSender<Job>,
        done: &Receiver<Done>,
        stop: &AtomicBool,
    ) -> bool {
        let bytes = match &job {
            Job::Range { records, .. } => record_bytes(records),
            _ => 0,
        };
        loop {
            self.commit_done(done);
            let held = self.in_flight.load(Ordering::Acquire);
            let sent = if batch::has_room(held, bytes, &self.s.memory) {
                // Counted before the uploader can see it (and subtract it).
                self.in_flight.fetch_add(bytes, Ordering::AcqRel);
                jobs.try_send(job).inspect_err(|_| {
                    self.in_flight.fetch_sub(bytes, Ordering::AcqRel);
                })
            } else {
                Err(TrySendError::Full(job))
            };
            match sent {
                Ok(()) => {
                    telemetry::buffered(self.in_flight.load(Ordering::Relaxed));
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(j)) => {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    job = j;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// Reads the ranges of a batch at once (retrying with backoff) and
    /// hands its jobs over in order. `false` once `stop` is set or the
    /// uploader has stopped.
    fn flush(
        &self,
        batch: &mut Vec<Pending>,
        jobs: &SyncSender<Job>,
        done: &Receiver<Done>,
        stop: &AtomicBool,
    ) -> bool {
        let ranges: Vec<(String, i32, i64, i64)> = batch
            .iter()
            .filter_map(|p| match p {
                Pending::Data { at, seals, .. } => Some((
                    at.0.clone(),
                    at.1,
                    seals.first_offset(),
                    seals.last_offset(),
                )),
                Pending::Pass(_) => None,
            })
            .collect();
        let mut backoff = Backoff::default();
        let started = Instant::now();
        let read = loop {
            match self.reader.read_many(&ranges) {
                Ok(read) => break read,
                Err(error) => {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    let pause = backoff.next();
                    tracing::warn!(%error, ?pause, "reading ranges failed; retrying");
                    std::thread::sleep(pause);
                }
            }
        };
        tracing::debug!(
            ranges = ranges.len(),
            read_ms = started.elapsed().as_millis() as u64,
            "batch read"
        );
        let mut read = read.into_iter();
        for p in batch.drain(..) {
            let job = match p {
                Pending::Pass(d) => Job::Pass(d),
                Pending::Data { at, seals, done: d } => Job::Range {
                    at,
                    seals,
                    records: read.next().unwrap_or_default(),
                    done: d,
                },
            };
            if !self.hand_over(job, jobs, done, stop) {
                return false;
            }
        }
        true
    }

    fn run_loop(
        &mut self,
        stop: &AtomicBool,
        jobs: &SyncSender<Job>,
        done: &Receiver<Done>,
    ) -> Result<(), ArchiverError> {
        let mut batch: Vec<Pending> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            self.commit_done(done);
            self.maybe_checkpoint(false);
            // With ranges waiting, take only seals already fetched, then read.
            let wait = if batch.is_empty() { 200 } else { 0 };
            let Some(polled) = self.consumer.poll(Duration::from_millis(wait)) else {
                if !batch.is_empty() && !self.flush(&mut batch, jobs, done, stop) {
                    return Ok(());
                }
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
            let resuming = !self.parts.contains_key(&(topic.clone(), partition));
            if (!revoked.is_empty() || resuming)
                && !batch.is_empty()
                && !self.flush(&mut batch, jobs, done, stop)
            {
                return Ok(());
            }
            for r in revoked {
                if self.parts.remove(&r).is_some() {
                    tracing::info!(topic = %r.0, partition = r.1, "seals partition revoked");
                }
            }
            if !self.parts.contains_key(&(topic.clone(), partition)) {
                match self.resume(&topic, partition) {
                    Ok(resume) => {
                        if !self.hand_over(resume, jobs, done, stop) {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic, partition, error = %e, "resume failed; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                continue; // the seek re-delivers from the committed offset
            }
            let pass = Done {
                topic: topic.clone(),
                partition,
                next: offset + 1,
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
                continue; // fetched before the seek
            }
            part.next = offset + 1;
            let seal = payload.and_then(|p| Seal::from_json(&p).ok());
            let events_topic = part.events_topic.clone();
            let offered = match seal {
                Some(seal)
                    if apply(&mut part.tip, &events_topic, partition, &seal, key).is_ok() =>
                {
                    part.group.offer(&self.s.group, &seal)
                }
                _ => Default::default(),
            };
            let open = part.group.is_open();
            let at = (events_topic, partition);
            let run = |seals: Seals, next: i64| Pending::Data {
                at: at.clone(),
                seals,
                done: Done {
                    topic: topic.clone(),
                    partition,
                    next,
                },
            };
            // A run closed before this seal is durable up to it; one closed
            // with it, past it. Anything else is committed only when no run
            // is open.
            let mut pending: Vec<Pending> = Vec::new();
            pending.extend(offered.before.map(|r| run(r, offset)));
            match offered.with {
                Some(r) => pending.push(run(r, offset + 1)),
                None if !open => pending.push(Pending::Pass(pass)),
                None => {}
            }
            // A bounded batch; ranges of one partition are read in one pass.
            // Its bytes are bounded before it is read: a range that would
            // take the batch past the plan's bound starts the next one.
            let (plan, bound) = (&self.s.memory, self.s.seal_max_bytes);
            if batch::overflows(&batch, &pending, bound, plan)
                && !self.flush(&mut batch, jobs, done, stop)
            {
                return Ok(());
            }
            batch.extend(pending);
            if batch::is_full(&batch, bound, plan) && !self.flush(&mut batch, jobs, done, stop) {
                return Ok(());
            }
        }
        Ok(())
    }
}
