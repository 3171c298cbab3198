//! The seal producer: publishes one seal at a time and waits for its
//! delivery report, rebuilding itself when librdkafka declared it dead.
//!
//! Delivery reports are served by a thread of ours that polls with a long
//! window. rdkafka's `FutureProducer` polls in 100 ms windows and, because a
//! window's last fraction of a millisecond becomes a zero timeout, spins
//! through it: about 1% of a core per producer whether or not anything is
//! sent, which was an eighth of the sealer's CPU in the benchmark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auditlog_kafka::rebootstrap::{HasRebootstrap, Rebootstrap};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

/// Deliveries in a row that time out before the producer is rebuilt. After
/// a broker restart librdkafka normally recovers by itself (it bumps the
/// epoch, KIP-360); in CI a producer was seen to time out every seal for
/// 90 s after the broker was back. A fresh producer gets a fresh producer
/// id and connection; the seal whose fate is unknown is settled by folding
/// the seals log, as for any seal.
const REBUILD_AFTER_TIMEOUTS: u32 = 2;

/// How long the polling thread's `poll` lasts; also how long an abandoned
/// producer lives on after it was replaced.
const POLL_WINDOW: Duration = Duration::from_secs(1);

/// Where the polling thread leaves a delivery report for `publish`.
#[derive(Default)]
struct Reports {
    /// (delivery id, offset or error) of the latest report.
    latest: Mutex<Option<(usize, Result<i64, KafkaError>)>>,
    arrived: Condvar,
}

impl Reports {
    fn lock(&self) -> MutexGuard<'_, Option<(usize, Result<i64, KafkaError>)>> {
        match self.latest.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Clones share the reports; each has its own [`Rebootstrap`].
#[derive(Clone, Default)]
struct Ctx(Arc<Reports>, Rebootstrap);

impl HasRebootstrap for Ctx {
    fn rebootstrap(&self) -> &Rebootstrap {
        &self.1
    }
}

impl ClientContext for Ctx {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        auditlog_kafka::quiet::client_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        auditlog_kafka::quiet::client_error(&error, reason);
        self.1.on_error(&error);
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let outcome = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        *self.0.lock() = Some((id, outcome));
        self.0.arrived.notify_all();
    }
}

/// One producer, its own report slot (so a replaced producer's late or
/// purged reports can never be taken for the new one's), and the thread
/// that serves its events; dropping it stops the thread within
/// [`POLL_WINDOW`], which then drops the producer.
struct Session {
    producer: Arc<BaseProducer<Ctx>>,
    reports: Ctx,
    stop: Arc<AtomicBool>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An idempotent, acks=all producer of seal records.
///
/// It is replaced after librdkafka declared it dead (a fatal idempotence
/// error). After a delivery that timed out librdkafka bumps the producer
/// epoch itself (KIP-360), which Apache Kafka accepts, so the producer goes
/// on; it is replaced too when deliveries keep timing out
/// ([`REBUILD_AFTER_TIMEOUTS`]). Only one seal is ever in flight (the caller waits for its report), so
/// dropping the old producer loses nothing.
pub(crate) struct SealProducer {
    session: Session,
    props: BTreeMap<String, String>,
    /// How long to wait for a report beyond `message.timeout.ms`.
    wait: Duration,
    next_id: usize,
    /// How many times it was rebuilt.
    generation: u64,
    /// Deliveries in a row that timed out.
    timed_out_in_a_row: u32,
}

fn start(props: &BTreeMap<String, String>) -> Result<Session, KafkaError> {
    let cc = auditlog_kafka::client::client_config(props);
    let reports = Ctx::default();
    let producer: Arc<BaseProducer<Ctx>> = Arc::new(cc.create_with_context(reports.clone())?);
    if let Some(servers) = props.get("bootstrap.servers") {
        auditlog_kafka::rebootstrap::attach(producer.client(), servers);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (p, s) = (Arc::clone(&producer), Arc::clone(&stop));
    std::thread::Builder::new()
        .name("seal-producer".into())
        .spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.poll(POLL_WINDOW);
            }
        })
        .map_err(|e| KafkaError::ClientCreation(format!("seal producer thread: {e}")))?;
    Ok(Session {
        producer,
        reports,
        stop,
    })
}

impl SealProducer {
    /// Creates the producer from librdkafka properties.
    pub(crate) fn new(props: BTreeMap<String, String>) -> Result<Self, KafkaError> {
        // librdkafka reports every message within its message timeout
        // (`kafka.message_timeout_ms`, which the config always sets);
        // waiting longer only guards against a lost report.
        let message_timeout = ["message.timeout.ms", "delivery.timeout.ms"]
            .iter()
            .filter_map(|k| props.get(*k)?.parse::<u64>().ok())
            .max()
            .map_or(Duration::from_secs(300), Duration::from_millis);
        Ok(Self {
            session: start(&props)?,
            props,
            wait: message_timeout + Duration::from_secs(10),
            next_id: 0,
            generation: 0,
            timed_out_in_a_row: 0,
        })
    }

    /// Waits at most `d` for each later delivery report (a stopping sealer's
    /// bound); the record itself stays with librdkafka until it is sent or
    /// the producer is dropped.
    pub(crate) fn wait_at_most(&mut self, d: Duration) {
        self.wait = self.wait.min(d);
    }

    /// Publishes one record to `topic`/`partition` and waits for the broker
    /// to acknowledge it: its offset, or why not.
    pub(crate) fn publish(
        &mut self,
        topic: &str,
        partition: i32,
        key: &str,
        payload: &[u8],
    ) -> Result<i64, String> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let record = BaseRecord::with_opaque_to(topic, id)
            .partition(partition)
            .key(key)
            .payload(payload);
        self.session
            .producer
            .send(record)
            .map_err(|(e, _)| e.to_string())?;
        let deadline = Instant::now() + self.wait;
        let reports = &self.session.reports.0;
        let mut latest = reports.lock();
        loop {
            if let Some((got, _)) = latest.as_ref() {
                if *got == id {
                    break;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no delivery report within {:?}", self.wait));
            }
            latest = match reports.arrived.wait_timeout(latest, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let outcome = latest.take().map(|(_, r)| r);
        drop(latest);
        match outcome {
            Some(Ok(offset)) => {
                self.timed_out_in_a_row = 0;
                Ok(offset)
            }
            Some(Err(e)) => {
                self.heal(&e);
                Err(e.to_string())
            }
            None => Err("delivery report lost".into()),
        }
    }

    /// Rebuilds the producer if librdkafka declared it dead, or after
    /// [`REBUILD_AFTER_TIMEOUTS`] deliveries in a row timed out (see the
    /// type's docs).
    fn heal(&mut self, error: &KafkaError) {
        let timed_out = matches!(
            error,
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
        );
        self.timed_out_in_a_row = if timed_out {
            self.timed_out_in_a_row + 1
        } else {
            0
        };
        if let Some((code, reason)) = self.session.producer.client().fatal_error() {
            tracing::error!(?code, %reason, generation = self.generation, "seal producer hit a fatal error; rebuilding it");
        } else if self.timed_out_in_a_row >= REBUILD_AFTER_TIMEOUTS {
            tracing::warn!(
                timed_out = self.timed_out_in_a_row,
                generation = self.generation,
                "seal deliveries keep timing out; rebuilding the seal producer"
            );
        } else {
            return;
        }
        self.timed_out_in_a_row = 0;
        match start(&self.props) {
            Ok(fresh) => {
                self.session = fresh;
                self.generation += 1;
            }
            Err(error) => {
                tracing::error!(%error, "rebuilding the seal producer failed; keeping the old one");
            }
        }
    }
}
