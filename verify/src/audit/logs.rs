//! §8 step 9 at the IO edge: read every partition's transparency log (its
//! tiles and checkpoints, one GET each, retention from the same GET) and
//! hold it against the archived ranges (`crate::tlogcheck`).

use std::collections::{BTreeMap, BTreeSet};

use archive::layout::{KeyKind, parse_key, parse_tlog_checkpoint_key};
use archive::store::{Retention, Store, VersionEntry};
use futures::StreamExt;
use tlog::{Ed25519Verifier, NoteVerifier};

use super::Options;
use super::manifest::unlocked;
use crate::VerifyError;
use crate::checks::{check_retention, current_version};
use crate::finding::{Finding, FindingKind};
use crate::registry::{Registry, Role};
use crate::report::LogStatus;
use crate::tlogcheck::{LogObjects, LogRange, check_log};
use crate::witnesscheck::check_cosigned;

/// Each read key's Object Lock retention.
type Locks<'a> = BTreeMap<&'a String, Retention>;

/// Step 9: every log of a selected partition, and a finding for a partition
/// with ranges but no log when `opts.logs_expected`.
pub(super) async fn logs(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
    ranges: &BTreeMap<(String, i32), Vec<LogRange>>,
) -> Result<(Vec<Finding>, LogStatus), VerifyError> {
    let mut keys: BTreeMap<(String, i32), Vec<(&String, String)>> = BTreeMap::new();
    for k in by_key.keys() {
        if let KeyKind::Tlog {
            topic,
            partition,
            path,
        } = parse_key(&opts.prefix, k)
        {
            if opts.wanted(&topic, partition) {
                keys.entry((topic, partition)).or_default().push((k, path));
            }
        }
    }
    let mut findings = Vec::new();
    let mut status = LogStatus {
        read: true,
        witness_quorum: if opts.witnesses.keys.is_empty() {
            0
        } else {
            opts.witnesses.quorum.max(1) as u64
        },
        ..LogStatus::default()
    };
    if opts.logs_expected {
        for ((topic, partition), rs) in ranges {
            if !rs.is_empty() && !keys.contains_key(&(topic.clone(), *partition)) {
                findings.push(Finding::new(
                    FindingKind::LogSizeMismatch,
                    topic,
                    *partition,
                    "archiver.transparency_log is on, but this partition has no log",
                ));
            }
        }
    }
    if keys.is_empty() {
        return Ok((findings, status));
    }
    let archiver_keys = registry.keys(Role::Archiver);

    let all: Vec<(&(String, i32), &String, &String)> = keys
        .iter()
        .flat_map(|(at, ks)| ks.iter().map(move |(k, path)| (at, *k, path)))
        .collect();
    let read: Vec<Result<_, VerifyError>> = futures::stream::iter(all)
        .map(|(at, key, path)| async move {
            let versions = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
            let mut found = Vec::new();
            let Some(cur) = current_version(key, &at.0, at.1, versions, &mut found) else {
                return Ok((at, key, path, None, found));
            };
            let got = store
                .get_version_locked(key, &cur.version_id)
                .await
                .map_err(VerifyError::Store)?
                .unwrap_or_else(|| (Vec::new(), unlocked()));
            Ok((at, key, path, Some(got), found))
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;

    let mut per_log: BTreeMap<&(String, i32), (LogObjects, Locks<'_>)> = BTreeMap::new();
    for r in read {
        let (at, key, path, got, found) = r?;
        findings.extend(found);
        let (objects, retention) = per_log.entry(at).or_default();
        let Some((bytes, lock)) = got else {
            continue; // deleted: what the log needs from it is reported missing
        };
        status.bytes += bytes.len() as u64;
        retention.insert(key, lock);
        if let Some(size) = parse_tlog_checkpoint_key("checkpoint/", path) {
            objects.checkpoints.insert(size, (key.clone(), bytes));
        } else if let Some(size) = parse_tlog_checkpoint_key("cosigned/", path) {
            objects.cosigned.insert(size, (key.clone(), bytes));
        } else if path.starts_with("tile/") {
            objects.tiles.insert(path.clone(), (key.clone(), bytes));
        } else {
            objects.other.push(key.clone());
        }
    }
    let none = Vec::new();
    for ((topic, partition), (objects, retention)) in &per_log {
        let origin = format!("{}/{topic}/{partition}", opts.log_origin);
        // Checkpoints are signed under the key name `origin`; archives
        // written before that, under the origin prefix (§11.11).
        let verifiers: Vec<Ed25519Verifier> = archiver_keys
            .iter()
            .flat_map(|k| {
                [origin.as_str(), opts.log_origin.as_str()]
                    .map(|name| Ed25519Verifier::new(name, *k).ok())
            })
            .flatten()
            .collect();
        let verifiers: Vec<&dyn NoteVerifier> =
            verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
        let rs = ranges.get(&(topic.clone(), *partition)).unwrap_or(&none);
        let v = check_log(topic, *partition, &origin, &verifiers, rs, objects);
        status.logs += 1;
        status.leaves += v.size;
        status.pending += u64::from(v.pending.is_some());
        findings.extend(v.findings);
        let mut written_by = v.written_by;
        for (size, (key, _)) in &objects.cosigned {
            // Locked as long as the checkpoint it cosigns.
            let cp = objects.checkpoints.get(size).map(|(k, _)| k);
            if let Some(t) = cp.and_then(|k| written_by.get(k)).copied() {
                written_by.insert(key.clone(), t);
            }
        }
        if status.witness_quorum > 0 {
            let w = check_cosigned(
                topic,
                *partition,
                &verifiers,
                &opts.witnesses,
                &objects.checkpoints,
                &objects.cosigned,
                v.size,
            );
            findings.extend(w.findings);
            status.witnessed += u64::from(v.size > 0 && w.witnessed == Some(v.size));
        }
        let actions = BTreeSet::new();
        for (key, sealed_at_ms) in &written_by {
            if let Some(lock) = retention.get(key) {
                let min = opts.min_retain_until(topic, &actions, *sealed_at_ms);
                findings.extend(check_retention(key, topic, *partition, lock, min));
            }
        }
    }
    Ok((findings, status))
}
