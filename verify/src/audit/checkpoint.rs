//! §8 step 8 at the IO edge: read every checkpoint (or, unchanged since a
//! clean run, take it from what that run read), check their chain, and hold
//! the archive to the newest sound one.

use std::collections::BTreeMap;

use archive::layout::{KeyKind, parse_key};
use archive::store::{Store, VersionEntry};
use chain::checkpoint::Checkpoint;
use futures::StreamExt;
use serde_json::value::RawValue;

use super::Options;
use super::manifest::unlocked;
use crate::VerifyError;
use crate::checkpoints::{as_state, check_checkpoint, check_checkpoint_chain};
use crate::checks::{check_retention, current_version};
use crate::finding::{Finding, FindingKind};
use crate::incremental::Verified;
use crate::registry::Registry;
use crate::report::CheckpointStatus;
use crate::state::Present;

/// What step 8 produced, besides findings.
pub(super) struct Read {
    /// For the report.
    pub status: CheckpointStatus,
    /// Checkpoint key → its JSON, for the state file.
    pub docs: BTreeMap<String, Box<RawValue>>,
    /// Read in full.
    pub full: u64,
    /// Taken from what a clean run read.
    pub listed: u64,
}

/// Step 8: every checkpoint, their chain, and what the newest sound one
/// says the archive must still hold.
pub(super) async fn checkpoints(
    store: &Store,
    registry: &Registry,
    opts: &Options,
    by_key: &BTreeMap<String, Vec<VersionEntry>>,
    present: &BTreeMap<(String, i32), Present>,
    verified: Option<&Verified>,
) -> Result<(Vec<Finding>, Read), VerifyError> {
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
            if let Some(c) = verified.and_then(|v| v.checkpoint(key, versions)) {
                // Unchanged since a clean run: its place and signature are
                // checked again (against today's registry); its retention
                // was proven then.
                let own = check_checkpoint(key, seq, &c, registry);
                let sound = own.is_empty();
                findings.extend(own);
                let json = verified.and_then(|v| v.checkpoints.get(key).cloned());
                return Ok((key.clone(), findings, Some((c, sound)), json, true));
            }
            let Some(current) = current_version(key, "", -1, versions, &mut findings) else {
                return Ok((key.clone(), findings, None, None, false));
            };
            let (bytes, r) = store
                .get_version_locked(key, &current.version_id)
                .await
                .map_err(VerifyError::Store)?
                .unwrap_or_else(|| (Vec::new(), unlocked()));
            let c = match Checkpoint::from_json(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    findings.push(
                        Finding::new(FindingKind::CheckpointMalformed, "", -1, e.to_string())
                            .at(key),
                    );
                    return Ok((key.clone(), findings, None, None, false));
                }
            };
            let own = check_checkpoint(key, seq, &c, registry);
            let sound = own.is_empty();
            findings.extend(own);
            let min_until = opts.checkpoint_retain_until(c.written_at_ms);
            findings.extend(check_retention(key, "", -1, &r, min_until));
            let json = String::from_utf8(bytes)
                .ok()
                .and_then(|s| RawValue::from_string(s).ok());
            Ok((key.clone(), findings, Some((c, sound)), json, false))
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut findings = Vec::new();
    let mut decoded = Vec::new();
    let (mut docs, mut full, mut listed) = (BTreeMap::new(), 0, 0);
    for r in read {
        let (key, fs, c, json, was_listed) = r?;
        findings.extend(fs);
        if was_listed {
            listed += 1;
        } else if c.is_some() {
            full += 1;
        }
        if let Some(json) = json {
            docs.insert(key.clone(), json);
        }
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
    Ok((
        findings,
        Read {
            status,
            docs,
            full,
            listed,
        },
    ))
}
