//! One partition's transparency log against the archive (docs/FORMAT.md §8
//! step 9, §11.11): pure, over the log's objects as read and the archived
//! ranges in chain order.
//!
//! The leaves are taken from the stored level-0 tiles; everything else is
//! recomputed from them and compared: the root at every checkpoint, every
//! full and partial tile at every level, and, for each range read in full,
//! the RFC 6962 tree hash of its records' leaf hashes against the leaves at
//! its position. So the log the witnesses cosign and the records the
//! manifests name are the same records, in the same order.

use std::collections::{BTreeMap, BTreeSet};

use tlog::{Checkpoint, Hash, NoteVerifier, Tile, TileBuilder};

use crate::finding::{Finding, FindingKind as K};

/// One archived range, in chain order.
#[derive(Debug, Clone)]
pub struct LogRange {
    /// Its manifest's key.
    pub key: String,
    /// Its offsets, for findings.
    pub first_offset: i64,
    /// Its last offset.
    pub last_offset: i64,
    /// The records its data seals cover: the leaves it adds.
    pub count: u64,
    /// The tree hash of its records' leaf hashes, when this run read its rows
    /// and they matched the seals (`None` when checked by listing).
    pub root: Option<Hash>,
    /// When it was sealed (the retention of what its append wrote).
    pub sealed_at_ms: i64,
}

/// A partition's log objects as read: `path` is the key inside the log's
/// folder (`tile/…`, `checkpoint/…`).
#[derive(Debug, Default)]
pub struct LogObjects {
    /// Checkpoints by the size their key names: (key, bytes).
    pub checkpoints: BTreeMap<u64, (String, Vec<u8>)>,
    /// Tiles by path: (key, bytes).
    pub tiles: BTreeMap<String, (String, Vec<u8>)>,
    /// Checkpoints with witness cosignatures, by size (§11.12).
    pub cosigned: BTreeMap<u64, (String, Vec<u8>)>,
    /// Keys in the folder that are neither.
    pub other: Vec<String>,
}

/// What checking one log found.
#[derive(Debug, Default)]
pub struct LogVerdict {
    /// The findings.
    pub findings: Vec<Finding>,
    /// Leaves the log holds (its newest valid checkpoint's size).
    pub size: u64,
    /// The newest range, archived but not yet in the log (the archiver
    /// logs a range just after storing its manifest).
    pub pending: Option<String>,
    /// For each key the log needs: the seal time of the range whose append
    /// wrote it (its retention is counted from there).
    pub written_by: BTreeMap<String, i64>,
}

/// The tree hash of a range's records from their record digests (each
/// distinct offset once, in offset order, as `check_rows_hashed` returns
/// them): what the range's stretch of the log's leaves must hash to, when
/// the rows match the seals.
pub fn digests_root(digests: &[Hash]) -> Hash {
    let leaves: Vec<Hash> = digests.iter().map(|d| tlog::leaf_hash(d)).collect();
    tlog::hash::tree_hash_of(&leaves)
}

