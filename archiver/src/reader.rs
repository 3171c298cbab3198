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
    pub(crate) consumer: BaseConsumer<auditlog_kafka::quiet::Quiet>,
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
        let mut out = self.read_many(&[(topic.to_owned(), partition, from, to)])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Reads several ranges at once (one fetch serves every partition),
    /// each in order; ranges of one partition are read in one pass from the
    /// lowest offset. A partition whose ranges are complete is paused so it
    /// prefetches nothing more.
    pub(crate) fn read_many(
        &self,
        ranges: &[(String, i32, i64, i64)],
    ) -> Result<Vec<Vec<KafkaRecord>>, ArchiverError> {
        let mut out: Vec<Vec<KafkaRecord>> = ranges.iter().map(|_| Vec::new()).collect();
        // Few partitions per call, so a linear search beats hashing every
        // message's topic.
        let mut streams: Vec<Stream<'_>> = Vec::new();
        for (i, (topic, partition, from, to)) in ranges.iter().enumerate() {
            if from > to {
                continue;
            }
            match streams
                .iter_mut()
                .find(|s| s.partition == *partition && s.topic == topic)
            {
                Some(s) => {
                    s.next = s.next.min(*from);
                    s.end = s.end.max(*to);
                    s.ranges.push(i);
                }
                None => streams.push(Stream {
                    topic,
                    partition: *partition,
                    next: *from,
                    end: *to,
                    ranges: vec![i],
                    done: false,
                }),
            }
        }
        if streams.is_empty() {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        for s in &streams {
            tpl.add_partition_offset(s.topic, s.partition, Offset::Offset(s.next))
                .map_err(kafka_err)?;
        }
        self.consumer.assign(&tpl).map_err(kafka_err)?;
        // librdkafka keeps a partition's pause across unassign and assign:
        // the partitions this reader paused last time must fetch again.
        self.consumer.resume(&tpl).map_err(kafka_err)?;
        // Bounded by progress, not by size: a large range keeps reading as
        // long as records arrive.
        let patience = self.timeout * 6;
        let mut deadline = Instant::now() + patience;
        // The clock is read after an empty poll and every 256 polls, not per
        // record: progress since the last look moves the deadline on.
        let (mut polls, mut progressed) = (0u32, false);
        while streams.iter().any(|s| !s.done) {
            let m = self.consumer.poll(Duration::from_millis(50));
            polls = polls.wrapping_add(1);
            if m.is_none() || polls % 256 == 0 {
                let now = Instant::now();
                if std::mem::take(&mut progressed) {
                    deadline = now + patience;
                }
                if now > deadline {
                    let stuck: Vec<String> = streams
                        .iter()
                        .filter(|s| !s.done)
                        .map(|s| {
                            format!("{}/{} at {} of ..={}", s.topic, s.partition, s.next, s.end)
                        })
                        .collect();
                    return Err(ArchiverError::Kafka(format!(
                        "timed out reading {}",
                        stuck.join(", ")
                    )));
                }
            }
            let m = match m {
                None => continue,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading");
                    continue;
                }
                Some(Ok(m)) => m,
            };
            let Some(s) = streams
                .iter_mut()
                .find(|s| s.partition == m.partition() && s.topic == m.topic())
            else {
                continue;
            };
            let o = m.offset();
            if s.done || o < s.next {
                continue;
            }
            s.next = o + 1;
            progressed = true;
            if let Some(&i) = s
                .ranges
                .iter()
                .find(|&&i| ranges[i].2 <= o && o <= ranges[i].3)
            {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_owned(), x.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                out[i].push(KafkaRecord {
                    topic: s.topic.to_owned(),
                    partition: s.partition,
                    offset: o,
                    timestamp_ms: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            if s.next > s.end {
                s.done = true;
                let mut one = TopicPartitionList::new();
                one.add_partition(s.topic, s.partition);
                if let Err(error) = self.consumer.pause(&one) {
                    tracing::debug!(topic = s.topic, partition = s.partition, %error, "pausing a finished partition");
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

/// The ranges of one partition in a [`Reader::read_many`] call.
struct Stream<'a> {
    topic: &'a str,
    partition: i32,
    /// The next offset expected.
    next: i64,
    /// The last offset any of its ranges covers.
    end: i64,
    /// Indexes of its ranges.
    ranges: Vec<usize>,
    done: bool,
}

/// The key and value bytes of `records`: what the sealer's byte bound
/// counts, and what the archiver's memory plan counts in flight.
pub(crate) fn record_bytes(records: &[KafkaRecord]) -> u64 {
    records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, Vec::len) + r.key.as_ref().map_or(0, Vec::len))
        .sum::<usize>() as u64
}
