//! The pure checks: plain functions from what was read to findings
//! (`docs/FORMAT.md` §8). No IO here.

use archiver::layout::manifest_key;
use archiver::store::{Retention, VersionEntry};
use chain::link::{Hash, RecordRef, genesis, link, record_digest};
use chain::manifest::Manifest;
use chain::{Seal, SealKind, merkle};

use crate::finding::{Finding, FindingKind as K};
use crate::registry::{KeyProblem, Registry, Role};
use crate::rows::Row;

fn key_finding(
    problem: KeyProblem,
    what: &str,
    id: &chain::KeyId,
    seal: &Seal,
    key: &str,
) -> Finding {
    let (kind, detail) = match problem {
        KeyProblem::Unknown => (
            K::UnknownKey,
            format!("{what} signed by unregistered key {id}"),
        ),
        KeyProblem::OutsideWindow { window } => (
            K::KeyOutsideWindow,
            format!("{what} signed by key {id} outside its window ({window})"),
        ),
    };
    Finding::new(kind, &seal.topic, seal.partition, detail)
        .at(key)
        .offsets(seal.first_offset, seal.last_offset)
}

/// Keys, windows and both signatures of a manifest and its seal.
pub fn check_signatures(key: &str, m: &Manifest, reg: &Registry) -> Vec<Finding> {
    let mut out = Vec::new();
    let s = &m.seal;
    let bad = |what: &str| {
        Finding::new(
            K::BadSignature,
            &s.topic,
            s.partition,
            format!("{what} signature does not verify"),
        )
        .at(key)
        .offsets(s.first_offset, s.last_offset)
    };
    match reg.lookup(&s.key_id, Role::Sealer, s.sealed_at_ms) {
        Ok(k) => {
            if s.verify(k).is_err() {
                out.push(bad("seal"));
            }
        }
        Err(p) => out.push(key_finding(p, "seal", &s.key_id, s, key)),
    }
    match reg.lookup(&m.key_id, Role::Archiver, m.written_at_ms) {
        Ok(k) => {
            if m.verify(k).is_err() {
                out.push(bad("manifest"));
            }
        }
        Err(p) => out.push(key_finding(p, "manifest", &m.key_id, s, key)),
    }
    out
}

/// A manifest sits at the key its seal names and covers a data seal.
pub fn check_placement(prefix: &str, key: &str, m: &Manifest) -> Vec<Finding> {
    let s = &m.seal;
    let mut out = Vec::new();
    if s.kind != SealKind::Data || !s.is_well_formed() {
        out.push(
            Finding::new(
                K::ManifestMalformed,
                &s.topic,
                s.partition,
                "seal is not a well-formed data seal",
            )
            .at(key),
        );
    }
    let expected = manifest_key(prefix, &s.topic, s.partition, s.first_offset);
    if key != expected {
        out.push(
            Finding::new(
                K::ManifestMisplaced,
                &s.topic,
                s.partition,
                format!("its seal belongs at {expected}"),
            )
            .at(key),
        );
    }
    out
}

