//! Reading exact ranges of a partition: the archiver assigns its reader
//! client to precisely the offsets a seal covers, reads them in order, and
//! unassigns. Streaming consecutive ranges from one assignment per partition
//! was measured slower on the test broker (ARCHITECTURE.md), so each range is
//! its own assignment.

use std::time::{Duration, Instant};

use chain::Seal;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::archive::KafkaRecord;

use crate::ArchiverError;

pub(crate) fn kafka_err(e: rdkafka::error::KafkaError) -> ArchiverError {
    ArchiverError::Kafka(e.to_string())
}

/// A consumer that is never subscribed, only assigned.
pub(crate) struct Reader {
    pub(crate) consumer: BaseConsumer,
    pub(crate) timeout: Duration,
}

impl Reader {
    /// Reads `[from, to]` of a partition, in order.
    pub(crate) fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<KafkaRecord>, ArchiverError> {
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(from))
            .map_err(kafka_err)?;
        self.consumer.assign(&tpl).map_err(kafka_err)?;
        let deadline = Instant::now() + self.timeout * 6;
        let mut next = from;
        while next <= to {
            if Instant::now() > deadline {
                return Err(ArchiverError::Kafka(format!(
                    "timed out reading {topic}/{partition} {from}..={to} at {next}"
                )));
            }
            match self.consumer.poll(Duration::from_millis(50)) {
                None => {}
                Some(Err(e)) => tracing::warn!(topic, partition, error = %e, "reading"),
                Some(Ok(m)) if m.offset() < next => {}
                Some(Ok(m)) => {
                    next = m.offset() + 1;
                    if m.offset() <= to {
                        let headers = m
                            .headers()
                            .map(|h| {
                                h.iter()
                                    .map(|x| (x.key.to_owned(), x.value.map(<[u8]>::to_vec)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.push(KafkaRecord {
                            topic: topic.to_owned(),
                            partition,
                            offset: m.offset(),
                            timestamp_ms: m.timestamp().to_millis(),
                            key: m.key().map(<[u8]>::to_vec),
                            value: m.payload().map(<[u8]>::to_vec),
                            headers,
                        });
                    }
                }
            }
        }
        self.consumer.unassign().map_err(kafka_err)?;
        Ok(out)
    }

    pub(crate) fn seals_in(
        &self,
        seals_topic: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<Option<Seal>>, ArchiverError> {
        Ok(self
            .read(seals_topic, partition, from, to)?
            .into_iter()
            .map(|r| r.value.and_then(|v| Seal::from_json(&v).ok()))
            .collect())
    }

    /// The partition's low and high watermarks.
    pub(crate) fn watermarks(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), ArchiverError> {
        self.consumer
            .fetch_watermarks(topic, partition, self.timeout)
            .map_err(kafka_err)
    }
}
