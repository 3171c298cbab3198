//! Reading seals partitions and folding them with the canonical-chain rule.
//!
//! **Finding the last durable seal without scanning all history.** After a
//! sealer reads its own seal back as canonical, it commits the seals-partition
//! offset just past that seal in a separate consumer group,
//! `<group_id>.anchors`, that nobody subscribes to. On assignment the new
//! owner reads that committed *anchor*, reads the one seal before it (which is
//! canonical, because only seals read back as canonical are ever anchored),
//! and folds forward from there to the end of the seals partition. The work
//! is bounded by the seals written since the last anchor, not by history.
//! With no anchor the fold starts at the beginning of the seals partition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use auditlog_config::KafkaConfig;
use chain::ChainError;
use chain::canonical::{Rejection, Tip, apply};
use chain::seal::{KeyId, Seal};
use ed25519_dalek::VerifyingKey;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::SealerError;

/// The public keys whose seals count.
#[derive(Debug, Clone, Default)]
pub struct KeySet(BTreeMap<KeyId, VerifyingKey>);

impl KeySet {
    /// A key set from public keys.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeySet(keys.into_iter().map(|k| (KeyId::of(&k), k)).collect())
    }

    /// Looks a key up by id.
    pub fn get(&self, id: &KeyId) -> Option<VerifyingKey> {
        self.0.get(id).copied()
    }
}

/// One record of a seals partition: its offset and its decoded seal.
pub type SealRecord = (i64, Result<Seal, ChainError>);

/// The result of folding a stretch of a seals partition.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The canonical tip after the stretch.
    pub tip: Tip,
    /// Accepted seals with their seals-partition offsets.
    pub accepted: Vec<(i64, Seal)>,
    /// Rejected records with their offsets and reasons.
    pub rejected: Vec<(i64, String)>,
}

/// Applies the canonical rule to `records` in log order, starting at `tip`.
pub fn fold(
    mut tip: Tip,
    topic: &str,
    partition: i32,
    records: impl IntoIterator<Item = (i64, Result<Seal, ChainError>)>,
    keys: &KeySet,
) -> Fold {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (offset, seal) in records {
        match seal {
            Err(e) => rejected.push((offset, format!("undecodable: {e}"))),
            Ok(seal) => match apply(&mut tip, topic, partition, &seal, |id| keys.get(id)) {
                Ok(()) => accepted.push((offset, seal)),
                Err(r) => {
                    crate::telemetry::rejected(rejection_name(&r));
                    rejected.push((offset, format!("{r:?}")));
                }
            },
        }
    }
    Fold {
        tip,
        accepted,
        rejected,
    }
}

/// A stable name for a rejection, for metrics.
pub fn rejection_name(r: &Rejection) -> &'static str {
    match r {
        Rejection::Superseded => "superseded",
        Rejection::DoesNotExtend => "does_not_extend",
        Rejection::Malformed => "malformed",
        Rejection::WrongPartition => "wrong_partition",
        Rejection::UnknownKey(_) => "unknown_key",
        Rejection::BadSignature => "bad_signature",
    }
}

/// Reads seals partitions and keeps anchors.
pub struct SealsLog {
    /// Reads seals partitions by assignment (it never subscribes) and commits
    /// anchors in `<group>.anchors`.
    reader: BaseConsumer<auditlog_kafka::quiet::Quiet>,
    timeout: Duration,
}

impl std::fmt::Debug for SealsLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealsLog")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn consumer(
    cfg: &KafkaConfig,
    group: &str,
) -> Result<BaseConsumer<auditlog_kafka::quiet::Quiet>, SealerError> {
    // A reader: read-backs wait on its short fetch wait; the seals
    // partition is tiny.
    let reader: BaseConsumer<auditlog_kafka::quiet::Quiet> =
        auditlog_kafka::client::client_config(auditlog_kafka::client::reader(cfg, group))
            .create_with_context(auditlog_kafka::quiet::Quiet::default())?;
    auditlog_kafka::rebootstrap::attach(reader.client(), &cfg.bootstrap_servers);
    Ok(reader)
}

impl SealsLog {
    /// Connects a reader and the anchor store of `group`.
    pub fn new(cfg: &KafkaConfig, group: &str) -> Result<Self, SealerError> {
        Ok(Self {
            reader: consumer(cfg, &format!("{group}.anchors"))?,
            timeout: cfg.request_timeout.max(Duration::from_secs(10)),
        })
    }

    /// (log start, high watermark) of a seals partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), SealerError> {
        Ok(self
            .reader
            .fetch_watermarks(topic, partition, self.timeout)?)
    }

    /// The anchor of a seals partition: the offset just past the last seal
    /// read back as canonical, if any was committed.
    pub fn anchor(&self, topic: &str, partition: i32) -> Result<Option<i64>, SealerError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let committed = self.reader.committed_offsets(tpl, self.timeout)?;
        Ok(committed
            .find_partition(topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) if o > 0 => Some(o),
                _ => None,
            }))
    }

    /// Records a new anchor (asynchronously: losing one only lengthens the
    /// next resume's fold).
    pub fn commit_anchor(&self, topic: &str, partition: i32, next: i64) -> Result<(), SealerError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(next))?;
        Ok(self.reader.commit(&tpl, CommitMode::Async)?)
    }

    /// Decodes every record of `[from, to)` of a seals partition, in order.
    pub fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<SealRecord>, SealerError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
        self.reader.assign(&tpl)?;
        let deadline = Instant::now() + self.timeout * 3;
        let mut next = from;
        while next < to {
            if Instant::now() > deadline {
                return Err(SealerError::SealsInconsistent {
                    topic: topic.to_owned(),
                    partition,
                    message: format!("timed out reading offsets {from}..{to}; stuck at {next}"),
                });
            }
            match self.reader.poll(Duration::from_millis(20)) {
                None => {}
                Some(Err(e)) => tracing::warn!(topic, partition, error = %e, "reading seals"),
                Some(Ok(m)) => {
                    if m.offset() < next {
                        continue;
                    }
                    next = m.offset() + 1;
                    if m.offset() < to {
                        out.push((m.offset(), Seal::from_json(m.payload().unwrap_or_default())));
                    }
                }
            }
        }
        self.reader.unassign()?;
        Ok(out)
    }
}