/// The links between a partition's manifests, sorted by first offset.
/// `from_start`: the first present manifest must be `seq` 0. Returns the
/// findings and how many manifests are missing.
pub fn check_chain(
    topic: &str,
    partition: i32,
    ms: &[(String, Manifest)],
    from_start: bool,
) -> (Vec<Finding>, u64) {
    let mut out = Vec::new();
    let mut missing = 0u64;
    let f = |kind, key: &str, detail: String| Finding::new(kind, topic, partition, detail).at(key);
    let mut prev: Option<&Manifest> = None;
    for (key, m) in ms {
        let s = &m.seal;
        match prev {
            None => {
                if from_start && m.seq > 0 {
                    missing += m.seq;
                    out.push(
                        f(
                            K::ManifestMissing,
                            key,
                            format!("{} manifest(s) before seq {} are missing", m.seq, m.seq),
                        )
                        .offsets(0, s.first_offset - 1),
                    );
                } else if m.seq == 0 {
                    if m.prev_manifest.is_some() {
                        out.push(f(
                            K::ManifestChainBroken,
                            key,
                            "seq 0 names a previous manifest".into(),
                        ));
                    }
                    if s.prev_head != genesis(topic, partition) {
                        out.push(f(
                            K::SealChainBroken,
                            key,
                            "the first seal does not start at genesis".into(),
                        ));
                    }
                }
            }
            Some(p) => {
                let ps = &p.seal;
                if s.seq == ps.seq
                    || (s.prev_head == ps.prev_head && s.first_offset == ps.first_offset)
                {
                    out.push(
                        f(
                            K::Fork,
                            key,
                            format!(
                                "seal {} and seal {} both succeed the same head",
                                ps.seq, s.seq
                            ),
                        )
                        .offsets(s.first_offset, s.last_offset.max(ps.last_offset)),
                    );
                } else if m.seq > p.seq + 1 {
                    let n = m.seq - p.seq - 1;
                    missing += n;
                    out.push(
                        f(
                            K::ManifestMissing,
                            key,
                            format!(
                                "{n} manifest(s) between seq {} and {} are missing",
                                p.seq, m.seq
                            ),
                        )
                        .offsets(ps.last_offset + 1, s.first_offset - 1),
                    );
                } else if m.seq != p.seq + 1 {
                    out.push(f(
                        K::ManifestChainBroken,
                        key,
                        format!("seq {} follows seq {}", m.seq, p.seq),
                    ));
                } else {
                    if m.prev_manifest != Some(p.digest()) {
                        out.push(f(
                            K::ManifestChainBroken,
                            key,
                            "prev_manifest is not the digest of the previous manifest".into(),
                        ));
                    }
                    if s.prev_head != ps.head {
                        out.push(f(
                            K::SealChainBroken,
                            key,
                            format!("prev_head is not the head of seal {}", ps.seq),
                        ));
                    }
                    if s.first_offset > ps.last_offset + 1 {
                        out.push(
                            f(
                                K::OffsetGap,
                                key,
                                format!(
                                    "no seal covers offsets between seals {} and {}",
                                    ps.seq, s.seq
                                ),
                            )
                            .offsets(ps.last_offset + 1, s.first_offset - 1),
                        );
                    } else if s.first_offset <= ps.last_offset {
                        out.push(
                            f(
                                K::RangesOverlap,
                                key,
                                format!("seals {} and {} overlap", ps.seq, s.seq),
                            )
                            .offsets(s.first_offset, ps.last_offset),
                        );
                    }
                }
            }
        }
        prev = Some(m);
    }
    (out, missing)
}

