//! The IO edge: list the prefix, read every manifest and object version that
//! matters (or, with a state file, only what changed since the last clean
//! run: `crate::incremental`), run the pure checks over them, and gather the
//! report. One manifest key is `manifest`'s, the checkpoints `checkpoint`'s.

mod checkpoint;
mod logs;
mod manifest;

use std::collections::{BTreeMap, BTreeSet};

use archive::layout::{KeyKind, owner, parse_key};
use archive::store::{Store, VersionEntry};
use archive::{Retention, retain_until_secs};
use chain::manifest::Manifest;
use futures::StreamExt;

use self::manifest::Checked;
use crate::VerifyError;
use crate::checks::check_chain;
use crate::finding::{Finding, FindingKind};
use crate::registry::Registry;
use crate::report::{RangeStatus, Report, Scope};
use crate::selection::Selection;
use crate::state::{Accepted, Present, State};
use crate::tlogcheck::LogRange;

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
    /// KiB that manifests being checked may hold at once, by
    /// [`crate::budget::weight_kib`]'s estimate (`--memory-mib`).
    pub memory_kib: u64,
    /// Only ranges sealed at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only ranges sealed before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Read everything in full, whatever the state says was verified.
    pub deep: bool,
    /// The origin prefix of the partitions' transparency logs (their
    /// checkpoints' key name): `archiver.log_origin` or its default.
    pub log_origin: String,
    /// `archiver.transparency_log` is on: a partition with ranges but no
    /// log is a finding.
    pub logs_expected: bool,
    /// The witnesses trusted to cosign the logs' checkpoints; with none,
    /// cosigned checkpoints are not checked (§11.12).
    pub witnesses: crate::Witnesses,
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

    fn timed(&self) -> bool {
        self.since_ms.is_some() || self.until_ms.is_some()
    }

    /// Keys that belong to no partition are checked for being unreferenced
    /// by a run without a time window whose partitions include 0 (or all):
    /// so of shards, the one holding partition 0 (docs/FORMAT.md §8,
    /// "Shards").
    fn checks_ownerless(&self) -> bool {
        !self.timed() && (self.partitions.is_empty() || self.partitions.contains(&0))
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
    // Partitions with a transparency log: their ranges' records are also
    // hashed as log leaves.
    let logged: BTreeSet<(String, i32)> = by_key
        .keys()
        .filter_map(|k| match parse_key(&opts.prefix, k) {
            KeyKind::Tlog {
                topic, partition, ..
            } => Some((topic, partition)),
            _ => None,
        })
        .collect();
    // What earlier clean runs verified, unless everything is to be read.
    let verified = state.map(|s| &s.verified).filter(|_| !opts.deep);
    let total = manifest_keys.len() as u64;
    let budget = crate::budget::Budget::new(opts.memory_kib);
    let done = std::sync::atomic::AtomicU64::new(0);
    let checked: Vec<Result<Checked, VerifyError>> = futures::stream::iter(manifest_keys.iter())
        .map(|(key, topic, partition)| {
            let versions = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
            let by_key = &by_key;
            let done = &done;
            let budget = &budget;
            let log = opts.logs_expected || logged.contains(&(topic.clone(), *partition));
            async move {
                let r = match verified.and_then(|v| Some((v.manifest(key, by_key)?, v))) {
                    Some((m, v)) => Ok(manifest::check_listed(
                        registry,
                        opts,
                        key,
                        m,
                        v.manifests.get(key).cloned(),
                    )),
                    None => {
                        manifest::check_manifest(
                            store, registry, opts, budget, key, topic, *partition, versions,
                            by_key, log,
                        )
                        .await
                    }
                };
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
    report.coverage.deep = opts.deep;
    report.scope = Scope {
        location: String::new(),
        topics: opts.topics.clone(),
        partitions: opts.partitions.clone(),
        timed: opts.timed(),
        listed: by_key
            .keys()
            .filter_map(|k| owner(&opts.prefix, k))
            .map(|(t, p)| format!("{t}/{p}"))
            .collect(),
        ownerless_checked: opts.checks_ownerless(),
    };
    report.coverage.incremental = verified.is_some_and(|v| !v.versions.is_empty());
    let mut referenced = BTreeSet::new();
    // What this run verified, for the state file.
    let (mut verified_keys, mut manifest_docs) = (BTreeSet::new(), BTreeMap::new());
    let mut per_part: BTreeMap<(String, i32), Vec<(String, Manifest)>> = BTreeMap::new();
    let mut log_roots: BTreeMap<String, ::tlog::Hash> = BTreeMap::new();
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
        if c.listed {
            st.objects_listed += c.objects;
            report.coverage.manifests_listed += 1;
            report.coverage.objects_listed += c.objects;
        } else {
            report.coverage.manifests_full += 1;
            report.coverage.objects_full += c.objects - c.objects_missing;
        }
        verified_keys.insert(c.key.clone());
        verified_keys.extend(c.referenced.iter().cloned());
        if let Some(json) = c.json {
            manifest_docs.insert(c.key.clone(), json);
        }
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
        if let Some(root) = c.log_root {
            log_roots.insert(c.key.clone(), root);
        }
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
    let mut log_ranges: BTreeMap<(String, i32), Vec<LogRange>> = BTreeMap::new();
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
        log_ranges.insert(
            (topic.clone(), partition),
            ms.iter()
                .map(|(key, m)| LogRange {
                    key: key.clone(),
                    first_offset: m.seals.first_offset(),
                    last_offset: m.seals.last_offset(),
                    count: m.seals.iter().map(|s| s.count).sum(),
                    root: log_roots.get(key).copied(),
                    sealed_at_ms: m.seals.sealed_at_ms(),
                })
                .collect(),
        );
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
        // Log objects are held to their log in step 6.
        if matches!(
            kind,
            KeyKind::Manifest { .. } | KeyKind::Checkpoint { .. } | KeyKind::Tlog { .. }
        ) || referenced.contains(key)
        {
            continue;
        }
        // A run reports the keys of the partitions it selected; keys of no
        // partition only the run that checks_ownerless (shards divide the
        // work without a gap); a time window none.
        let mine = match owner(&opts.prefix, key) {
            Some((t, p)) => !opts.timed() && opts.wanted(&t, p),
            None => opts.checks_ownerless(),
        };
        if !mine {
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
        let (findings, read) =
            checkpoint::checkpoints(store, registry, opts, &by_key, &present, verified).await?;
        report.findings.extend(findings);
        report.checkpoints = read.status;
        let (findings, logs) =
            logs::logs(store, registry, opts, &by_key, &log_ranges, verified).await?;
        report.findings.extend(findings);
        report.logs = logs.status;
        report.coverage.checkpoints_full = read.full;
        report.coverage.checkpoints_listed = read.listed;
        verified_keys.extend(read.docs.keys().cloned());
        verified_keys.extend(logs.keys);
        next_state.accept(&present);
        next_state
            .verified
            .record(&by_key, &verified_keys, manifest_docs, read.docs);
        next_state.verified.record_logs(&by_key, logs.heads);
    } else {
        next_state
            .verified
            .record(&by_key, &verified_keys, manifest_docs, BTreeMap::new());
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
    crate::finding::sort(&mut report.findings);
    Ok((report, next_state))
}