/// Checks the log of (`topic`, `partition`) whose origin line is `origin`,
/// its checkpoints signed by one of `verifiers`, against `ranges`.
pub fn check_log(
    topic: &str,
    partition: i32,
    origin: &str,
    verifiers: &[&dyn NoteVerifier],
    ranges: &[LogRange],
    objects: &LogObjects,
) -> LogVerdict {
    let mut v = LogVerdict::default();
    let f = |kind, detail: String| Finding::new(kind, topic, partition, detail);
    let roots = open_checkpoints(origin, verifiers, objects, &mut v.findings, &f);
    v.size = roots.keys().next_back().copied().unwrap_or(0);
    let Some(leaves) = read_leaves(v.size, objects, &mut v.findings, &f) else {
        return v;
    };

    let mut builder = TileBuilder::new();
    let mut expected: BTreeMap<String, (Vec<u8>, i64)> = BTreeMap::new();
    let mut ends = BTreeSet::new();
    let mut pos = 0u64;
    let mut logged = 0;
    for r in ranges {
        let end = pos.saturating_add(r.count);
        if end > v.size {
            break;
        }
        let (Ok(a), Ok(b)) = (usize::try_from(pos), usize::try_from(end)) else {
            break;
        };
        let stretch = leaves.get(a..b).unwrap_or_default();
        if r.root
            .is_some_and(|root| tlog::hash::tree_hash_of(stretch) != root)
        {
            v.findings.push(
                f(
                    K::LogLeafMismatch,
                    format!("the range's records are not the log's leaves {pos}..{end}"),
                )
                .at(&r.key)
                .offsets(r.first_offset, r.last_offset),
            );
        }
        for leaf in stretch {
            for (t, bytes) in builder.append(*leaf) {
                expected.insert(t.path(), (bytes, r.sealed_at_ms));
            }
        }
        for (t, bytes) in builder.partial_tiles() {
            expected.entry(t.path()).or_insert((bytes, r.sealed_at_ms));
        }
        match (roots.get(&end), objects.checkpoints.get(&end)) {
            (Some(root), Some((key, _))) => {
                v.written_by.insert(key.clone(), r.sealed_at_ms);
                if *root != builder.root() {
                    v.findings.push(
                        f(
                            K::LogRootMismatch,
                            format!("its root is not the tree hash of the log's {end} leaves"),
                        )
                        .at(key),
                    );
                }
            }
            (_, Some(_)) => {} // refused above
            (_, None) => v.findings.push(
                f(
                    K::LogSizeMismatch,
                    format!("no checkpoint at size {end}, where this range ends"),
                )
                .at(&r.key)
                .offsets(r.first_offset, r.last_offset),
            ),
        }
        ends.insert(end);
        pos = end;
        logged += 1;
    }
    let unlogged = &ranges[logged..];
    if pos < v.size {
        v.findings.push(f(
            K::LogSizeMismatch,
            format!(
                "the log holds {} leaves; the archived ranges account for {pos} before it (a checkpoint inside a range, or leaves no manifest names)",
                v.size
            ),
        ));
    }
    match unlogged {
        [] => {}
        [last] if pos == v.size => v.pending = Some(last.key.clone()),
        [first, .., last] | [first @ last] => v.findings.push(
            f(
                K::LogSizeMismatch,
                format!("{} archived range(s) are not in the log", unlogged.len()),
            )
            .at(&first.key)
            .offsets(first.first_offset, last.last_offset),
        ),
    }
    for (size, (key, _)) in &objects.checkpoints {
        if roots.contains_key(size) && !ends.contains(size) && *size <= pos {
            v.findings.push(
                f(
                    K::LogSizeMismatch,
                    format!("size {size} is not where an archived range ends"),
                )
                .at(key),
            );
        }
    }
    compare_tiles(&expected, objects, &mut v, &f);
    v
}

/// Opens every checkpoint; the valid ones' roots by size.
fn open_checkpoints(
    origin: &str,
    verifiers: &[&dyn NoteVerifier],
    objects: &LogObjects,
    findings: &mut Vec<Finding>,
    f: &impl Fn(K, String) -> Finding,
) -> BTreeMap<u64, Hash> {
    let mut roots = BTreeMap::new();
    for (size, (key, bytes)) in &objects.checkpoints {
        let problem = match Checkpoint::open(bytes, verifiers) {
            Err(e) => Some(format!(
                "not a checkpoint signed by the archiver's log key: {e}"
            )),
            Ok((c, _)) if c.origin != origin || c.size != *size => Some(format!(
                "it names {} at size {}; its key says {origin} at size {size}",
                c.origin, c.size
            )),
            Ok((c, _)) => {
                roots.insert(*size, c.root);
                None
            }
        };
        if let Some(p) = problem {
            findings.push(f(K::LogCheckpointBad, p).at(key));
        }
    }
    roots
}