fn summarise(offsets: &[i64]) -> String {
    let shown: Vec<String> = offsets.iter().take(5).map(i64::to_string).collect();
    let more = offsets.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The rows of a range's objects against its seal. `objects` holds each
/// object's key and rows in stored order.
pub fn check_rows(seal: &Seal, objects: Vec<(String, Vec<Row>)>) -> Vec<Finding> {
    let mut out = Vec::new();
    let key = objects.first().map(|(k, _)| k.clone()).unwrap_or_default();
    let f = |kind, key: &str, detail: String| {
        Finding::new(kind, &seal.topic, seal.partition, detail)
            .at(key)
            .offsets(seal.first_offset, seal.last_offset)
    };
    let mut all = Vec::new();
    for (k, rows) in objects {
        if let Some(w) = rows.windows(2).find(|w| w[1].offset < w[0].offset) {
            out.push(f(
                K::RecordsOutOfOrder,
                &k,
                format!(
                    "offset {} is stored after offset {}",
                    w[1].offset, w[0].offset
                ),
            ));
        }
        all.extend(rows);
    }
    all.sort_by_key(|r| r.offset);
    let before = all.len();
    let mut injected: Vec<i64> = all
        .iter()
        .filter(|r| r.offset < seal.first_offset || r.offset > seal.last_offset)
        .map(|r| r.offset)
        .collect();
    all.retain(|r| r.offset >= seal.first_offset && r.offset <= seal.last_offset);
    let in_range = all.len();
    all.dedup_by_key(|r| r.offset);
    let duplicates = in_range - all.len();
    let present = all.len() as u64;
    if present > seal.count {
        injected.push(i64::MIN);
    }
    if !injected.is_empty() || duplicates > 0 {
        let outside: Vec<i64> = injected
            .iter()
            .copied()
            .filter(|&o| o != i64::MIN)
            .collect();
        out.push(f(
            K::RecordInjected,
            &key,
            format!(
                "{} row(s) the seal does not cover (outside the range: [{}]; repeated offsets: {duplicates}; {present} distinct offsets for a count of {})",
                before - present as usize,
                summarise(&outside),
                seal.count
            ),
        ));
    }
    if present < seal.count {
        let dense =
            seal.last_offset - seal.first_offset + 1 == i64::try_from(seal.count).unwrap_or(-1);
        let detail = if dense {
            let have: std::collections::BTreeSet<i64> = all.iter().map(|r| r.offset).collect();
            let gone: Vec<i64> = (seal.first_offset..=seal.last_offset)
                .filter(|o| !have.contains(o))
                .collect();
            format!(
                "{} row(s) missing: offsets [{}]",
                gone.len(),
                summarise(&gone)
            )
        } else {
            format!("{present} rows for a seal of {}", seal.count)
        };
        out.push(f(K::RecordMissing, &key, detail));
        return out;
    }
    if present == seal.count {
        let digests: Vec<Hash> = all
            .iter()
            .map(|r| {
                record_digest(&RecordRef {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                })
            })
            .collect();
        let head = digests.iter().fold(seal.prev_head, |h, d| link(&h, d));
        if head != seal.head || merkle::root(&digests) != seal.merkle_root {
            out.push(f(
                K::RecordAltered,
                &key,
                "rows do not hash to the seal's head and Merkle root".into(),
            ));
        }
    }
    out
}

/// One version's retention against the policy's minimum.
pub fn check_retention(
    key: &str,
    topic: &str,
    partition: i32,
    r: &Retention,
    min_until_secs: i64,
) -> Vec<Finding> {
    let f = |kind, detail: String| vec![Finding::new(kind, topic, partition, detail).at(key)];
    match (r.mode.as_deref(), r.retain_until_secs) {
        (None, _) | (_, None) => f(K::RetentionMissing, "no Object Lock retention".into()),
        (Some(m), _) if m != "COMPLIANCE" => {
            f(K::RetentionNotCompliance, format!("retention mode is {m}"))
        }
        (_, Some(u)) if u < min_until_secs => f(
            K::RetentionTooShort,
            format!(
                "retained until {u}, policy requires at least {min_until_secs} (seconds since the epoch)"
            ),
        ),
        _ => Vec::new(),
    }
}

/// Older versions of a manifest key whose seal differs from the current
/// one's: a fork (two successors of one head).
pub fn check_fork(key: &str, current: &Manifest, older: &[Manifest]) -> Vec<Finding> {
    let s = &current.seal;
    older
        .iter()
        .filter(|o| o.seal != *s)
        .map(|o| {
            Finding::new(
                K::Fork,
                &s.topic,
                s.partition,
                format!(
                    "an older version holds another seal {} (offsets {}..={}, head {})",
                    o.seal.seq,
                    o.seal.first_offset,
                    o.seal.last_offset,
                    chain::hex::encode(&o.seal.head)
                ),
            )
            .at(key)
            .offsets(s.first_offset, s.last_offset.max(o.seal.last_offset))
        })
        .collect()
}

/// The version readers get: the newest entry unless it is a delete marker.
/// Also reports keys with more than one entry.
pub fn current_version<'a>(
    key: &str,
    topic: &str,
    partition: i32,
    versions: &'a [VersionEntry],
    out: &mut Vec<Finding>,
) -> Option<&'a VersionEntry> {
    if versions.len() > 1 {
        let ids: Vec<String> = versions
            .iter()
            .map(|v| {
                format!(
                    "{}{}",
                    v.version_id,
                    if v.delete_marker {
                        " (delete marker)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        out.push(
            Finding::new(
                K::ExtraVersion,
                topic,
                partition,
                format!("{} versions: {}", versions.len(), ids.join(", ")),
            )
            .at(key),
        );
    }
    versions
        .iter()
        .find(|v| v.is_latest)
        .filter(|v| !v.delete_marker)
}
