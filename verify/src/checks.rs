//! The pure checks: plain functions from what was read to findings
//! (`docs/FORMAT.md` §8). No IO here.

use archive::layout::manifest_key;
use archive::store::{Retention, VersionEntry};
use chain::link::{Hash, genesis, link};
use chain::manifest::{Manifest, Seals};
use chain::{Seal, SealKind, merkle};

use crate::finding::{Finding, FindingKind as K};
use crate::registry::{KeyProblem, Registry, Role, utc};
use crate::rows::{Hashed, Row};

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

/// Keys, windows and signatures of a manifest and each of its seals.
pub fn check_signatures(key: &str, m: &Manifest, reg: &Registry) -> Vec<Finding> {
    let mut out = Vec::new();
    let bad = |what: String, s: &Seal| {
        Finding::new(
            K::BadSignature,
            &s.topic,
            s.partition,
            format!("{what} signature does not verify"),
        )
        .at(key)
        .offsets(s.first_offset, s.last_offset)
    };
    for s in &m.seals {
        match reg.lookup(&s.key_id, Role::Sealer, s.sealed_at_ms) {
            Ok(k) => {
                if s.verify(k).is_err() {
                    out.push(bad(format!("seal {}", s.seq), s));
                }
            }
            Err(p) => out.push(key_finding(p, "seal", &s.key_id, s, key)),
        }
    }
    let first = m.seals.first();
    match reg.lookup(&m.key_id, Role::Archiver, m.written_at_ms) {
        Ok(k) => {
            if m.verify(k).is_err() {
                let mut f = bad("manifest".into(), first);
                f = f.offsets(m.seals.first_offset(), m.seals.last_offset());
                out.push(f);
            }
        }
        Err(p) => out.push(
            key_finding(p, "manifest", &m.key_id, first, key)
                .offsets(m.seals.first_offset(), m.seals.last_offset()),
        ),
    }
    out
}

/// How seal `s` fails to follow seal `p` directly in one chain: `prev_head`
/// and offsets (`docs/FORMAT.md` §8 step 5).
fn link_findings(p: &Seal, s: &Seal) -> Vec<(K, String, i64, i64)> {
    let mut out = Vec::new();
    if s.prev_head != p.head {
        out.push((
            K::SealChainBroken,
            format!(
                "prev_head of seal {} is not the head of seal {}",
                s.seq, p.seq
            ),
            s.first_offset,
            s.last_offset,
        ));
    }
    if s.first_offset > p.last_offset + 1 {
        out.push((
            K::OffsetGap,
            format!(
                "no seal covers offsets between seals {} and {}",
                p.seq, s.seq
            ),
            p.last_offset + 1,
            s.first_offset - 1,
        ));
    } else if s.first_offset <= p.last_offset {
        out.push((
            K::RangesOverlap,
            format!("seals {} and {} overlap", p.seq, s.seq),
            s.first_offset,
            p.last_offset,
        ));
    }
    out
}

