//! Findings: every way an archive can fail verification, by name.
//!
//! The names are the contract with users and with the independent verifier
//! (`docs/FORMAT.md` §8); they never change meaning.

use serde::{Deserialize, Serialize};

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A manifest does not decode, or holds a heartbeat seal.
    ManifestMalformed,
    /// A manifest's key does not match its seal's topic, partition or first offset.
    ManifestMisplaced,
    /// Manifests are missing between two present ones (counted by `seq`), or
    /// before the first present one.
    ManifestMissing,
    /// `seq` or `prev_manifest` does not link a manifest to its predecessor.
    ManifestChainBroken,
    /// A key has more than one version, or a delete marker.
    ExtraVersion,
    /// A manifest or seal is signed by a key not in the registry (or not in
    /// the role that may sign it).
    UnknownKey,
    /// A manifest or seal is signed by a registered key outside its validity window.
    KeyOutsideWindow,
    /// A signature does not verify.
    BadSignature,
    /// A seal's `prev_head` is not its predecessor's `head` (or genesis).
    SealChainBroken,
    /// Two different seals claim to succeed the same head: versions of one
    /// manifest key, or two manifests, with different seals of one `seq`.
    Fork,
    /// Offsets between two consecutive seals are covered by none.
    OffsetGap,
    /// Two consecutive seals cover the same offset.
    RangesOverlap,
    /// An object a manifest names is gone (no version, or a delete marker on top).
    ObjectMissing,
    /// The version readers get is not the version the manifest names.
    ObjectReplaced,
    /// An object's SHA-256 or size is not the manifest's.
    ChecksumMismatch,
    /// An object is not readable Parquet with the archive columns.
    ObjectUnreadable,
    /// Rows are present in the right order and number but do not hash to the seal.
    RecordAltered,
    /// An events row's derived columns (`tenant`, `event_time`, …) are not
    /// what its `kafka_value` gives, or it sits in another partition's object.
    DerivedMismatch,
    /// Fewer rows than the seal covers.
    RecordMissing,
    /// A row outside the seal's range, or a second row for one offset.
    RecordInjected,
    /// Rows not in increasing offset order.
    RecordsOutOfOrder,
    /// An object or manifest has no Object Lock retention.
    RetentionMissing,
    /// Retention mode is not COMPLIANCE.
    RetentionNotCompliance,
    /// Retain-until is earlier than the policy requires.
    RetentionTooShort,
    /// An object under the prefix that no manifest names.
    UnreferencedObject,
    /// Manifests the last clean run accepted (the `--state` file), or the
    /// newest checkpoint names, are gone from the end.
    TailTruncated,
    /// A manifest the last clean run accepted (or the newest checkpoint
    /// names) now has a different digest.
    HistoryRewritten,
    /// A checkpoint does not decode, or is not at the key of its `seq`.
    CheckpointMalformed,
    /// Checkpoints are missing, do not link by digest, or a partition goes
    /// backwards (or vanishes) from one checkpoint to the next.
    CheckpointChainBroken,
    /// A transparency-log checkpoint (§11.11) does not verify under the
    /// archiver's log key, names another log, or another size than its key.
    LogCheckpointBad,
    /// A log checkpoint's root is not the tree hash of the log's leaves.
    LogRootMismatch,
    /// A tile a log size needs is not stored.
    LogTileMissing,
    /// A stored tile is not what the log's leaves give.
    LogTileAltered,
    /// A range's records are not the log's leaves at its position: the log
    /// witnesses cosign and the archive disagree.
    LogLeafMismatch,
    /// The log and the archived ranges disagree on where ranges end, or the
    /// log lacks archived ranges (beyond the newest, not yet logged), or a
    /// partition the archiver logs has no log.
    LogSizeMismatch,
    /// A log's newest checkpoint does not carry the quorum of cosignatures
    /// by trusted witnesses (§11.12): nobody independent has seen this
    /// history, or it is not the one they saw.
    WitnessQuorumMissing,
    /// A cosigned checkpoint is not the log's own checkpoint of its size
    /// (other text, or no valid log signature).
    CheckpointInconsistent,
    /// A cosignature line under a trusted witness's name and key id does
    /// not verify.
    CosignatureInvalid,
}

impl FindingKind {
    /// The snake_case name.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One finding, with what it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// Its name.
    pub kind: FindingKind,
    /// The S3 key concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The topic.
    pub topic: String,
    /// The partition (−1 when the finding is not about one).
    pub partition: i32,
    /// The offsets concerned, inclusive, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsets: Option<(i64, i64)>,
    /// What exactly was seen.
    pub detail: String,
}

impl Finding {
    /// A finding about a partition.
    pub fn new(kind: FindingKind, topic: &str, partition: i32, detail: impl Into<String>) -> Self {
        Self {
            kind,
            key: None,
            topic: topic.to_owned(),
            partition,
            offsets: None,
            detail: detail.into(),
        }
    }

    /// Names the key concerned.
    pub fn at(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Where it is, for people: `topic/partition`, or `whole archive` for a
    /// finding about no one partition (an unreferenced object, a
    /// checkpoint); never `/-1`.
    pub fn place(&self) -> String {
        if self.partition < 0 {
            if self.topic.is_empty() {
                "whole archive".into()
            } else {
                self.topic.clone()
            }
        } else {
            format!("{}/{}", self.topic, self.partition)
        }
    }

    /// Names the offsets concerned.
    pub fn offsets(mut self, first: i64, last: i64) -> Self {
        self.offsets = Some((first, last));
        self
    }
}

/// The report's order: by topic, partition, offsets, name, key.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.topic, a.partition, a.offsets, a.kind, &a.key).cmp(&(
            &b.topic,
            b.partition,
            b.offsets,
            b.kind,
            &b.key,
        ))
    });
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<26} {}", self.kind.name(), self.place())?;
        if let Some((a, b)) = self.offsets {
            write!(f, " offsets {a}..={b}")?;
        }
        write!(f, ": {}", self.detail)?;
        if let Some(k) = &self.key {
            write!(f, " [{k}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_about_no_partition_names_its_key_not_minus_one() {
        let f = Finding::new(
            FindingKind::UnreferencedObject,
            "",
            -1,
            "no manifest names it",
        )
        .at("audit/stray.bin");
        let text = f.to_string();
        assert!(!text.contains("/-1"), "{text}");
        assert!(
            text.contains("whole archive: no manifest names it [audit/stray.bin]"),
            "{text}"
        );
        let p = Finding::new(FindingKind::RecordAltered, "t", 3, "x").offsets(5, 9);
        assert!(p.to_string().contains("t/3 offsets 5..=9: x"), "{p}");
    }
}
