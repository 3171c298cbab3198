//! The seal producer: publishes one seal at a time and waits for its
//! delivery report, rebuilding itself when librdkafka would otherwise carry
//! on with a producer the broker may not accept.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// An idempotent, acks=all producer of seal records.
///
/// It is replaced after a delivery timed out or librdkafka declared it dead.
/// After a timeout librdkafka bumps the idempotent producer's epoch locally
/// (KIP-360) and retries with it; Apache Kafka accepts that, but a broker
/// that keeps no state for an epoch it never issued refuses it (Tansu 0.6's
/// storage panics and stays broken until restarted). A fresh producer asks
/// the broker for a new producer id, which every broker supports. Only one
/// seal is ever in flight (the caller waits for its report), so dropping the
/// old producer loses nothing.
pub(crate) struct SealProducer {
    producer: FutureProducer,
    props: BTreeMap<String, String>,
    /// How many times it was rebuilt.
    generation: u64,
}

fn create(props: &BTreeMap<String, String>) -> Result<FutureProducer, KafkaError> {
    let mut cc = ClientConfig::new();
    for (k, v) in props {
        cc.set(k, v);
    }
    cc.create()
}

impl SealProducer {
    pub(crate) fn new(props: BTreeMap<String, String>) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: create(&props)?,
            props,
            generation: 0,
        })
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
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload);
        let delivery = self
            .producer
            .send_result(record)
            .map_err(|(e, _)| e.to_string())?;
        match futures::executor::block_on(delivery) {
            Ok(Ok(d)) => Ok(d.offset),
            Ok(Err((e, _))) => {
                self.heal(&e);
                Err(e.to_string())
            }
            Err(_) => Err("delivery report dropped".into()),
        }
    }

    /// Rebuilds the producer if `error` calls for it (see the type's docs).
    fn heal(&mut self, error: &KafkaError) {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::error!(?code, %reason, generation = self.generation, "seal producer hit a fatal error; rebuilding it");
        } else if *error == KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut) {
            tracing::warn!(
                generation = self.generation,
                "a seal's delivery timed out; starting a fresh producer rather than a locally bumped epoch"
            );
        } else {
            return;
        }
        match create(&self.props) {
            Ok(fresh) => {
                self.producer = fresh;
                self.generation += 1;
            }
            Err(error) => {
                tracing::error!(%error, "rebuilding the seal producer failed; keeping the old one");
            }
        }
    }
}
