//! The archiver's consumer context: revocations recorded for the loop,
//! ownership for the metric, and failed asynchronous commits logged.

use auditlog_kafka::rebootstrap::{HasRebootstrap, Rebootstrap};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::telemetry;

/// Records revocations so the loop drops a partition's state before it can
/// act on a stale tip; never blocks.
#[derive(Default)]
pub(super) struct Ctx {
    pub(super) revoked: std::sync::Mutex<Vec<(String, i32)>>,
    rebootstrap: Rebootstrap,
}

impl HasRebootstrap for Ctx {
    fn rebootstrap(&self) -> &Rebootstrap {
        &self.rebootstrap
    }
}

impl rdkafka::ClientContext for Ctx {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        auditlog_kafka::quiet::client_log(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        auditlog_kafka::quiet::client_error(&error, reason);
        self.rebootstrap.on_error(&error);
    }
}

impl rdkafka::consumer::ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &rdkafka::consumer::Rebalance<'_>) {
        if let rdkafka::consumer::Rebalance::Revoke(tpl) = r {
            let mut v = match self.revoked.lock() {
                Ok(v) => v,
                Err(poisoned) => poisoned.into_inner(),
            };
            v.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition())),
            );
        }
    }

    /// After every assignment change: how many seals partitions this member
    /// now owns (operators watch it settle when scaling, docs/OPERATIONS.md).
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _: &rdkafka::consumer::Rebalance<'_>) {
        if let Ok(tpl) = consumer.assignment() {
            telemetry::partitions_owned(tpl.count());
        }
    }

    /// Asynchronous commits report here: a failed one is only logged (
    /// was committed is durable already; a lost commit means a range is
    /// redone and adopted after a restart or rebalance).
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &rdkafka::TopicPartitionList,
    ) {
        if let Some(failure) = auditlog_kafka::commit::commit_failure(&result, offsets) {
            tracing::warn!(%failure, "offset commit failed; ranges after the last committed offset will be redone and adopted");
        }
    }
}
