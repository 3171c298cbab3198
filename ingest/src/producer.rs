//! The thin rdkafka adapter: an idempotent producer of canonical events.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{ForcedOverride, producer_properties};
use auditlog_kafka::client::client_config;
use auditlog_kafka::memo::ErrorMemo;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use schemas::AuditEvent;
use serde::Serialize;
use uuid::Uuid;

use crate::IngestError;

type Inner = FutureProducer<ErrorMemo>;

/// One producer and its generation (how many times it was rebuilt).
struct Session {
    producer: Inner,
    generation: u64,
}

/// An event handed to librdkafka, awaiting its acknowledgement.
pub struct Queued {
    delivery: DeliveryFuture,
    generation: u64,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Where the broker put one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The event's id.
    pub event_id: Uuid,
    /// The partition it landed in.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// An idempotent, acks=all producer of audit events to the events topic,
/// keyed by tenant.
///
/// If librdkafka reports a fatal error (the idempotent producer can raise one
/// after unrecoverable sequence problems), the producer is rebuilt on the next
/// call, so a long-running gateway heals without a restart.
///
/// After a delivery that timed out librdkafka bumps the producer epoch itself
/// (KIP-360) and carries on, which Apache Kafka accepts, so a timeout needs
/// nothing of ours. Only the producer whose delivery failed is replaced, so a
/// burst of failures rebuilds once.
pub struct EventProducer {
    inner: RwLock<Session>,
    memo: ErrorMemo,
    props: BTreeMap<String, String>,
    topic: String,
    bootstrap: String,
    request_timeout: Duration,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("topic", &self.topic)
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl EventProducer {
    /// Creates the producer. Returns the user properties that were overridden
    /// because delivery guarantees depend on them, so the caller can say so.
    pub fn new(cfg: &KafkaConfig) -> Result<(Self, Vec<ForcedOverride>), IngestError> {
        let (props, overrides) = producer_properties(cfg);
        let memo = ErrorMemo::default();
        let producer: Inner = memo
            .future_producer(&client_config(&props))
            .map_err(IngestError::Client)?;
        Ok((
            Self {
                inner: RwLock::new(Session {
                    producer,
                    generation: 0,
                }),
                memo,
                props,
                topic: cfg.events_topic.clone(),
                bootstrap: cfg.bootstrap_servers.clone(),
                request_timeout: cfg.request_timeout,
            },
            overrides,
        ))
    }

    /// The events topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn current(&self) -> (Inner, u64) {
        let read = |s: &Session| (s.producer.clone(), s.generation);
        match self.inner.read() {
            Ok(s) => read(&s),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    /// Rebuilds the producer of `generation` if librdkafka declared it dead
    /// (see the type's docs), unless it was rebuilt already.
    fn heal(&self, generation: u64) {
        let (current, now) = self.current();
        if now != generation {
            return;
        }
        let Some((code, reason)) = current.client().fatal_error() else {
            return;
        };
        tracing::error!(?code, %reason, "producer hit a fatal error; rebuilding it");
        let fresh = match self.memo.future_producer(&client_config(&self.props)) {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::error!(%error, "rebuilding the producer failed");
                return;
            }
        };
        let discarded = {
            let mut session = match self.inner.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            if session.generation == generation {
                let next = Session {
                    producer: fresh,
                    generation: generation + 1,
                };
                std::mem::replace(&mut *session, next).producer
            } else {
                fresh
            }
        };
        // Dropping a producer joins its polling thread and flushes for up to
        // 500 ms: not under the lock every request takes, and not on an async
        // worker.
        let dropper = std::thread::Builder::new()
            .name("producer-drop".into())
            .spawn(move || drop(discarded));
        if let Err(error) = dropper {
            tracing::warn!(%error, "could not start a thread to drop the old producer; dropped it here");
        }
    }

    /// Queues one event; the returned future resolves when the broker
    /// acknowledges it or librdkafka gives up (`kafka.message_timeout_ms`).
    pub fn enqueue(&self, event: &AuditEvent) -> Result<Queued, IngestError> {
        let payload = event.to_canonical_json();
        let record = FutureRecord::to(&self.topic)
            .key(event.tenant.as_bytes())
            .payload(&payload);
        let (producer, generation) = self.current();
        producer
            .send_result(record)
            .map(|delivery| Queued {
                delivery,
                generation,
            })
            .map_err(|(e, _)| match e {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                    IngestError::QueueFull
                }
                other => IngestError::NotAcknowledged {
                    topic: self.topic.clone(),
                    message: other.to_string(),
                },
            })
    }

    /// Waits for one queued event.
    pub async fn acknowledged(&self, event_id: Uuid, queued: Queued) -> Result<Ack, IngestError> {
        let fail = |message: String| IngestError::NotAcknowledged {
            topic: self.topic.clone(),
            message,
        };
        match queued.delivery.await {
            Ok(Ok(d)) => Ok(Ack {
                event_id,
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => {
                self.heal(queued.generation);
                Err(fail(e.to_string()))
            }
            Err(_) => Err(fail("producer dropped the delivery report".into())),
        }
    }

    /// Publishes every event and waits for every acknowledgement. The result
    /// has one entry per event, in order.
    pub async fn publish_all(&self, events: &[AuditEvent]) -> Vec<Result<Ack, IngestError>> {
        let queued: Vec<_> = events
            .iter()
            .map(|e| (e.event_id, self.enqueue(e)))
            .collect();
        futures::future::join_all(queued.into_iter().map(|(id, q)| async move {
            match q {
                Ok(fut) => self.acknowledged(id, fut).await,
                Err(e) => Err(e),
            }
        }))
        .await
    }

    /// Asks the broker for the events topic's metadata (blocking, bounded by
    /// `kafka.request_timeout_ms`). Returns the partition count.
    pub fn probe(&self) -> Result<usize, IngestError> {
        let (producer, _) = self.current();
        let since = std::time::Instant::now();
        let md = producer
            .client()
            .fetch_metadata(Some(&self.topic), self.request_timeout)
            .map_err(|e| auditlog_kafka::KafkaError::Unreachable {
                bootstrap: self.bootstrap.clone(),
                waited_ms: since.elapsed().as_millis(),
                message: self.memo.explain(e.to_string()),
            })?;
        match md.topics().iter().find(|t| t.name() == self.topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().len())
            }
            _ => Err(auditlog_kafka::KafkaError::TopicMissing {
                topic: self.topic.clone(),
            }
            .into()),
        }
    }

    /// Waits up to `timeout` for queued events to be delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), IngestError> {
        self.current()
            .0
            .flush(timeout)
            .map_err(|e| IngestError::NotAcknowledged {
                topic: self.topic.clone(),
                message: e.to_string(),
            })
    }
}