/// The log's first `size` leaf hashes, from its level-0 tiles (full ones,
/// then the partial tile of `size`); `None` after a finding if one is
/// missing or the wrong length.
fn read_leaves(
    size: u64,
    objects: &LogObjects,
    findings: &mut Vec<Finding>,
    f: &impl Fn(K, String) -> Finding,
) -> Option<Vec<Hash>> {
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut n = 0u64;
    while n * 256 < size {
        let width = (size - n * 256).min(256);
        let tile = Tile::new(0, n, u16::try_from(width).unwrap_or(256)).ok()?;
        let path = tile.path();
        let Some((key, bytes)) = objects.tiles.get(&path) else {
            findings.push(f(
                K::LogTileMissing,
                format!("tile {path}, which the checkpoint at size {size} needs, is not stored"),
            ));
            return None;
        };
        if bytes.len() != tile.byte_len() {
            findings.push(
                f(
                    K::LogTileAltered,
                    format!(
                        "{} bytes; a tile of {width} hashes has {}",
                        bytes.len(),
                        tile.byte_len()
                    ),
                )
                .at(key),
            );
            return None;
        }
        leaves.extend(
            bytes
                .chunks_exact(32)
                .filter_map(|c| Hash::try_from(c).ok()),
        );
        n += 1;
    }
    Some(leaves)
}

