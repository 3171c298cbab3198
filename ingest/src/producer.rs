//! The thin rdkafka adapter: an idempotent producer of canonical events.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{ForcedOverride, producer_properties};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use schemas::AuditEvent;
use serde::Serialize;
use uuid::Uuid;

use crate::IngestError;
use crate::context::ErrorMemo;

type Inner = FutureProducer<ErrorMemo>;

/// Builds an rdkafka client configuration from a property map.
pub fn client_config(props: &BTreeMap<String, String>) -> ClientConfig {
    let mut cc = ClientConfig::new();
    for (k, v) in props {
        cc.set(k, v);
    }
    cc
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
pub struct EventProducer {
    inner: RwLock<Inner>,
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
        let producer: Inner = client_config(&props)
            .create_with_context(memo.clone())
            .map_err(IngestError::Client)?;
        Ok((
            Self {
                inner: RwLock::new(producer),
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

    fn current(&self) -> Inner {
        match self.inner.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the producer if librdkafka declared it dead.
    fn heal(&self) {
        let current = self.current();
        let Some((code, reason)) = current.client().fatal_error() else {
            return;
        };
        tracing::error!(?code, %reason, "producer hit a fatal error; rebuilding it");
        match client_config(&self.props).create_with_context::<_, Inner>(self.memo.clone()) {
            Ok(fresh) => match self.inner.write() {
                Ok(mut p) => *p = fresh,
                Err(poisoned) => *poisoned.into_inner() = fresh,
            },
            Err(error) => tracing::error!(%error, "rebuilding the producer failed"),
        }
    }

    /// Queues one event; the returned future resolves when the broker
    /// acknowledges it or librdkafka gives up (`kafka.message_timeout_ms`).
    pub fn enqueue(&self, event: &AuditEvent) -> Result<DeliveryFuture, IngestError> {
        let payload = event.to_canonical_json();
        let record = FutureRecord::to(&self.topic)
            .key(event.tenant.as_bytes())
            .payload(&payload);
        self.current()
            .send_result(record)
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
    pub async fn acknowledged(
        &self,
        event_id: Uuid,
        fut: DeliveryFuture,
    ) -> Result<Ack, IngestError> {
        let fail = |message: String| IngestError::NotAcknowledged {
            topic: self.topic.clone(),
            message,
        };
        match fut.await {
            Ok(Ok(d)) => Ok(Ack {
                event_id,
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => {
                self.heal();
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
        let producer = self.current();
        let md = producer
            .client()
            .fetch_metadata(Some(&self.topic), self.request_timeout)
            .map_err(|e| IngestError::BrokerUnavailable {
                bootstrap: self.bootstrap.clone(),
                message: self.memo.explain(e.to_string()),
            })?;
        match md.topics().iter().find(|t| t.name() == self.topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().len())
            }
            _ => Err(IngestError::TopicMissing {
                topic: self.topic.clone(),
            }),
        }
    }

    /// Waits up to `timeout` for queued events to be delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), IngestError> {
        self.current()
            .flush(timeout)
            .map_err(|e| IngestError::NotAcknowledged {
                topic: self.topic.clone(),
                message: e.to_string(),
            })
    }
}
