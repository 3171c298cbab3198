//! Writing checkpoints (`docs/FORMAT.md` §7a): every interval, one archiver
//! (the member holding seals partition 0 of the first topic) lists the newest
//! manifest of every partition in the bucket and writes a signed checkpoint
//! chained to the previous one — when a partition moved since it, or when
//! the last is older than the idle bound (a liveness heartbeat). An
//! unchanged checkpoint would say nothing new and still be locked for the
//! longest retention.
//!
//! The listing is incremental: each partition's listing starts after the
//! manifest key the last checkpoint recorded, so a checkpoint costs one LIST
//! per topic, one per partition and one GET per partition that moved. Two
//! writers at once (a rebalance) race for the same create-only key; the
//! loser's PUT is refused, it re-reads and builds on the winner next time.

use std::collections::BTreeMap;
use std::time::Duration;

use chain::checkpoint::{Checkpoint, Entry};
use chain::manifest::Manifest;
use ed25519_dalek::SigningKey;

use crate::ArchiverError;
use archive::layout::{KeyKind, checkpoint_key, parse_key};
use archive::store::{Put, Store};
use archive::{StoreError, retain_until_secs};

/// Builds and writes checkpoints; remembers the last one.
pub struct Checkpointer {
    prefix: String,
    topics: Vec<String>,
    retention: Duration,
    key: SigningKey,
    idle: Option<Duration>,
    last: Option<Checkpoint>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("prefix", &self.prefix)
            .field("last", &self.last.as_ref().map(|c| c.seq))
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Checkpoints of `topics` under `prefix`, signed with `key`, locked for
    /// `retention` (the longest of any topic's).
    pub fn new(prefix: &str, topics: &[String], retention: Duration, key: SigningKey) -> Self {
        Self {
            prefix: prefix.to_owned(),
            topics: topics.to_vec(),
            retention,
            key,
            idle: None,
            last: None,
        }
    }

    /// With no partition moved, write a checkpoint only when the last is
    /// `idle` old (`None`: never).
    pub fn idle_for(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    fn decode_err(&self, store: &Store, key: &str, e: impl std::fmt::Display) -> ArchiverError {
        StoreError::S3 {
            bucket: store.bucket().to_owned(),
            key: key.to_owned(),
            message: format!("not a checkpoint: {e}"),
        }
        .into()
    }

    /// Catches up with checkpoints written since the last one known (by any
    /// member).
    async fn load_latest(&mut self, store: &Store) -> Result<(), ArchiverError> {
        let dir = format!("{}checkpoints/", self.prefix);
        let after = self
            .last
            .as_ref()
            .map(|c| checkpoint_key(&self.prefix, c.seq));
        let newest = store
            .list_keys(&dir, after.as_deref())
            .await?
            .into_iter()
            .rfind(|k| matches!(parse_key(&self.prefix, k), KeyKind::Checkpoint { .. }));
        let Some(key) = newest else { return Ok(()) };
        let bytes = store
            .get(&key)
            .await?
            .ok_or_else(|| self.decode_err(store, &key, "listed, then gone"))?;
        let c = Checkpoint::from_json(&bytes).map_err(|e| self.decode_err(store, &key, e))?;
        self.last = Some(c);
        Ok(())
    }

    /// The newest manifest of every partition that has moved since the last
    /// checkpoint.
    async fn latest_manifests(
        &self,
        store: &Store,
    ) -> Result<BTreeMap<(String, i32), Entry>, ArchiverError> {
        let mut out = BTreeMap::new();
        for topic in &self.topics {
            let dir = format!("{}manifests/topic={topic}/", self.prefix);
            for part_dir in store.list_dirs(&dir).await? {
                let Some(partition) = part_dir
                    .strip_prefix(&dir)
                    .and_then(|p| p.strip_prefix("partition="))
                    .and_then(|p| p.trim_end_matches('/').parse::<i32>().ok())
                else {
                    continue;
                };
                let recorded = self
                    .last
                    .as_ref()
                    .and_then(|c| c.partitions.get(&(topic.clone(), partition)))
                    .map(|e| format!("{}{}", self.prefix, e.key));
                let keys = store.list_keys(&part_dir, recorded.as_deref()).await?;
                let Some(key) = keys
                    .into_iter()
                    .rfind(|k| matches!(parse_key(&self.prefix, k), KeyKind::Manifest { .. }))
                else {
                    continue;
                };
                let Some(bytes) = store.get(&key).await? else {
                    continue;
                };
                match Manifest::from_json(&bytes) {
                    Ok(m) => {
                        out.insert(
                            (topic.clone(), partition),
                            Entry {
                                seq: m.seq,
                                digest: m.digest(),
                                last_offset: m.seals.last_offset(),
                                key: key.strip_prefix(&self.prefix).unwrap_or(&key).to_owned(),
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(key, %error, "newest manifest does not decode; checkpoint keeps the partition's previous entry");
                    }
                }
            }
        }
        Ok(out)
    }

    /// Writes the next checkpoint and returns it, or `None` when nothing
    /// moved and the last is younger than the idle bound ([`due`]). A
    /// refused PUT (another member wrote that seq first) is
    /// [`StoreError::Conflict`]; the next call builds on the winner.
    pub async fn write(
        &mut self,
        store: &Store,
        now_ms: i64,
    ) -> Result<Option<Checkpoint>, ArchiverError> {
        self.load_latest(store).await?;
        let latest = self.latest_manifests(store).await?;
        if !due(self.last.as_ref(), latest.is_empty(), self.idle, now_ms) {
            return Ok(None);
        }
        let mut c = Checkpoint::next(self.last.as_ref(), latest, now_ms);
        c.sign(&self.key);
        let key = checkpoint_key(&self.prefix, c.seq);
        let put = store
            .put_locked_json(&key, c.to_json(), retain_until_secs(now_ms, self.retention))
            .await?;
        if let Put::Created { version_id } = &put {
            tracing::info!(
                key,
                version_id,
                seq = c.seq,
                partitions = c.partitions.len(),
                "checkpoint written"
            );
        }
        self.last = Some(c.clone());
        Ok(Some(c))
    }
}

/// The cadence rule: a checkpoint is due when a partition moved since the
/// last one, or (nothing moved) when there is a last one at least `idle`
/// old. With no manifest at all there is nothing to record.
pub fn due(
    last: Option<&Checkpoint>,
    unchanged: bool,
    idle: Option<Duration>,
    now_ms: i64,
) -> bool {
    if !unchanged {
        return true;
    }
    match (last, idle) {
        (Some(c), Some(idle)) => {
            let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(c.written_at_ms) >= idle_ms
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_written_when_a_partition_moved_or_the_last_is_idle_long() {
        let c = Checkpoint::next(None, BTreeMap::new(), 1_000);
        let day = Some(Duration::from_secs(86_400));
        assert!(due(None, false, day, 0), "the first with manifests");
        assert!(!due(None, true, day, 0), "no manifest: nothing to record");
        assert!(due(Some(&c), false, day, 2_000), "a partition moved");
        assert!(
            !due(Some(&c), true, day, 2_000),
            "nothing new an instant later"
        );
        assert!(
            due(Some(&c), true, day, 1_000 + 86_400_000),
            "a day later: liveness"
        );
        assert!(!due(Some(&c), true, None, i64::MAX), "heartbeats off");
    }
}
