//! One manifest key: read in full (the manifest, its older versions, every
//! object it names, their retention from the same GETs, their rows), or,
//! when it is unchanged since a clean run, checked from what that run read.

use std::collections::{BTreeMap, BTreeSet};

use archive::store::{Store, VersionEntry};
use chain::manifest::{Manifest, Table};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::Options;
use crate::VerifyError;
use crate::budget::Budget;
use crate::checks::{
    check_digests, check_fork, check_placement, check_retention, check_signatures, current_version,
};
use crate::finding::{Finding, FindingKind};
use crate::registry::Registry;
use crate::rows::{read_events, read_hashed};
use crate::tlogcheck::digests_root;

/// An object's rows, decoded and hashed off the IO task.
enum Decoded {
    Rows(Vec<crate::rows::Hashed>),
    Events(crate::rows::EventsObject),
}

/// What checking one manifest key produced.
pub(super) struct Checked {
    pub key: String,
    /// Outside the time range: not part of this run.
    pub skipped: bool,
    /// Checked from what a clean run read (unchanged since), not read again.
    pub listed: bool,
    pub manifest: Option<Manifest>,
    /// The manifest as read, for the state file.
    pub json: Option<Box<RawValue>>,
    pub findings: Vec<Finding>,
    pub objects: u64,
    pub objects_bad: u64,
    pub objects_missing: u64,
    pub records: u64,
    pub bytes: u64,
    pub referenced: Vec<String>,
    /// The tree hash of the range's records as log leaves, when its
    /// partition has a transparency log and its rows matched the seals.
    pub log_root: Option<tlog::Hash>,
}

impl Checked {
    fn new(key: &str) -> Self {
        Checked {
            key: key.to_owned(),
            skipped: false,
            listed: false,
            manifest: None,
            json: None,
            findings: Vec::new(),
            objects: 0,
            objects_bad: 0,
            objects_missing: 0,
            records: 0,
            bytes: 0,
            referenced: Vec::new(),
            log_root: None,
        }
    }
}

/// A manifest key unchanged since a clean run, with every object it names:
/// the checks that need no bytes (placement, signatures, against today's
/// registry) run again on the manifest that run read; rows, checksums and
/// retention were proven then and are taken on trust from Object Lock and
/// the unchanged versions (docs/FORMAT.md §8, "Incremental runs").
pub(super) fn check_listed(
    registry: &Registry,
    opts: &Options,
    key: &str,
    m: Manifest,
    json: Option<Box<RawValue>>,
) -> Checked {
    let mut c = Checked::new(key);
    c.listed = true;
    c.json = json;
    if !opts.in_time(m.seals.sealed_at_ms()) {
        c.skipped = true;
        c.manifest = Some(m);
        return c;
    }
    c.findings.extend(check_placement(&opts.prefix, key, &m));
    c.findings.extend(check_signatures(key, &m, registry));
    c.objects = m.objects.len() as u64;
    c.referenced = m.objects.iter().map(|o| o.key.clone()).collect();
    let bad: BTreeSet<&str> = c.findings.iter().filter_map(|f| f.key.as_deref()).collect();
    c.objects_bad = m
        .objects
        .iter()
        .filter(|o| bad.contains(o.key.as_str()))
        .count() as u64;
    c.manifest = Some(m);
    c
}

/// A manifest key read and checked in full (§8 steps 2–4).
#[allow(clippy::too_many_arguments)]
pub(super) async fn check_manifest(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    budget: &Budget,
    key: &str,
    topic: &str,
    partition: i32,
    versions: &[VersionEntry],
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
    logged: bool,
) -> Result<Checked, VerifyError> {
    let mut c = Checked::new(key);
    let Some(current) = current_version(key, topic, partition, versions, &mut c.findings) else {
        // Only a delete marker: the manifest is gone; the chain check counts it.
        return Ok(c);
    };
    // The lock headers come with the body: no HeadObject.
    let (bytes, retention) = store
        .get_version_locked(key, &current.version_id)
        .await
        .map_err(VerifyError::Store)?
        .unwrap_or_else(|| (Vec::new(), unlocked()));
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
    // Its objects' bodies and rows are held until the chain is re-hashed:
    // wait until they fit in the run's memory budget.
    let _held = budget
        .take(&m.objects)
        .await
        .ok_or_else(|| VerifyError::Internal("the memory budget was closed".into()))?;
    c.json = String::from_utf8(bytes)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok());
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
    let mut retentions = vec![(key.to_owned(), retention)];
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
        let (body, retention) = store
            .get_version_locked(&o.key, &cur.version_id)
            .await
            .map_err(VerifyError::Store)?
            .unwrap_or_else(|| (Vec::new(), unlocked()));
        let len = body.len();
        c.bytes += len as u64;
        // Hashing and decoding are the CPU-bound part: off the task that
        // drives the IO, so objects are checked on every core.
        let (table, t) = (o.table, topic.to_owned());
        let (sha, decoded) = tokio::task::spawn_blocking(move || {
            let sha: [u8; 32] = Sha256::digest(&body).into();
            let decoded = match table {
                Table::Events => read_events(body, &t, partition).map(Decoded::Events),
                Table::DeadLetters => read_hashed(body).map(Decoded::Rows),
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
        retentions.push((o.key.clone(), retention));
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
        let (row_findings, root) = tokio::task::spawn_blocking(move || {
            let (findings, digests) = check_digests(&seals, rows);
            let root = (logged && findings.is_empty()).then(|| digests_root(&digests));
            (findings, root)
        })
        .await
        .map_err(|e| VerifyError::Internal(format!("checking rows of {key}: {e}")))?;
        c.findings.extend(row_findings);
        c.log_root = root;
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

/// What a version that vanished between the listing and the GET has: no
/// lock (reported as `retention_missing` besides what its absence causes).
pub(super) fn unlocked() -> archive::store::Retention {
    archive::store::Retention {
        mode: None,
        retain_until_secs: None,
    }
}
