//! The consumer context of the sealer: what the rebalance and statistics
//! callbacks hand to the loop. The callbacks only push into mutexes and
//! return; they never do IO.

use auditlog_kafka::rebootstrap::{HasRebootstrap, Rebootstrap};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

pub(crate) enum Change {
    /// Partitions newly assigned.
    Assigned(Vec<(String, i32)>),
    /// Partitions revoked or lost.
    Revoked(Vec<(String, i32)>),
}

/// Records rebalance changes and watermarks for the loop; never blocks on IO.
#[derive(Default)]
pub(crate) struct Ctx {
    /// Set when `changes` is not empty, so the loop need not lock per record.
    changed: AtomicBool,
    changes: Mutex<Vec<Change>>,
    /// (topic, partition) → high watermark, from librdkafka statistics
    /// (refreshed every second without extra requests).
    high_watermarks: Mutex<HashMap<(String, i32), i64>>,
    rebootstrap: Rebootstrap,
}

impl HasRebootstrap for Ctx {
    fn rebootstrap(&self) -> &Rebootstrap {
        &self.rebootstrap
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl Ctx {
    fn push(&self, c: Change) {
        match self.changes.lock() {
            Ok(mut v) => v.push(c),
            Err(poisoned) => poisoned.into_inner().push(c),
        }
        self.changed.store(true, Ordering::Release);
    }

    pub(crate) fn take(&self) -> Vec<Change> {
        if !self.changed.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        match self.changes.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Ctx {
    pub(crate) fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let map = match self.high_watermarks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(&(topic.to_owned(), partition))
            .copied()
            .filter(|h| *h >= 0)
    }
}

impl ClientContext for Ctx {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        auditlog_kafka::quiet::client_log(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        auditlog_kafka::quiet::client_error(&error, reason);
        self.rebootstrap.on_error(&error);
    }

    fn stats(&self, stats: rdkafka::Statistics) {
        let mut map = match self.high_watermarks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (name, t) in stats.topics {
            for (p, s) in t.partitions {
                if p >= 0 && s.hi_offset >= 0 {
                    map.insert((name.clone(), p), s.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            self.push(Change::Revoked(partitions(tpl)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = r {
            self.push(Change::Assigned(partitions(tpl)));
        }
    }

    /// Asynchronous commits report here; a failed one is logged (the next
    /// commit covers it, and a lost one only means records are re-read).
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Some(failure) = auditlog_kafka::commit::commit_failure(&result, offsets) {
            tracing::warn!(%failure, "offset commit failed");
        }
    }
}