/// A manifest sits at the key of its run's first offset and covers a run of
/// well-formed data seals of one partition that follow one another.
pub fn check_placement(prefix: &str, key: &str, m: &Manifest) -> Vec<Finding> {
    let first = m.seals.first();
    let (topic, partition) = (first.topic.as_str(), first.partition);
    let mut out = Vec::new();
    let f = |kind, detail: String| Finding::new(kind, topic, partition, detail).at(key);
    for s in &m.seals {
        if s.kind != SealKind::Data || !s.is_well_formed() {
            out.push(f(
                K::ManifestMalformed,
                format!("seal {} is not a well-formed data seal", s.seq),
            ));
        }
        if s.topic != topic || s.partition != partition {
            out.push(f(
                K::ManifestMalformed,
                format!("seal {} is of {}/{}", s.seq, s.topic, s.partition),
            ));
        }
    }
    for w in m.seals.as_slice().windows(2) {
        if w[1].seq <= w[0].seq {
            out.push(f(
                K::ManifestMalformed,
                format!("seal {} follows seal {}", w[1].seq, w[0].seq),
            ));
        }
        for (kind, detail, a, b) in link_findings(&w[0], &w[1]) {
            out.push(f(kind, detail).offsets(a, b));
        }
    }
    let expected = manifest_key(prefix, topic, partition, first.first_offset);
    if key != expected {
        out.push(f(
            K::ManifestMisplaced,
            format!("its first seal belongs at {expected}"),
        ));
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
        let s = m.seals.first();
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
                let ps = p.seals.last();
                // A seal of p with s's seq, or succeeding the same head at
                // the same offset, is a rival of s.
                let rival = p.seals.iter().find(|r| {
                    r.seq == s.seq
                        || (r.prev_head == s.prev_head && r.first_offset == s.first_offset)
                });
                if let Some(r) = rival {
                    out.push(
                        f(
                            K::Fork,
                            key,
                            format!(
                                "seal {} and seal {} both succeed the same head",
                                r.seq, s.seq
                            ),
                        )
                        .offsets(s.first_offset, m.seals.last_offset().max(ps.last_offset)),
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
                    for (kind, detail, a, b) in link_findings(ps, s) {
                        let found = f(kind, key, detail);
                        // A broken head names no offsets, as before.
                        out.push(if kind == K::SealChainBroken {
                            found
                        } else {
                            found.offsets(a, b)
                        });
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

/// The rows of a range's objects against its run of seals. `objects` holds
/// each object's key and rows in stored order.
pub fn check_rows(seals: &Seals, objects: Vec<(String, Vec<Row>)>) -> Vec<Finding> {
    check_rows_hashed(seals, objects).0
}

/// [`check_rows`], also returning the record digests of the range's
/// distinct rows in offset order (computed once, for the seals; the
/// transparency-log check takes them as leaves) — all of them only when
/// there is no finding.
pub fn check_rows_hashed(
    seals: &Seals,
    objects: Vec<(String, Vec<Row>)>,
) -> (Vec<Finding>, Vec<Hash>) {
    let hashed = objects
        .into_iter()
        .map(|(k, rows)| (k, rows.iter().map(Row::hashed).collect()))
        .collect();
    check_digests(seals, hashed)
}

/// [`check_rows_hashed`] over rows already reduced to their offsets and
/// record digests (what `verify` holds while a manifest is checked).
pub fn check_digests(
    seals: &Seals,
    objects: Vec<(String, Vec<Hashed>)>,
) -> (Vec<Finding>, Vec<Hash>) {
    let mut out = Vec::new();
    let mut digests = Vec::new();
    let key = objects.first().map(|(k, _)| k.clone()).unwrap_or_default();
    let (first, last) = (seals.first_offset(), seals.last_offset());
    let f = |kind, key: &str, detail: String, s: &Seal| {
        Finding::new(kind, &s.topic, s.partition, detail)
            .at(key)
            .offsets(s.first_offset, s.last_offset)
    };
    let mut all = Vec::new();
    for (k, rows) in objects {
        if let Some(w) = rows.windows(2).find(|w| w[1].offset < w[0].offset) {
            out.push(
                f(
                    K::RecordsOutOfOrder,
                    &k,
                    format!(
                        "offset {} is stored after offset {}",
                        w[1].offset, w[0].offset
                    ),
                    seals.first(),
                )
                .offsets(first, last),
            );
        }
        all.extend(rows);
    }
    all.sort_by_key(|r| r.offset);
    let before = all.len();
    let outside: Vec<i64> = all
        .iter()
        .filter(|r| r.offset < first || r.offset > last)
        .map(|r| r.offset)
        .collect();
    all.retain(|r| r.offset >= first && r.offset <= last);
    let in_range = all.len();
    all.dedup_by_key(|r| r.offset);
    let duplicates = in_range - all.len();
    if !outside.is_empty() || duplicates > 0 {
        out.push(
            f(
                K::RecordInjected,
                &key,
                format!(
                    "{} row(s) the seals do not cover (outside the range: [{}]; repeated offsets: {duplicates})",
                    before - all.len(),
                    summarise(&outside),
                ),
                seals.first(),
            )
            .offsets(first, last),
        );
    }
    // Each seal against the distinct rows in its own range.
    let mut rest = all.as_slice();
    for seal in seals {
        let n = rest
            .iter()
            .take_while(|r| r.offset <= seal.last_offset)
            .count();
        let (mine, after) = rest.split_at(n);
        rest = after;
        let (finding, hashed) = check_seal_rows(seal, mine, &key, &f);
        out.extend(finding);
        digests.extend(hashed);
    }
    (out, digests)
}

/// One seal against the distinct in-range rows of its range; the rows'
/// record digests when they were computed.
fn check_seal_rows(
    seal: &Seal,
    rows: &[Hashed],
    key: &str,
    f: &impl Fn(K, &str, String, &Seal) -> Finding,
) -> (Option<Finding>, Vec<Hash>) {
    let present = rows.len() as u64;
    if present > seal.count {
        let finding = f(
            K::RecordInjected,
            key,
            format!(
                "{present} distinct offsets for seal {} of {}",
                seal.seq, seal.count
            ),
            seal,
        );
        return (Some(finding), Vec::new());
    }
    if present < seal.count {
        let dense =
            seal.last_offset - seal.first_offset + 1 == i64::try_from(seal.count).unwrap_or(-1);
        let detail = if dense {
            let have: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.offset).collect();
            let gone: Vec<i64> = (seal.first_offset..=seal.last_offset)
                .filter(|o| !have.contains(o))
                .collect();
            format!(
                "{} row(s) missing: offsets [{}]",
                gone.len(),
                summarise(&gone)
            )
        } else {
            format!("{present} rows for seal {} of {}", seal.seq, seal.count)
        };
        return (Some(f(K::RecordMissing, key, detail, seal)), Vec::new());
    }
    let digests: Vec<Hash> = rows.iter().map(|r| r.digest).collect();
    let head = digests.iter().fold(seal.prev_head, |h, d| link(&h, d));
    let altered = (head != seal.head || merkle::root(&digests) != seal.merkle_root).then(|| {
        f(
            K::RecordAltered,
            key,
            format!(
                "rows do not hash to seal {}'s head and Merkle root",
                seal.seq
            ),
            seal,
        )
    });
    (altered, digests)
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
                "retained until {}, policy requires at least {}",
                utc(u.saturating_mul(1000)),
                utc(min_until_secs.saturating_mul(1000))
            ),
        ),
        _ => Vec::new(),
    }
}

/// Older versions of a manifest key whose seals differ from the current
/// one's: a fork (two successors of one head).
pub fn check_fork(key: &str, current: &Manifest, older: &[Manifest]) -> Vec<Finding> {
    let s = &current.seals;
    older
        .iter()
        .filter(|o| o.seals != *s)
        .map(|o| {
            Finding::new(
                K::Fork,
                s.topic(),
                s.partition(),
                format!(
                    "an older version holds other seals {}..={} (offsets {}..={}, head {})",
                    o.seals.first().seq,
                    o.seals.last().seq,
                    o.seals.first_offset(),
                    o.seals.last_offset(),
                    chain::hex::encode(&o.seals.head())
                ),
            )
            .at(key)
            .offsets(s.first_offset(), s.last_offset().max(o.seals.last_offset()))
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
