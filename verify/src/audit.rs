//! The IO edge: list the prefix, read every manifest and object version that
//! matters, run the pure checks over them, and gather the report.

use std::collections::{BTreeMap, BTreeSet};

use archive::layout::{KeyKind, parse_key};
use archive::store::{Store, VersionEntry};
use archive::{Retention, retain_until_secs};
use chain::checkpoint::Checkpoint;
use chain::manifest::{Manifest, Table};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::VerifyError;
use crate::checkpoints::{as_state, check_checkpoint, check_checkpoint_chain};
use crate::checks::{
    check_chain, check_fork, check_placement, check_retention, check_rows, check_signatures,
    current_version,
};
use crate::finding::{Finding, FindingKind};
use crate::registry::Registry;
use crate::report::{CheckpointStatus, RangeStatus, Report};
use crate::rows::{read_events, read_rows};
use crate::selection::Selection;
use crate::state::{Accepted, Present, State};

/// An object's rows, decoded off the IO task.
enum Decoded {
    Rows(Vec<crate::rows::Row>),
    Events(crate::rows::EventsObject),
}

/// What to verify and against which policy.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key prefix the archiver writes under (`""` or ending in `/`).
    pub prefix: String,
    /// Only these topics (all when empty).
    pub topics: Vec<String>,
    /// Only these partitions (all when empty).
    pub partitions: Vec<i32>,
    /// The retention policy the archiver was given.
    pub retention: Retention,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Only ranges sealed at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only ranges sealed before this time (ms since the epoch).
    pub until_ms: Option<i64>,
}

impl Options {
    fn wanted(&self, topic: &str, partition: i32) -> bool {
        (self.topics.is_empty() || self.topics.iter().any(|t| t == topic))
            && (self.partitions.is_empty() || self.partitions.contains(&partition))
    }

    fn in_time(&self, sealed_at_ms: i64) -> bool {
        self.since_ms.is_none_or(|s| sealed_at_ms >= s)
            && self.until_ms.is_none_or(|u| sealed_at_ms < u)
    }

    fn filtered(&self) -> bool {
        !self.topics.is_empty()
            || !self.partitions.is_empty()
            || self.since_ms.is_some()
            || self.until_ms.is_some()
    }

    fn min_retain_until(&self, topic: &str, actions: &BTreeSet<String>, sealed_at_ms: i64) -> i64 {
        let retention = self
            .retention
            .for_range(topic, actions.iter().map(String::as_str));
        retain_until_secs(sealed_at_ms, retention)
    }

    /// Checkpoints speak for every partition: locked for the longest retention.
    fn checkpoint_retain_until(&self, written_at_ms: i64) -> i64 {
        retain_until_secs(written_at_ms, self.retention.longest())
    }
}

/// What checking one manifest key produced.
struct Checked {
    key: String,
    /// Outside the time range: not part of this run.
    skipped: bool,
    manifest: Option<Manifest>,
    findings: Vec<Finding>,
    objects: u64,
    objects_bad: u64,
    objects_missing: u64,
    records: u64,
    bytes: u64,
    referenced: Vec<String>,
}

