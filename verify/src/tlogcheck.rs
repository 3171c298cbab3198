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
//!
//! An incremental run (`--state`) resumes a log at the newest checkpoint a
//! clean run verified ([`check_log_from`]): a [`TileBuilder`] rebuilt from
//! that size's partial tiles must give the root verified then, and only the
//! leaves, tiles and checkpoints past it are read and checked, the same way.

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

/// The newest checkpoint of a log that a clean run verified: where an
/// incremental run resumes the log (docs/FORMAT.md §8, "Incremental runs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Its size: the leaves verified.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Its key.
    pub key: String,
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
    /// For each key the log needs and this check read: the seal time of
    /// the range whose append wrote it (its retention is counted from
    /// there). Objects an incremental check resumed from are not in it:
    /// their retention was proven by the run that verified them.
    pub written_by: BTreeMap<String, i64>,
    /// The newest checkpoint, when the replay reached it with its root:
    /// where the next incremental run may resume.
    pub head: Option<LogHead>,
}

/// The tree hash of a range's records from their record digests (each
/// distinct offset once, in offset order, as `check_rows_hashed` returns
/// them): what the range's stretch of the log's leaves must hash to, when
/// the rows match the seals.
pub fn digests_root(digests: &[Hash]) -> Hash {
    let leaves: Vec<Hash> = digests.iter().map(|d| tlog::leaf_hash(d)).collect();
    tlog::hash::tree_hash_of(&leaves)
}

/// Whether a range that ends within the first `size` leaves was read in
/// full this run (its records hashed): then its stretch of leaves is to be
/// checked, which needs the log read from its start.
pub fn reads_old_ranges(ranges: &[LogRange], size: u64) -> bool {
    let mut end = 0u64;
    ranges.iter().any(|r| {
        end = end.saturating_add(r.count);
        end <= size && r.root.is_some()
    })
}

/// Which log is checked: (`topic`, `partition`), whose origin line is
/// `origin` and whose checkpoints are signed by one of `verifiers`.
#[derive(Clone, Copy)]
pub struct LogId<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its origin line.
    pub origin: &'a str,
    /// The keys its checkpoints may be signed with.
    pub verifiers: &'a [&'a dyn NoteVerifier],
}

impl std::fmt::Debug for LogId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogId")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("origin", &self.origin)
            .field("verifiers", &self.verifiers.len())
            .finish()
    }
}

/// Checks the log `id` against `ranges`, from its first leaf.
pub fn check_log(id: LogId<'_>, ranges: &[LogRange], objects: &LogObjects) -> LogVerdict {
    check_log_from(None, id, ranges, objects)
}

