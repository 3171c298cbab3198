//! Resuming a partition: finding its canonical tip in the seals log, and
//! making a partition that cannot resume visible (a gauge, and a log line
//! that says what to do, at most every 30 s) instead of looking healthy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chain::canonical::Tip;
use rdkafka::Offset;
use rdkafka::consumer::Consumer;

use super::Sealer;
use crate::SealerError;
use crate::cutter::PartitionSealer;
use crate::seals_log::fold;
use crate::telemetry;

/// How often a partition that keeps failing to resume is reported again.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// A partition's failed resumes since the last success.
#[derive(Debug, Default)]
pub(crate) struct Resuming {
    failures: u32,
    since: Option<Instant>,
    reported: Option<Instant>,
}

impl Resuming {
    /// Records a failure; `Some((attempts, stuck for))` when it is to be
    /// reported: the first failure, then every [`REPORT_EVERY`].
    pub(crate) fn failed(&mut self, now: Instant) -> Option<(u32, Duration)> {
        self.failures = self.failures.saturating_add(1);
        let since = *self.since.get_or_insert(now);
        let due = self
            .reported
            .is_none_or(|at| now.duration_since(at) >= REPORT_EVERY);
        if !due {
            return None;
        }
        self.reported = Some(now);
        Some((self.failures, now.duration_since(since)))
    }

    /// Records a success; `Some((attempts, stuck for))` if it had failed.
    pub(crate) fn succeeded(&mut self, now: Instant) -> Option<(u32, Duration)> {
        let was = self
            .since
            .map(|since| (self.failures, now.duration_since(since)));
        *self = Self::default();
        was
    }

    /// Whether the last attempt failed.
    pub(crate) fn is_failing(&self) -> bool {
        self.since.is_some()
    }
}

/// What an operator should do about a resume failure.
pub(crate) fn hint(e: &SealerError) -> &'static str {
    match e {
        SealerError::UntrustedKey { .. } => {
            "list the public key file of the key that signed it in sealer.trusted_keys and restart; after a key rotation the old key's .pub stays there (docs/OPERATIONS.md, \"Key rotation\")"
        }
        SealerError::SealsInconsistent { .. } => {
            "the seals partition does not extend this chain: check that sealer.seals_topic_suffix and the topics are this deployment's, and run auditlog verify"
        }
        _ => "check that the brokers are reachable; this is retried and usually heals",
    }
}

impl Sealer {
    pub(super) fn try_resume(&mut self, topic: &str, partition: i32) {
        let now = Instant::now();
        match self.resume(topic, partition) {
            Ok(()) => {
                if let Some(o) = self.get_mut(topic, partition) {
                    if let Some((attempts, stuck_for)) = o.resuming.succeeded(now) {
                        tracing::info!(
                            topic,
                            partition,
                            attempts,
                            stuck_seconds = stuck_for.as_secs(),
                            "partition resumed after failed attempts"
                        );
                    }
                }
            }
            Err(e @ SealerError::RetentionOutran { .. }) => {
                telemetry::retention_outran();
                tracing::error!(topic, partition, error = %e, "partition stopped: retention outran the sealer; it will not be re-genesised");
                if let Some(o) = self.get_mut(topic, partition) {
                    o.stopped = true;
                }
            }
            Err(e) => {
                let Some(o) = self.get_mut(topic, partition) else {
                    return;
                };
                o.retry_at = now + Duration::from_secs(1);
                if let Some((attempts, stuck_for)) = o.resuming.failed(now) {
                    tracing::warn!(topic, partition, error = %e, attempts,
                        stuck_seconds = stuck_for.as_secs(), action = hint(&e),
                        "cannot resume the partition; nothing of it is sealed until it does (retrying every second, this line every 30 s)");
                }
            }
        }
    }

    /// Sets the stuck gauge: owned partitions that are not being sealed.
    pub(super) fn report_stuck(&self) {
        let stuck = self
            .owned
            .values()
            .flat_map(HashMap::values)
            .filter(|o| o.stopped || o.resuming.is_failing())
            .count();
        telemetry::stuck(stuck);
    }

