//! The report: findings plus per-partition counts, as text in the style of
//! CloudTrail's `validate-logs` or as JSON.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::incremental::Coverage;
use crate::selection::Selection;

/// Counts for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionStats {
    /// Manifests present.
    pub manifests: u64,
    /// Present manifests with a finding of their own.
    pub manifests_bad: u64,
    /// Manifests known to be missing (holes in `seq`).
    pub manifests_missing: u64,
    /// Objects the manifests name.
    pub objects: u64,
    /// Of those, objects checked by listing only: unchanged since a clean
    /// run (`--state`), so not read again.
    pub objects_listed: u64,
    /// Present objects with a finding.
    pub objects_bad: u64,
    /// Objects named but gone.
    pub objects_missing: u64,
    /// Rows read.
    pub records: u64,
    /// First offset covered.
    pub first_offset: Option<i64>,
    /// Last offset covered.
    pub last_offset: Option<i64>,
}

/// One archived range, for the coverage picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeStatus {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Manifest `seq`.
    pub seq: u64,
    /// First offset.
    pub first_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// When it was sealed, ms since the epoch.
    pub sealed_at_ms: i64,
    /// The manifest key.
    pub key: String,
    /// No finding names the manifest or any of its objects.
    pub ok: bool,
}

/// The checkpoints a run read (`docs/FORMAT.md` §7a).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointStatus {
    /// Whether the run read them (a run with a time window does not).
    pub read: bool,
    /// Checkpoints that decode.
    pub present: u64,
    /// The `seq` of the newest sound one (placed right, signature valid),
    /// whose partitions the archive was held to.
    pub newest_seq: Option<u64>,
    /// When it was written, ms since the epoch.
    pub newest_written_at_ms: Option<i64>,
    /// Its key.
    pub newest_key: Option<String>,
}

/// The transparency logs a run read (`docs/FORMAT.md` §11.11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStatus {
    /// Whether the run read them (a run with a time window does not).
    pub read: bool,
    /// Logs (partitions) read.
    pub logs: u64,
    /// Leaves checked, over all logs.
    pub leaves: u64,
    /// Logs whose newest archived range is not in the log yet.
    pub pending: u64,
    /// Bytes of tiles and checkpoints read.
    pub bytes: u64,
    /// Logs whose newest checkpoint carries the witness quorum (when
    /// witnesses are trusted: `witness_quorum` > 0).
    #[serde(default)]
    pub witnessed: u64,
    /// The cosignatures by trusted witnesses a newest checkpoint needs; 0
    /// when no witness is trusted (cosignatures not checked).
    #[serde(default)]
    pub witness_quorum: u64,
    /// Logs resumed at the newest checkpoint a clean run verified
    /// (`--state`): only what was written since was read.
    #[serde(default)]
    pub resumed: u64,
    /// Log objects not read: unchanged since a clean run verified them.
    #[serde(default)]
    pub listed: u64,
}

/// Everything a run found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Every finding, sorted by topic, partition and offsets.
    pub findings: Vec<Finding>,
    /// Per (topic, partition).
    #[serde(serialize_with = "ser_parts", deserialize_with = "de_parts")]
    pub partitions: BTreeMap<(String, i32), PartitionStats>,
    /// Objects no manifest names.
    pub unreferenced: u64,
    /// Bytes of manifests and objects read.
    pub bytes: u64,
    /// Every archived range looked at, in partition and offset order.
    pub ranges: Vec<RangeStatus>,
    /// The checkpoints (not read by a run with a time window).
    pub checkpoints: CheckpointStatus,
    /// How much was read in full and how much checked by listing.
    pub coverage: Coverage,
    /// The transparency logs.
    pub logs: LogStatus,
    /// What the run covered, for merging shards.
    pub scope: Scope,
    /// What the listing held, before and after the run's filters.
    pub selection: Selection,
    /// Set when the run checked no manifest and found no object: why
    /// nothing was verified. Such a run is never clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_verified: Option<String>,
    /// `--allow-empty`: an empty selection was expected, so it is not a
    /// failure (it is still reported as nothing verified).
    pub empty_allowed: bool,
}

fn ser_parts<S: serde::Serializer>(
    m: &BTreeMap<(String, i32), PartitionStats>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|((t, p), v)| (format!("{t}/{p}"), v)))
}

fn de_parts<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<(String, i32), PartitionStats>, D::Error> {
    let named = BTreeMap::<String, PartitionStats>::deserialize(d)?;
    named
        .into_iter()
        .map(|(name, v)| {
            name.rsplit_once('/')
                .and_then(|(t, p)| Some(((t.to_owned(), p.parse().ok()?), v)))
                .ok_or_else(|| serde::de::Error::custom(format!("{name:?} is not topic/partition")))
        })
        .collect()
}

/// What a run was asked to cover and what its listing held: what
/// `verify-merge` needs to tell whether shards cover the whole archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `s3://bucket/prefix`.
    pub location: String,
    /// `--topic`s (all when empty).
    pub topics: Vec<String>,
    /// `--partition`s (all when empty).
    pub partitions: Vec<i32>,
    /// `--since`/`--until` was given: not the archive's end, not mergeable.
    pub timed: bool,
    /// `topic/partition` of every partition any listed key belongs to.
    pub listed: BTreeSet<String>,
    /// Keys that belong to no partition were checked for being
    /// unreferenced (by a run whose partitions include 0, or all).
    pub ownerless_checked: bool,
}