/// [`check_log`], resumed at `from` when given: the newest checkpoint an
/// earlier clean run verified. Then `objects` need only hold the partial
/// tiles of `from.size`, the tiles and checkpoints written since, and the
/// cosigned notes to check with their checkpoints; the partial tiles must
/// give `from.root` (else `log_root_mismatch` on `from.key`, and the log
/// takes no further part), the ranges up to `from.size` are passed over
/// (one must end there), and checkpoints at smaller sizes are taken as
/// verified. What follows is checked exactly as by [`check_log`].
pub fn check_log_from(
    from: Option<&LogHead>,
    id: LogId<'_>,
    ranges: &[LogRange],
    objects: &LogObjects,
) -> LogVerdict {
    let LogId {
        topic,
        partition,
        origin,
        verifiers,
    } = id;
    let mut v = LogVerdict::default();
    let f = |kind, detail: String| Finding::new(kind, topic, partition, detail);
    let roots = open_checkpoints(origin, verifiers, objects, &mut v.findings, &f);
    let start = from.map_or(0, |h| h.size);
    v.size = roots.keys().next_back().copied().unwrap_or(0).max(start);
    let Some(mut builder) = resume(from, objects, &roots, &mut v.findings, &f) else {
        return v;
    };
    let Some(leaves) = read_leaves(start, v.size, objects, &mut v.findings, &f) else {
        return v;
    };

    // Tile path → (bytes, seal time of the range that wrote it; `None`:
    // written before `start`).
    let mut expected: BTreeMap<String, (Vec<u8>, Option<i64>)> = builder
        .partial_tiles()
        .into_iter()
        .map(|(t, bytes)| (t.path(), (bytes, None)))
        .collect();
    let mut ends: BTreeSet<u64> = from.map(|h| h.size).into_iter().collect();
    let mut pos = 0u64;
    let mut logged = 0;
    for r in ranges {
        let end = pos.saturating_add(r.count);
        if pos < start {
            if end > start {
                let key = from.map_or("", |h| h.key.as_str());
                v.findings.push(
                    f(
                        K::LogSizeMismatch,
                        format!("size {start}, which an earlier clean run verified, is not where an archived range ends"),
                    )
                    .at(key),
                );
                return v;
            }
            (pos, logged) = (end, logged + 1);
            continue;
        }
        if end > v.size {
            break;
        }
        let (Ok(a), Ok(b)) = (usize::try_from(pos - start), usize::try_from(end - start)) else {
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
                expected.insert(t.path(), (bytes, Some(r.sealed_at_ms)));
            }
        }
        for (t, bytes) in builder.partial_tiles() {
            expected
                .entry(t.path())
                .or_insert((bytes, Some(r.sealed_at_ms)));
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
    for (size, (key, _)) in objects.checkpoints.range(start..) {
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
    if pos == v.size && v.size > 0 {
        let key = match objects.checkpoints.get(&pos) {
            Some((key, _)) => Some(key.clone()),
            None => from.filter(|h| h.size == pos).map(|h| h.key.clone()),
        };
        v.head = key.map(|key| LogHead {
            size: pos,
            root: builder.root(),
            key,
        });
    }
    v
}

/// The builder at `from` (an empty one without): resumed from the partial
/// tiles of its size, whose root must be the one verified then (and the
/// root of its checkpoint, if this run read it). `None` after a finding.
fn resume(
    from: Option<&LogHead>,
    objects: &LogObjects,
    roots: &BTreeMap<u64, Hash>,
    findings: &mut Vec<Finding>,
    f: &impl Fn(K, String) -> Finding,
) -> Option<TileBuilder> {
    let Some(h) = from else {
        return Some(TileBuilder::new());
    };
    let mut partial = Vec::new();
    for t in tlog::tile::partial_tiles_for_size(h.size) {
        let path = t.path();
        let Some((key, bytes)) = objects.tiles.get(&path) else {
            findings.push(f(
                K::LogTileMissing,
                format!(
                    "tile {path}, which the checkpoint at size {} needs, is not stored",
                    h.size
                ),
            ));
            return None;
        };
        if bytes.len() != t.byte_len() {
            findings.push(f(K::LogTileAltered, wrong_length(bytes.len(), &t)).at(key));
            return None;
        }
        partial.push((t, bytes.clone()));
    }
    let root = TileBuilder::resume(h.size, &partial)
        .map_err(|e| findings.push(f(K::LogTileAltered, e.to_string()).at(&h.key)))
        .ok()?;
    let read = roots.get(&h.size).filter(|r| **r != h.root);
    if root.root() != h.root || read.is_some() {
        let paths: Vec<String> = partial.iter().map(|(t, _)| t.path()).collect();
        findings.push(
            f(
                K::LogRootMismatch,
                format!(
                    "an earlier clean run verified this checkpoint's root at size {}; the partial tiles {} {} now",
                    h.size,
                    paths.join(", "),
                    if read.is_some() {
                        "agree, but the checkpoint names another root"
                    } else {
                        "give another one"
                    }
                ),
            )
            .at(&h.key),
        );
        return None;
    }
    Some(root)
}

fn wrong_length(len: usize, tile: &Tile) -> String {
    format!(
        "{len} bytes; a tile of {} hashes has {}",
        tile.width(),
        tile.byte_len()
    )
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

/// The log's leaf hashes `from..size`, from its level-0 tiles (full ones,
/// then the partial tile of `size`); `None` after a finding if one is
/// missing or the wrong length.
fn read_leaves(
    from: u64,
    size: u64,
    objects: &LogObjects,
    findings: &mut Vec<Finding>,
    f: &impl Fn(K, String) -> Finding,
) -> Option<Vec<Hash>> {
    let mut leaves = Vec::with_capacity(usize::try_from(size - from).unwrap_or(0));
    let mut n = from / 256;
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
            findings.push(f(K::LogTileAltered, wrong_length(bytes.len(), &tile)).at(key));
            return None;
        }
        // Leaves before `from` are verified already (and in the builder).
        let skip = usize::try_from(from.saturating_sub(n * 256)).unwrap_or(0);
        leaves.extend(
            bytes
                .chunks_exact(32)
                .skip(skip)
                .filter_map(|c| Hash::try_from(c).ok()),
        );
        n += 1;
    }
    Some(leaves)
}

/// Every tile the log's sizes need against what is stored.
fn compare_tiles(
    expected: &BTreeMap<String, (Vec<u8>, Option<i64>)>,
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
                if let Some(t) = sealed_at_ms {
                    v.written_by.insert(key.clone(), *t);
                }
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
mod tests;
