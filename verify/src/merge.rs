//! Shards' reports merged into one verdict (`auditlog verify-merge`,
//! docs/FORMAT.md §8 "Shards"): pure.
//!
//! Each shard is a `verify --format json` run over some topics and
//! partitions. Together they must cover every partition any shard's listing
//! held, and one of them must have checked the keys that belong to no
//! partition; then the union of their findings (the checkpoint chain and
//! signatures, which every shard checks, counted once) is the finding list
//! a single run over everything gives, and so is the verdict.

use std::collections::BTreeSet;

use crate::finding::FindingKind;
use crate::report::Report;

/// Why shards' reports cannot be merged into a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// No report was given.
    #[error("no report to merge")]
    Empty,
    /// Reports of different archives.
    #[error(
        "report {index} is of {found}, the first of {expected}: shards must verify one archive"
    )]
    OtherArchive {
        /// Which report (from 1).
        index: usize,
        /// Its location.
        found: String,
        /// The first report's.
        expected: String,
    },
    /// A report with a time window does not reach the archive's end.
    #[error("report {index} was run with --since/--until: a time window is not a shard")]
    Timed {
        /// Which report (from 1).
        index: usize,
    },
    /// Partitions that no shard selected.
    #[error("no shard verified {}: add a shard with these partitions", .0.join(", "))]
    Uncovered(Vec<String>),
    /// No shard checked the keys that belong to no partition.
    #[error(
        "no shard checked the keys that belong to no partition: one shard's --partition must include 0 (or select all)"
    )]
    OwnerlessUnchecked,
}