    /// Finds the canonical tip of a partition and positions the consumer.
    fn resume(&mut self, topic: &str, partition: i32) -> Result<(), SealerError> {
        let seals_topic = format!("{topic}{}", self.s.seals_suffix);
        let (s_low, s_high) = self.seals.watermarks(&seals_topic, partition)?;
        let anchor = self
            .seals
            .anchor(&seals_topic, partition)?
            .filter(|a| *a > s_low && *a <= s_high);
        let (start_tip, from) = match anchor {
            Some(a) => {
                let recs = self.seals.read(&seals_topic, partition, a - 1, a)?;
                match recs.into_iter().next() {
                    Some((_, Ok(seal))) if seal.topic == topic && seal.partition == partition => {
                        let key = self.s.keys.get(&seal.key_id).ok_or_else(|| {
                            SealerError::UntrustedKey {
                                topic: seals_topic.clone(),
                                partition,
                                offset: a - 1,
                                key_id: seal.key_id.to_string(),
                            }
                        })?;
                        seal.verify(&key)
                            .map_err(|e| SealerError::SealsInconsistent {
                                topic: seals_topic.clone(),
                                partition,
                                message: format!("anchored seal at offset {}: {e}", a - 1),
                            })?;
                        (Tip::after(&seal), a)
                    }
                    _ => {
                        return Err(SealerError::SealsInconsistent {
                            topic: seals_topic,
                            partition,
                            message: format!(
                                "anchor points past offset {} which is not a seal of this partition",
                                a - 1
                            ),
                        });
                    }
                }
            }
            None => (Tip::genesis(topic, partition), s_low),
        };
        let records = self.seals.read(&seals_topic, partition, from, s_high)?;
        let had_records = !records.is_empty();
        let f = fold(start_tip, topic, partition, records, &self.s.keys);
        if anchor.is_none() && had_records && f.accepted.is_empty() {
            return Err(SealerError::SealsInconsistent {
                topic: seals_topic,
                partition,
                message: format!(
                    "{} records but none extends genesis ({} rejected)",
                    s_high - s_low,
                    f.rejected.len()
                ),
            });
        }
        let mut tip = f.tip;
        // Through the seals reader's connection: on the events consumer's
        // connection this request queues behind a long-polling fetch.
        let (e_low, e_high) = self.seals.watermarks(topic, partition)?;
        let next = tip.next_offset.unwrap_or(e_low);
        if next < e_low {
            return Err(SealerError::RetentionOutran {
                topic: topic.to_owned(),
                partition,
                next_offset: next,
                log_start: e_low,
            });
        }
        tip.next_offset = Some(next);
        tracing::info!(
            topic,
            partition,
            seq = tip.next_seq,
            next_offset = next,
            high_watermark = e_high,
            seals_folded = s_high - from,
            "resumed"
        );
        self.consumer
            .seek(topic, partition, Offset::Offset(next), self.timeout)?;
        let now = Instant::now();
        if let Some(o) = self.get_mut(topic, partition) {
            o.sealer = Some(PartitionSealer::new(topic, partition, tip, now));
            o.seals_pos = s_high;
            o.last_canonical = now;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_partition_is_reported_at_once_then_every_30_s_and_on_recovery() {
        let t0 = Instant::now();
        let mut r = Resuming::default();
        assert!(!r.is_failing());
        assert_eq!(r.failed(t0), Some((1, Duration::ZERO)));
        assert!(r.is_failing());
        for s in 1..30 {
            assert_eq!(r.failed(t0 + Duration::from_secs(s)), None, "second {s}");
        }
        assert_eq!(
            r.failed(t0 + Duration::from_secs(30)),
            Some((31, Duration::from_secs(30)))
        );
        assert_eq!(
            r.succeeded(t0 + Duration::from_secs(31)),
            Some((31, Duration::from_secs(31)))
        );
        assert!(!r.is_failing());
        assert_eq!(r.succeeded(t0 + Duration::from_secs(32)), None);
    }

    #[test]
    fn an_untrusted_key_points_at_trusted_keys() {
        let e = SealerError::UntrustedKey {
            topic: "t.seals".into(),
            partition: 0,
            offset: 7,
            key_id: "k".into(),
        };
        assert!(hint(&e).contains("sealer.trusted_keys"));
        assert!(e.to_string().contains("signed by key k"), "{e}");
    }
}
