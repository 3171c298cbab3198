//! §8 step 9 at the IO edge: read every partition's transparency log (its
//! tiles and checkpoints, one GET each, retention from the same GET) and
//! hold it against the archived ranges (`crate::tlogcheck`). With a state
//! file, a log unchanged since a clean run verified it is resumed at the
//! newest checkpoint that run verified, and only what was written since
//! (and the few partial tiles of that size) is read
//! (`crate::incremental::Verified::log_plan`).

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
use crate::incremental::{LogKeys, LogMark, LogPlan, Verified};
use crate::registry::{Registry, Role};
use crate::report::LogStatus;
use crate::tlogcheck::{LogId, LogObjects, LogRange, check_log_from, reads_old_ranges};
use crate::witnesscheck::check_cosigned;

/// Each read key's Object Lock retention.
type Locks<'a> = BTreeMap<&'a String, Retention>;

/// What step 9 produced, besides findings.
#[derive(Debug, Default)]
pub(super) struct LogsRead {
    /// For the report.
    pub status: LogStatus,
    /// Every key of the logs checked (read, or unchanged since a clean run
    /// verified it), for the state file.
    pub keys: Vec<String>,
    /// `"<topic>/<partition>"` → the newest checkpoint checked, for the
    /// state file.
    pub heads: BTreeMap<String, LogMark>,
}

/// Step 9: every log of a selected partition, and a finding for a partition
/// with ranges but no log when `opts.logs_expected`.
pub(super) async fn logs(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
    ranges: &BTreeMap<(String, i32), Vec<LogRange>>,
    verified: Option<&Verified>,
) -> Result<(Vec<Finding>, LogsRead), VerifyError> {
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
    let mut out = LogsRead::default();
    if keys.is_empty() {
        out.status = status;
        return Ok((findings, out));
    }
    let archiver_keys = registry.keys(Role::Archiver);
    let none = Vec::new();
    let witnessed = status.witness_quorum > 0;
    // Logs a clean run verified and nothing of which changed since: resumed.
    let plans: BTreeMap<&(String, i32), LogPlan> = keys
        .iter()
        .filter_map(|(at, ks)| {
            let log = LogKeys {
                prefix: &opts.prefix,
                topic: &at.0,
                partition: at.1,
                keys: ks,
            };
            let plan = verified?.log_plan(log, by_key, witnessed)?;
            let rs = ranges.get(at).unwrap_or(&none);
            (!reads_old_ranges(rs, plan.from.size)).then_some((at, plan))
        })
        .collect();
    for ks in keys.values() {
        out.keys.extend(ks.iter().map(|(k, _)| (*k).clone()));
    }

    let all: Vec<(&(String, i32), &String, &String)> = keys
        .iter()
        .flat_map(|(at, ks)| {
            let plan = plans.get(at);
            ks.iter()
                .filter(move |(k, _)| plan.is_none_or(|p| p.read.contains(*k)))
                .map(move |(k, path)| (at, *k, path))
        })
        .collect();
    status.listed = keys.values().map(|ks| ks.len() as u64).sum::<u64>() - all.len() as u64;
    status.resumed = plans.len() as u64;
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

    let mut per_log: BTreeMap<&(String, i32), (LogObjects, Locks<'_>)> =
        keys.keys().map(|at| (at, Default::default())).collect();
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
    for (at, (objects, retention)) in &per_log {
        let (topic, partition) = at;
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
        let from = plans.get(at).map(|p| &p.from);
        let id = LogId {
            topic,
            partition: *partition,
            origin: &origin,
            verifiers: &verifiers,
        };
        let v = check_log_from(from, id, rs, objects);
        if let Some(h) = &v.head {
            out.heads
                .insert(format!("{topic}/{partition}"), LogMark::of(h));
        }
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
    out.status = status;
    Ok((findings, out))
}