/// Runs every check. `progress(done, total)` is called as manifests finish.
pub async fn verify(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    state: Option<&State>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Report, State), VerifyError> {
    let listing = store
        .list_versions(&opts.prefix)
        .await
        .map_err(VerifyError::Store)?;
    let mut by_key: BTreeMap<String, Vec<VersionEntry>> = BTreeMap::new();
    for v in listing {
        by_key.entry(v.key.clone()).or_default().push(v);
    }
    let manifest_keys: Vec<(String, String, i32)> = by_key
        .keys()
        .filter_map(|k| match parse_key(&opts.prefix, k) {
            KeyKind::Manifest {
                topic, partition, ..
            } if opts.wanted(&topic, partition) => Some((k.clone(), topic, partition)),
            _ => None,
        })
        .collect();
    let selection = Selection::of_listing(&opts.prefix, by_key.keys(), manifest_keys.len());
    let total = manifest_keys.len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let checked: Vec<Result<Checked, VerifyError>> = futures::stream::iter(manifest_keys.iter())
        .map(|(key, topic, partition)| {
            let versions = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
            let by_key = &by_key;
            let done = &done;
            async move {
                let r = check_manifest(
                    store, registry, opts, key, topic, *partition, versions, by_key,
                )
                .await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n, total);
                r
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;

    let mut report = Report {
        selection,
        ..Report::default()
    };
    let mut referenced = BTreeSet::new();
    let mut per_part: BTreeMap<(String, i32), Vec<(String, Manifest)>> = BTreeMap::new();
    for c in checked {
        let c = c?;
        if c.skipped {
            if let Some(m) = &c.manifest {
                report.selection.outside_window(m.seals.sealed_at_ms());
            }
            continue;
        }
        let (topic, partition) = match parse_key(&opts.prefix, &c.key) {
            KeyKind::Manifest {
                topic, partition, ..
            } => (topic, partition),
            _ => continue,
        };
        let st = report
            .partitions
            .entry((topic.clone(), partition))
            .or_default();
        st.manifests += 1;
        st.objects += c.objects;
        st.objects_bad += c.objects_bad;
        st.objects_missing += c.objects_missing;
        st.records += c.records;
        report.bytes += c.bytes;
        if c.findings
            .iter()
            .any(|f| f.key.as_deref() == Some(c.key.as_str()))
        {
            st.manifests_bad += 1;
        }
        referenced.extend(c.referenced);
        report.findings.extend(c.findings);
        if let Some(m) = c.manifest {
            per_part
                .entry((topic, partition))
                .or_default()
                .push((c.key, m));
        }
    }

    let mut present = BTreeMap::new();
    let mut ranges: Vec<(RangeStatus, Vec<String>)> = Vec::new();
    for ((topic, partition), mut ms) in per_part {
        ms.sort_by_key(|(_, m)| (m.seals.first_offset(), m.seq));
        let (findings, missing) = check_chain(&topic, partition, &ms, opts.since_ms.is_none());
        let st = report
            .partitions
            .entry((topic.clone(), partition))
            .or_default();
        st.manifests_missing += missing;
        st.first_offset = ms.first().map(|(_, m)| m.seals.first_offset());
        st.last_offset = ms.last().map(|(_, m)| m.seals.last_offset());
        report.findings.extend(findings);
        let mut p = Present::default();
        for (key, m) in &ms {
            p.digests.insert(m.seq, chain::hex::encode(&m.digest()));
            ranges.push((
                RangeStatus {
                    topic: topic.clone(),
                    partition,
                    seq: m.seq,
                    first_offset: m.seals.first_offset(),
                    last_offset: m.seals.last_offset(),
                    sealed_at_ms: m.seals.sealed_at_ms(),
                    key: key.clone(),
                    ok: true,
                },
                m.objects.iter().map(|o| o.key.clone()).collect(),
            ));
        }
        p.last = ms.last().map(|(_, m)| Accepted {
            seq: m.seq,
            digest: chain::hex::encode(&m.digest()),
            last_offset: m.seals.last_offset(),
        });
        present.insert((topic, partition), p);
    }

    for (key, versions) in &by_key {
        let kind = parse_key(&opts.prefix, key);
        if matches!(kind, KeyKind::Manifest { .. } | KeyKind::Checkpoint { .. })
            || referenced.contains(key)
        {
            continue;
        }
        if opts.filtered() {
            // A filtered run cannot tell whose an unknown object is.
            continue;
        }
        let live = versions.iter().filter(|v| !v.delete_marker).count();
        report.unreferenced += 1;
        report.findings.push(
            Finding::new(
                FindingKind::UnreferencedObject,
                "",
                -1,
                format!("no manifest names it ({live} version(s))"),
            )
            .at(key),
        );
    }

    let mut next_state = state.cloned().unwrap_or_default();
    let timed = opts.since_ms.is_some() || opts.until_ms.is_some();
    if let Some(s) = state.filter(|_| !timed) {
        let mut relevant = s.clone();
        relevant.partitions.retain(|name, _| {
            name.rsplit_once('/')
                .and_then(|(t, p)| Some(opts.wanted(t, p.parse().ok()?)))
                .unwrap_or(false)
        });
        report.findings.extend(relevant.compare(&present));
    }
    if !timed {
        // A time window's last manifest is not the archive's end, nor is a
        // window of checkpoints their chain.
        let (findings, status) = checkpoints(store, registry, opts, &by_key, &present).await?;
        report.findings.extend(findings);
        report.checkpoints = status;
        next_state.accept(&present);
    }
    let named: BTreeSet<&str> = report
        .findings
        .iter()
        .filter_map(|f| f.key.as_deref())
        .collect();
    report.ranges = ranges
        .into_iter()
        .map(|(mut r, objects)| {
            r.ok = !named.contains(r.key.as_str())
                && !objects.iter().any(|o| named.contains(o.as_str()));
            r
        })
        .collect();
    report.findings.sort_by(|a, b| {
        (&a.topic, a.partition, a.offsets, a.kind, &a.key).cmp(&(
            &b.topic,
            b.partition,
            b.offsets,
            b.kind,
            &b.key,
        ))
    });
    Ok((report, next_state))
}

/// Step 8: every checkpoint, their chain, and what the newest sound one
/// says the archive must still hold.
async fn checkpoints(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
    present: &BTreeMap<(String, i32), Present>,
) -> Result<(Vec<Finding>, CheckpointStatus), VerifyError> {
    let keys: Vec<(&String, u64)> = by_key
        .keys()
        .filter_map(|k| match parse_key(&opts.prefix, k) {
            KeyKind::Checkpoint { seq } => Some((k, seq)),
            _ => None,
        })
        .collect();
    let read: Vec<Result<_, VerifyError>> = futures::stream::iter(keys)
        .map(|(key, seq)| async move {
            let versions = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
            let mut findings = Vec::new();
            let Some(current) = current_version(key, "", -1, versions, &mut findings) else {
                return Ok((key.clone(), findings, None));
            };
            let bytes = store
                .get_version(key, &current.version_id)
                .await
                .map_err(VerifyError::Store)?
                .unwrap_or_default();
            let c = match Checkpoint::from_json(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    findings.push(
                        Finding::new(FindingKind::CheckpointMalformed, "", -1, e.to_string())
                            .at(key),
                    );
                    return Ok((key.clone(), findings, None));
                }
            };
            let own = check_checkpoint(key, seq, &c, registry);
            let sound = own.is_empty();
            findings.extend(own);
            let r = store
                .retention(key, &current.version_id)
                .await
                .map_err(VerifyError::Store)?;
            let min_until = opts.checkpoint_retain_until(c.written_at_ms);
            findings.extend(check_retention(key, "", -1, &r, min_until));
            Ok((key.clone(), findings, Some((c, sound))))
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut findings = Vec::new();
    let mut decoded = Vec::new();
    for r in read {
        let (key, fs, c) = r?;
        findings.extend(fs);
        if let Some((c, sound)) = c {
            decoded.push((key, c, sound));
        }
    }
    decoded.sort_by(|a, b| (a.1.seq, &a.0).cmp(&(b.1.seq, &b.0)));
    findings.extend(check_checkpoint_chain(
        decoded.iter().map(|(k, c, _)| (k.as_str(), c)),
    ));
    let mut status = CheckpointStatus {
        read: true,
        present: decoded.len() as u64,
        ..CheckpointStatus::default()
    };
    if let Some((key, newest, _)) = decoded.iter().rev().find(|(_, _, sound)| *sound) {
        let mut attested = as_state(newest);
        attested.partitions.retain(|name, _| {
            chain::checkpoint::parse_partition_name(name).is_some_and(|(t, p)| opts.wanted(&t, p))
        });
        findings.extend(attested.compare(present).into_iter().map(|f| f.at(key)));
        status.newest_seq = Some(newest.seq);
        status.newest_written_at_ms = Some(newest.written_at_ms);
        status.newest_key = Some(key.clone());
    }
    Ok((findings, status))
}

#[allow(clippy::too_many_arguments)]
async fn check_manifest(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    key: &str,
    topic: &str,
    partition: i32,
    versions: &[VersionEntry],
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
) -> Result<Checked, VerifyError> {
    let mut c = Checked {
        key: key.to_owned(),
        skipped: false,
        manifest: None,
        findings: Vec::new(),
        objects: 0,
        objects_bad: 0,
        objects_missing: 0,
        records: 0,
        bytes: 0,
        referenced: Vec::new(),
    };
    let Some(current) = current_version(key, topic, partition, versions, &mut c.findings) else {
        // Only a delete marker: the manifest is gone; the chain check counts it.
        return Ok(c);
    };
    let bytes = store
        .get_version(key, &current.version_id)
        .await
        .map_err(VerifyError::Store)?
        .unwrap_or_default();
    c.bytes += bytes.len() as u64;
    let m = match Manifest::from_json(&bytes) {
        Ok(m) => m,
        Err(e) => {
            c.findings.push(
                Finding::new(
                    FindingKind::ManifestMalformed,
                    topic,
                    partition,
                    e.to_string(),
                )
                .at(key),
            );
            return Ok(c);
        }
    };
    if !opts.in_time(m.seals.sealed_at_ms()) {
        c.skipped = true;
        c.manifest = Some(m);
        return Ok(c);
    }
    let mut older = Vec::new();
    for v in versions
        .iter()
        .filter(|v| !v.delete_marker && v.version_id != current.version_id)
    {
        let body = store
            .get_version(key, &v.version_id)
            .await
            .map_err(VerifyError::Store)?
            .unwrap_or_default();
        // An older version that does not decode is already an extra_version.
        if let Ok(o) = Manifest::from_json(&body) {
            older.push(o);
        }
    }
    c.findings.extend(check_fork(key, &m, &older));
    c.findings.extend(check_placement(&opts.prefix, key, &m));
    c.findings.extend(check_signatures(key, &m, registry));
    // Retention is checked once the events' classes are known (§8 step 2).
    let mut retentions = vec![(
        key.to_owned(),
        store
            .retention(key, &current.version_id)
            .await
            .map_err(VerifyError::Store)?,
    )];
    let mut actions = BTreeSet::new();

    let mut rows = Vec::new();
    for o in &m.objects {
        c.objects += 1;
        c.referenced.push(o.key.clone());
        let versions = by_key.get(&o.key).map(Vec::as_slice).unwrap_or_default();
        let Some(cur) = current_version(&o.key, topic, partition, versions, &mut c.findings) else {
            c.objects_missing += 1;
            c.findings.push(
                Finding::new(
                    FindingKind::ObjectMissing,
                    topic,
                    partition,
                    format!("version {} is gone", o.version_id),
                )
                .at(&o.key)
                .offsets(m.seals.first_offset(), m.seals.last_offset()),
            );
            continue;
        };
        if cur.version_id != o.version_id {
            let still = versions.iter().any(|v| v.version_id == o.version_id);
            c.findings.push(
                Finding::new(
                    FindingKind::ObjectReplaced,
                    topic,
                    partition,
                    format!(
                        "readers get version {}, the manifest names {} ({})",
                        cur.version_id,
                        o.version_id,
                        if still { "still present" } else { "gone" }
                    ),
                )
                .at(&o.key),
            );
        }
        let body = store
            .get_version(&o.key, &cur.version_id)
            .await
            .map_err(VerifyError::Store)?
            .unwrap_or_default();
        let len = body.len();
        c.bytes += len as u64;
        // Hashing and decoding are the CPU-bound part: off the task that
        // drives the IO, so objects are checked on every core.
        let (table, t) = (o.table, topic.to_owned());
        let (sha, decoded) = tokio::task::spawn_blocking(move || {
            let sha: [u8; 32] = Sha256::digest(&body).into();
            let decoded = match table {
                Table::Events => read_events(body, &t, partition).map(Decoded::Events),
                Table::DeadLetters => read_rows(body).map(Decoded::Rows),
            };
            (sha, decoded)
        })
        .await
        .map_err(|e| VerifyError::Internal(format!("decoding {}: {e}", o.key)))?;
        if sha != o.sha256 || len as u64 != o.bytes {
            c.findings.push(
                Finding::new(
                    FindingKind::ChecksumMismatch,
                    topic,
                    partition,
                    format!(
                        "sha256 {} ({} bytes), manifest says {} ({} bytes)",
                        chain::hex::encode(&sha),
                        len,
                        chain::hex::encode(&o.sha256),
                        o.bytes
                    ),
                )
                .at(&o.key),
            );
        }
        retentions.push((
            o.key.clone(),
            store
                .retention(&o.key, &cur.version_id)
                .await
                .map_err(VerifyError::Store)?,
        ));
        let decoded = decoded.map(|d| match d {
            Decoded::Rows(rows) => rows,
            Decoded::Events(e) => {
                actions.extend(e.actions);
                if let Some((offset, what, n)) = e.derived {
                    c.findings.push(
                        Finding::new(
                            FindingKind::DerivedMismatch,
                            topic,
                            partition,
                            format!("{n} row(s); first at offset {offset}: {what}"),
                        )
                        .at(&o.key)
                        .offsets(offset, offset),
                    );
                }
                e.rows
            }
        });
        match decoded {
            Ok(rs) => {
                c.records += rs.len() as u64;
                rows.push((o.key.clone(), rs));
            }
            Err(e) => c.findings.push(
                Finding::new(FindingKind::ObjectUnreadable, topic, partition, e)
                    .at(&o.key)
                    .offsets(m.seals.first_offset(), m.seals.last_offset()),
            ),
        }
    }
    let min_until = opts.min_retain_until(topic, &actions, m.seals.sealed_at_ms());
    for (k, r) in &retentions {
        c.findings
            .extend(check_retention(k, topic, partition, r, min_until));
    }
    let unreadable = c
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::ObjectUnreadable);
    if !unreadable && c.objects_missing == 0 {
        // Re-hashing the chain is CPU-bound too.
        let seals = m.seals.clone();
        let row_findings = tokio::task::spawn_blocking(move || check_rows(&seals, rows))
            .await
            .map_err(|e| VerifyError::Internal(format!("checking rows of {key}: {e}")))?;
        c.findings.extend(row_findings);
    }
    let bad: BTreeSet<&str> = c.findings.iter().filter_map(|f| f.key.as_deref()).collect();
    c.objects_bad = m
        .objects
        .iter()
        .filter(|o| bad.contains(o.key.as_str()))
        .count() as u64
        - c.objects_missing;
    c.manifest = Some(m);
    Ok(c)
}
