//! Taking over a partition: where its chain, its ranges and its manifest
//! chain stand at the committed seals offset.

use chain::canonical::{Tip, apply};
use chain::manifest::{Manifest, Seals};
use chain::seal::{Seal, SealKind};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::{Archiver, Part};
use crate::ArchiverError;
use crate::group::Group;
use crate::reader::kafka_err;
use crate::upload::Job;
use archive::StoreError;
use archive::layout::{manifest_dir, manifest_key};

impl Archiver {
    /// Rebuilds a partition's tip and manifest chain from the seals before
    /// the committed offset.
    pub(super) fn resume(
        &mut self,
        seals_topic: &str,
        partition: i32,
    ) -> Result<Job, ArchiverError> {
        let events_topic = seals_topic
            .strip_suffix(self.s.seals_suffix.as_str())
            .unwrap_or(seals_topic)
            .to_owned();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(seals_topic, partition);
        let committed = self
            .consumer
            .committed_offsets(tpl, self.timeout)
            .map_err(kafka_err)?;
        let next = match committed
            .find_partition(seals_topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        let (low, _) = self.reader.watermarks(seals_topic, partition)?;
        let mut tip = Tip::genesis(&events_topic, partition);
        // Replaying the grouping rule finds where the last run began, so its
        // manifest is one GET away.
        let mut group = Group::default();
        let mut last_run: Option<Seals> = None;
        let mut last_data: Option<Seal> = None;
        // Records of the accepted data seals: the chain's length, so the
        // size of the partition's transparency log, at the committed offset.
        let mut logged: u64 = 0;
        for seal in self
            .reader
            .seals_in(seals_topic, partition, low, next - 1)?
            .into_iter()
            .flatten()
        {
            if apply(&mut tip, &events_topic, partition, &seal, |id| self.key(id)).is_ok() {
                let o = group.offer(&self.s.group, &seal);
                last_run = o.with.or(o.before).or(last_run);
                if seal.kind == SealKind::Data {
                    logged += seal.count;
                    last_data = Some(seal);
                }
            }
        }
        let last_manifest = match last_data {
            None => None,
            Some(last) => {
                // The replayed run is only a guess when the targets changed.
                let guess = last_run
                    .filter(|r| *r.last() == last)
                    .map(|r| r.first_offset());
                Some(self.last_manifest(&events_topic, partition, guess, &last)?)
            }
        };
        tracing::info!(topic = %events_topic, partition, seals_offset = next, seq = tip.next_seq, "archiver resumed");
        self.consumer
            .seek(seals_topic, partition, Offset::Offset(next), self.timeout)
            .map_err(kafka_err)?;
        self.parts.insert(
            (seals_topic.to_owned(), partition),
            Part {
                events_topic: events_topic.clone(),
                tip,
                group: Group::default(),
                next,
            },
        );
        Ok(Job::Resume {
            at: (events_topic, partition),
            last_manifest,
            logged,
        })
    }

    /// Digest and seq of the manifest of the run that ends with `last`: at
    /// the key of `guess` (the first offset of the replayed run), or, when
    /// the runs were cut by other targets before a restart, the newest
    /// manifest key at or before `last`'s first offset (one listing of the
    /// partition's manifests).
    fn last_manifest(
        &self,
        topic: &str,
        partition: i32,
        guess: Option<i64>,
        last: &Seal,
    ) -> Result<(chain::link::Hash, u64), ArchiverError> {
        let read = |key: &str| -> Result<Option<Manifest>, ArchiverError> {
            let Some(bytes) = self.rt.block_on(self.store.get(key))? else {
                return Ok(None);
            };
            Manifest::from_json(&bytes).map(Some).map_err(|e| {
                StoreError::S3 {
                    bucket: self.store.bucket().to_owned(),
                    key: key.to_owned(),
                    message: e.to_string(),
                }
                .into()
            })
        };
        let ends_run = |m: &Manifest| m.seals.last() == last;
        if let Some(first) = guess {
            let key = manifest_key(&self.s.prefix, topic, partition, first);
            if let Some(m) = read(&key)?.filter(ends_run) {
                return Ok((m.digest(), m.seq));
            }
        }
        let dir = manifest_dir(&self.s.prefix, topic, partition);
        let bound = manifest_key(&self.s.prefix, topic, partition, last.first_offset);
        let keys = self.rt.block_on(self.store.list_keys(&dir, None))?;
        if let Some(k) = keys.iter().rfind(|k| k.as_str() <= bound.as_str()) {
            if let Some(m) = read(k)?.filter(ends_run) {
                tracing::info!(topic, partition, key = %k, "last manifest found by listing (runs were cut by other targets)");
                return Ok((m.digest(), m.seq));
            }
        }
        Err(StoreError::S3 {
            bucket: self.store.bucket().to_owned(),
            key: bound,
            message: "no manifest at or before this key ends with the last archived seal".into(),
        }
        .into())
    }
}