/// Merges shards' reports; the result renders like a single run's.
pub fn merge(reports: Vec<Report>) -> Result<Report, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let location = first.scope.location.clone();
    for (i, r) in reports.iter().enumerate() {
        if r.scope.location != location {
            return Err(MergeError::OtherArchive {
                index: i + 1,
                found: r.scope.location.clone(),
                expected: location,
            });
        }
        if r.scope.timed {
            return Err(MergeError::Timed { index: i + 1 });
        }
    }
    let listed: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.scope.listed.iter().cloned())
        .collect();
    let uncovered: Vec<String> = listed
        .iter()
        .filter(|name| {
            let Some((t, p)) = name
                .rsplit_once('/')
                .and_then(|(t, p)| Some((t, p.parse().ok()?)))
            else {
                return true;
            };
            !reports.iter().any(|r| r.scope.wants(t, p))
        })
        .cloned()
        .collect();
    if !uncovered.is_empty() {
        return Err(MergeError::Uncovered(uncovered));
    }
    if !reports.iter().any(|r| r.scope.ownerless_checked) {
        return Err(MergeError::OwnerlessUnchecked);
    }

    let mut out = Report::default();
    out.scope.location = location;
    out.scope.listed = listed;
    out.scope.ownerless_checked = true;
    let mut findings = BTreeSet::new();
    let mut ranges = BTreeSet::new();
    for r in reports {
        findings.extend(r.findings);
        for (at, stats) in r.partitions {
            if r.scope.wants(&at.0, at.1) {
                out.partitions.entry(at).or_insert(stats);
            }
        }
        for range in r.ranges {
            if ranges.insert(range.key.clone()) {
                out.ranges.push(range);
            }
        }
        out.bytes += r.bytes;
        let c = &mut out.coverage;
        c.incremental |= r.coverage.incremental;
        c.deep |= r.coverage.deep;
        c.manifests_full += r.coverage.manifests_full;
        c.manifests_listed += r.coverage.manifests_listed;
        c.objects_full += r.coverage.objects_full;
        c.objects_listed += r.coverage.objects_listed;
        // Every shard reads every checkpoint: the newest sound one speaks.
        if r.checkpoints.newest_seq >= out.checkpoints.newest_seq {
            c.checkpoints_full = r.coverage.checkpoints_full;
            c.checkpoints_listed = r.coverage.checkpoints_listed;
            out.checkpoints = r.checkpoints;
        }
        out.logs.read |= r.logs.read;
        out.logs.logs += r.logs.logs;
        out.logs.leaves += r.logs.leaves;
        out.logs.pending += r.logs.pending;
        out.logs.bytes += r.logs.bytes;
        out.logs.witnessed += r.logs.witnessed;
        out.logs.resumed += r.logs.resumed;
        out.logs.listed += r.logs.listed;
        out.logs.witness_quorum = out.logs.witness_quorum.max(r.logs.witness_quorum);
        let s = &mut out.selection;
        s.keys_listed = s.keys_listed.max(r.selection.keys_listed);
        s.manifests_listed = s.manifests_listed.max(r.selection.manifests_listed);
        s.topics_listed.extend(r.selection.topics_listed);
        s.manifests_selected += r.selection.manifests_selected;
    }
    out.findings = findings.into_iter().collect();
    crate::finding::sort(&mut out.findings);
    out.ranges.sort_by(|a, b| {
        (&a.topic, a.partition, a.first_offset).cmp(&(&b.topic, b.partition, b.first_offset))
    });
    out.unreferenced = out
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::UnreferencedObject)
        .count() as u64;
    if out.selected_nothing() {
        out.nothing_verified = Some("no shard verified a manifest or met an object".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Finding;
    use crate::report::PartitionStats;

    fn shard(partitions: &[i32], listed: &[&str]) -> Report {
        let mut r = Report::default();
        r.scope.location = "s3://b/p/".into();
        r.scope.partitions = partitions.to_vec();
        r.scope.listed = listed.iter().map(|s| (*s).to_owned()).collect();
        r.scope.ownerless_checked = partitions.is_empty() || partitions.contains(&0);
        for p in partitions {
            let stats = PartitionStats {
                manifests: 2,
                ..PartitionStats::default()
            };
            r.partitions.insert(("t".into(), *p), stats);
        }
        r
    }

    #[test]
    fn shards_that_cover_everything_merge_into_the_union_counted_once() {
        let mut a = shard(&[0, 1], &["t/0", "t/1", "t/2"]);
        let mut b = shard(&[2], &["t/0", "t/1", "t/2", "t/3"]);
        let mut c = shard(&[3], &["t/3"]);
        let shared = Finding::new(FindingKind::CheckpointChainBroken, "", -1, "x").at("cp/2");
        a.findings = vec![
            shared.clone(),
            Finding::new(FindingKind::RecordAltered, "t", 1, "y"),
        ];
        b.findings = vec![shared.clone()];
        c.findings = vec![Finding::new(FindingKind::UnreferencedObject, "", -1, "z").at("p/t/3/x")];
        let m = merge(vec![a, b, c]).expect("merges");
        assert_eq!(m.findings.len(), 3, "{:?}", m.findings);
        assert_eq!((m.unreferenced, m.partitions.len()), (1, 4));
        assert!(m.nothing_verified.is_none());
    }

    #[test]
    fn a_partition_no_shard_selected_is_named() {
        let a = shard(&[0], &["t/0", "t/1", "t/2"]);
        let b = shard(&[2], &["t/2"]);
        assert_eq!(
            merge(vec![a, b]).err(),
            Some(MergeError::Uncovered(vec!["t/1".into()]))
        );
    }

    #[test]
    fn someone_must_check_the_keys_of_no_partition() {
        let a = shard(&[1], &["t/1"]);
        assert_eq!(merge(vec![a]).err(), Some(MergeError::OwnerlessUnchecked));
    }

    #[test]
    fn other_archives_and_time_windows_are_refused() {
        let a = shard(&[0], &["t/0"]);
        let mut b = shard(&[0], &["t/0"]);
        b.scope.location = "s3://b/q/".into();
        assert!(matches!(
            merge(vec![a.clone(), b]),
            Err(MergeError::OtherArchive { index: 2, .. })
        ));
        let mut t = shard(&[0], &["t/0"]);
        t.scope.timed = true;
        assert_eq!(
            merge(vec![a, t]).err(),
            Some(MergeError::Timed { index: 2 })
        );
        assert_eq!(merge(vec![]).err(), Some(MergeError::Empty));
    }
}