impl Scope {
    /// Whether this run's filters select (topic, partition).
    pub fn wants(&self, topic: &str, partition: i32) -> bool {
        (self.topics.is_empty() || self.topics.iter().any(|t| t == topic))
            && (self.partitions.is_empty() || self.partitions.contains(&partition))
    }
}

impl Report {
    /// No findings, and something was verified (or `--allow-empty` said
    /// that nothing was expected).
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && (self.nothing_verified.is_none() || self.empty_allowed)
    }

    /// The run checked no manifest and met no object (findings aside): an
    /// empty selection, which must not pass for a clean archive.
    pub fn selected_nothing(&self) -> bool {
        self.findings.is_empty()
            && self.unreferenced == 0
            && self.partitions.values().all(|s| s.manifests == 0)
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// What was re-verified in full and what checked by listing.
    fn coverage_line(&self) -> String {
        let c = &self.coverage;
        let how = if c.deep {
            "--deep: everything read in full"
        } else if c.incremental {
            "incremental (--state)"
        } else {
            "full run"
        };
        format!(
            "{how}: {} object(s) and {} manifest(s) re-verified in full, {} object(s) and {} manifest(s) checked by listing; checkpoints {} in full, {} by listing\n",
            c.objects_full,
            c.manifests_full,
            c.objects_listed,
            c.manifests_listed,
            c.checkpoints_full,
            c.checkpoints_listed,
        )
    }

    /// The human summary.
    pub fn to_text(&self, location: &str) -> String {
        let mut out = format!("Results requested for {location}\n");
        let sum = |f: fn(&PartitionStats) -> u64| self.partitions.values().map(f).sum::<u64>();
        out.push_str(&format!(
            "Results found for {} partition(s):\n",
            self.partitions.len()
        ));
        for ((t, p), s) in &self.partitions {
            let range = match (s.first_offset, s.last_offset) {
                (Some(a), Some(b)) => format!("offsets {a}..={b}"),
                _ => "no manifests".into(),
            };
            out.push_str(&format!(
                "  {t}/{p}: {}/{} manifests valid, {} missing; {}/{} objects valid, {} missing; {} records; {range}\n",
                s.manifests - s.manifests_bad,
                s.manifests,
                s.manifests_missing,
                s.objects - s.objects_bad - s.objects_missing,
                s.objects,
                s.objects_missing,
                s.records,
            ));
        }
        out.push_str(&format!(
            "\n{}/{} manifests valid, {} invalid, {} missing\n{}/{} objects valid, {} invalid, {} missing, {} unreferenced\n{} records, {:.1} MiB read\n",
            sum(|s| s.manifests - s.manifests_bad),
            sum(|s| s.manifests),
            sum(|s| s.manifests_bad),
            sum(|s| s.manifests_missing),
            sum(|s| s.objects - s.objects_bad - s.objects_missing),
            sum(|s| s.objects),
            sum(|s| s.objects_bad),
            sum(|s| s.objects_missing),
            self.unreferenced,
            sum(|s| s.records),
            self.bytes as f64 / (1024.0 * 1024.0),
        ));
        out.push_str(&self.coverage_line());
        match (self.checkpoints.newest_seq, &self.checkpoints.newest_key) {
            _ if !self.checkpoints.read => {
                out.push_str("checkpoints not read (a time window is not the archive's end)\n");
            }
            (Some(seq), Some(key)) => out.push_str(&format!(
                "{} checkpoint(s); the newest sound one, seq {seq} ({key}), was held against the archive\n",
                self.checkpoints.present
            )),
            _ => out.push_str(&format!(
                "{} checkpoint(s); none sound to hold the archive against\n",
                self.checkpoints.present
            )),
        }
        if self.logs.logs > 0 {
            out.push_str(&format!(
                "{} transparency log(s): {} leaves held against the archived records{}{}\n",
                self.logs.logs,
                self.logs.leaves,
                match self.logs.pending {
                    0 => String::new(),
                    n => format!("; the newest range of {n} not logged yet"),
                },
                match self.logs.resumed {
                    0 => String::new(),
                    n => format!(
                        "; {n} resumed at the size a clean run verified, {} object(s) checked by listing",
                        self.logs.listed
                    ),
                }
            ));
            out.push_str(&match self.logs.witness_quorum {
                0 => "witness cosignatures not checked (no trusted witness keys)\n".to_owned(),
                q => format!(
                    "{} of {} log(s): the newest checkpoint cosigned by at least {q} trusted witness(es)\n",
                    self.logs.witnessed, self.logs.logs
                ),
            });
        }
        if let Some(why) = &self.nothing_verified {
            out.push_str(&format!(
                "\nNothing verified: {why}.\n{}\n",
                if self.empty_allowed {
                    "--allow-empty: an empty selection was expected; no manifest and no object was checked."
                } else {
                    "This is not a clean result: no manifest and no object was checked."
                }
            ));
        } else if self.findings.is_empty() {
            out.push_str("\nNo findings: the archive is complete and untouched.\n");
        } else {
            out.push_str(&format!("\n{} finding(s):\n", self.findings.len()));
            for f in &self.findings {
                out.push_str(&format!("  {f}\n"));
            }
        }
        out
    }
}