/// Every tile the log's sizes need against what is stored.
fn compare_tiles(
    expected: &BTreeMap<String, (Vec<u8>, i64)>,
    objects: &LogObjects,
    v: &mut LogVerdict,
    f: &impl Fn(K, String) -> Finding,
) {
    for (path, (bytes, sealed_at_ms)) in expected {
        match objects.tiles.get(path) {
            None => v
                .findings
                .push(f(K::LogTileMissing, format!("tile {path} is not stored"))),
            Some((key, stored)) => {
                v.written_by.insert(key.clone(), *sealed_at_ms);
                if stored != bytes {
                    v.findings.push(
                        f(
                            K::LogTileAltered,
                            "its hashes are not those of the log's leaves".into(),
                        )
                        .at(key),
                    );
                }
            }
        }
    }
    let stray = objects
        .tiles
        .iter()
        .filter(|(path, _)| !expected.contains_key(*path))
        .map(|(_, (key, _))| key)
        .chain(&objects.other);
    for key in stray {
        v.findings.push(
            f(
                K::UnreferencedObject,
                "in the log's folder, but no size of the log needs it".into(),
            )
            .at(key),
        );
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use tlog::{Ed25519Signer, Note, NoteSigner};

    use super::*;

    const ORIGIN: &str = "auditlog.local/b/t/0";

    fn digest(i: u64) -> Hash {
        <sha2::Sha256 as sha2::Digest>::digest(i.to_be_bytes()).into()
    }

    fn signer(seed: u8) -> Ed25519Signer {
        Ed25519Signer::new("auditlog.local/b", SigningKey::from_bytes(&[seed; 32])).expect("signer")
    }

    /// A log as the archiver writes it: ranges of `counts` records, the
    /// first `logged` of them appended, each with its tiles and checkpoint.
    fn build(counts: &[u64], logged: usize) -> (Vec<LogRange>, LogObjects) {
        let s = signer(7);
        let (mut ranges, mut objects) = (Vec::new(), LogObjects::default());
        let (mut b, mut next) = (TileBuilder::new(), 0u64);
        for (i, n) in counts.iter().enumerate() {
            let leaves: Vec<Hash> = (next..next + n)
                .map(|j| tlog::leaf_hash(&digest(j)))
                .collect();
            ranges.push(LogRange {
                key: format!("m{i}"),
                first_offset: next as i64,
                last_offset: (next + n) as i64 - 1,
                count: *n,
                root: Some(tlog::hash::tree_hash_of(&leaves)),
                sealed_at_ms: 1_000 * i as i64,
            });
            next += n;
            if i >= logged {
                continue;
            }
            for l in leaves {
                for (t, bytes) in b.append(l) {
                    objects
                        .tiles
                        .insert(t.path(), (format!("k/{}", t.path()), bytes));
                }
            }
            for (t, bytes) in b.partial_tiles() {
                objects
                    .tiles
                    .insert(t.path(), (format!("k/{}", t.path()), bytes));
            }
            objects.checkpoints.insert(
                b.size(),
                (format!("k/cp/{}", b.size()), note(&s, b.size(), b.root())),
            );
        }
        (ranges, objects)
    }

    fn note(s: &Ed25519Signer, size: u64, root: Hash) -> Vec<u8> {
        let text = Checkpoint::new(ORIGIN, size, root).to_text();
        Note::sign(&text, &[s as &dyn NoteSigner])
            .expect("signs")
            .to_bytes()
    }

    fn run(ranges: &[LogRange], objects: &LogObjects) -> LogVerdict {
        let s = signer(7);
        check_log(
            "t",
            0,
            ORIGIN,
            &[s.verifier() as &dyn NoteVerifier],
            ranges,
            objects,
        )
    }

    fn kinds(v: &LogVerdict) -> Vec<K> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_log_as_written_holds_every_range_and_tile() {
        let (ranges, objects) = build(&[300, 5, 250, 1], 4);
        let v = run(&ranges, &objects);
        assert_eq!(kinds(&v), [], "{:?}", v.findings);
        assert_eq!((v.size, v.pending.as_deref()), (556, None));
        // Every stored object is one the log needs, with the seal time of its range.
        assert_eq!(
            v.written_by.len(),
            objects.tiles.len() + objects.checkpoints.len()
        );
    }

    #[test]
    fn an_archived_range_whose_records_are_not_the_leaves_is_named() {
        let (mut ranges, objects) = build(&[300, 5, 250], 3);
        ranges[1].root = Some(digest(99));
        let v = run(&ranges, &objects);
        assert_eq!(kinds(&v), [K::LogLeafMismatch]);
        assert_eq!(v.findings[0].key.as_deref(), Some("m1"));
    }

    #[test]
    fn a_rewritten_leaf_tile_breaks_its_checkpoints_and_its_range() {
        let (ranges, mut objects) = build(&[300, 5, 250], 3);
        let (_, bytes) = objects.tiles.get_mut("tile/0/000").expect("full tile");
        bytes[40] ^= 1;
        let v = run(&ranges, &objects);
        let k = kinds(&v);
        assert!(
            k.contains(&K::LogLeafMismatch) && k.contains(&K::LogRootMismatch),
            "{k:?}"
        );
    }

    #[test]
    fn a_checkpoint_by_another_key_or_of_another_log_is_refused() {
        let (ranges, mut objects) = build(&[300, 5], 2);
        let root = TileBuilder::new().root();
        objects.checkpoints.get_mut(&300).expect("cp").1 = note(&signer(8), 300, root);
        let text = Checkpoint::new("auditlog.local/b/t/1", 305, root).to_text();
        objects.checkpoints.get_mut(&305).expect("cp").1 =
            Note::sign(&text, &[&signer(7) as &dyn NoteSigner])
                .expect("signs")
                .to_bytes();
        let v = run(&ranges, &objects);
        assert_eq!(
            kinds(&v)
                .iter()
                .filter(|k| **k == K::LogCheckpointBad)
                .count(),
            2,
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn only_the_newest_range_may_wait_for_the_log() {
        let (ranges, objects) = build(&[10, 20, 30], 2);
        let v = run(&ranges, &objects);
        assert_eq!((kinds(&v), v.pending.as_deref()), (vec![], Some("m2")));
        let (ranges, objects) = build(&[10, 20, 30], 1);
        let v = run(&ranges, &objects);
        assert_eq!(kinds(&v), [K::LogSizeMismatch], "{:?}", v.findings);
    }

    #[test]
    fn a_missing_checkpoint_or_tile_and_a_stray_object_are_named() {
        let (ranges, mut objects) = build(&[300, 5, 250], 3);
        objects.checkpoints.remove(&305);
        objects.tiles.remove("tile/1/000.p/2");
        objects
            .tiles
            .insert("tile/0/999".into(), ("k/stray".into(), vec![0; 32 * 256]));
        let v = run(&ranges, &objects);
        let k = kinds(&v);
        for want in [K::LogSizeMismatch, K::LogTileMissing, K::UnreferencedObject] {
            assert!(k.contains(&want), "{want:?} in {k:?}");
        }
    }

    #[test]
    fn leaves_no_range_accounts_for_are_named() {
        let (mut ranges, objects) = build(&[10, 20], 2);
        ranges.pop();
        let v = run(&ranges, &objects);
        assert!(kinds(&v).contains(&K::LogSizeMismatch), "{:?}", v.findings);
    }
}
