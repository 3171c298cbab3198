//! Building tiles: all at once from leaf hashes ([`tiles_of`]) or one leaf
//! at a time ([`TileBuilder`]). Two constructions, so tests can hold each to
//! the other and both to Go's `sumdb/tlog`.

use super::{TILE_HEIGHT, TILE_WIDTH, Tile, perfect_root, tile_hashes};
use crate::TlogError;
use crate::hash::{Hash, empty_hash, node_hash};

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Every tile (full and partial) of the tree of these leaf hashes, with its
/// bytes, in the order of [`super::tiles_for_size`].
pub fn tiles_of(leaf_hashes: &[Hash]) -> Vec<(Tile, Vec<u8>)> {
    let mut out = Vec::new();
    let mut row: Vec<Hash> = leaf_hashes.to_vec();
    let mut level = 0u8;
    while !row.is_empty() && level <= 63 {
        let mut above = Vec::with_capacity(row.len() / usize::from(TILE_WIDTH));
        for (i, chunk) in row.chunks(usize::from(TILE_WIDTH)).enumerate() {
            let width = chunk.len() as u16; // ≤ 256
            out.push((
                Tile {
                    level,
                    index: i as u64,
                    width,
                },
                concat(chunk),
            ));
            if width == TILE_WIDTH {
                above.push(perfect_root(chunk));
            }
        }
        row = above;
        level += 1;
    }
    out
}

/// Builds a log's tiles as leaves arrive, keeping only the open (partial)
/// tile of each level: at most 255 hashes a level, so memory stays a few
/// kilobytes however large the log grows.
///
/// [`TileBuilder::append`] returns each full tile as it completes; those are
/// immutable and can be written once. [`TileBuilder::partial_tiles`] gives
/// the partial tiles a checkpoint at the current size needs, and
/// [`TileBuilder::root`] that checkpoint's root hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileBuilder {
    size: u64,
    /// The hashes of the open tile at each level.
    open: Vec<Vec<Hash>>,
}

impl TileBuilder {
    /// A builder for an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes a log of `size` leaves from its partial tiles (exactly those
    /// a tree of `size` has, as [`TileBuilder::partial_tiles`] returned them,
    /// in any order). The full tiles are not needed.
    pub fn resume(size: u64, partial: &[(Tile, Vec<u8>)]) -> Result<Self, TlogError> {
        let mut b = TileBuilder {
            size,
            open: Vec::new(),
        };
        let want = super::partial_tiles_for_size(size);
        if partial.len() != want.len() {
            return Err(TlogError::TileData {
                tile: format!("partial tiles of size {size}"),
                reason: format!("{} given, the tree has {}", partial.len(), want.len()),
            });
        }
        for w in want {
            let data = partial
                .iter()
                .find(|(t, _)| *t == w)
                .map(|(_, d)| d)
                .ok_or_else(|| TlogError::TileData {
                    tile: w.path(),
                    reason: format!("missing to resume size {size}"),
                })?;
            if data.len() != w.byte_len() {
                return Err(TlogError::TileData {
                    tile: w.path(),
                    reason: format!("{} bytes, expected {}", data.len(), w.byte_len()),
                });
            }
            let level = usize::from(w.level);
            if b.open.len() <= level {
                b.open.resize(level + 1, Vec::new());
            }
            b.open[level] = tile_hashes(data);
        }
        Ok(b)
    }

    /// The number of leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns the full tiles it completed (with their
    /// bytes), lowest level first. Most appends complete none.
    pub fn append(&mut self, leaf: Hash) -> Vec<(Tile, Vec<u8>)> {
        self.size += 1;
        let mut done = Vec::new();
        let mut carry = leaf;
        let mut level = 0usize;
        loop {
            if self.open.len() <= level {
                self.open.push(Vec::new());
            }
            self.open[level].push(carry);
            if self.open[level].len() < usize::from(TILE_WIDTH) {
                break;
            }
            let hashes = std::mem::take(&mut self.open[level]);
            let full_tiles = self.size >> (u32::from(TILE_HEIGHT) * (level as u32 + 1));
            let tile = Tile {
                level: level as u8,
                index: full_tiles - 1,
                width: TILE_WIDTH,
            };
            carry = perfect_root(&hashes);
            done.push((tile, concat(&hashes)));
            level += 1;
        }
        done
    }

    /// The partial tiles of the tree at the current size, lowest level first.
    pub fn partial_tiles(&self) -> Vec<(Tile, Vec<u8>)> {
        self.open
            .iter()
            .enumerate()
            .filter(|(_, hashes)| !hashes.is_empty())
            .map(|(level, hashes)| {
                let index = self.size >> (u32::from(TILE_HEIGHT) * (level as u32 + 1));
                let tile = Tile {
                    level: level as u8,
                    index,
                    width: hashes.len() as u16,
                };
                (tile, concat(hashes))
            })
            .collect()
    }

    /// The tree hash at the current size.
    pub fn root(&self) -> Hash {
        // The tree splits into complete subtrees by the binary digits of its
        // size, largest first; the open tiles hold them, top level first.
        let mut subtrees = Vec::new();
        for hashes in self.open.iter().rev() {
            let mut rest = hashes.as_slice();
            for bit in (0..TILE_HEIGHT).rev() {
                let group = 1usize << bit;
                if rest.len() >= group {
                    let (g, tail) = rest.split_at(group);
                    subtrees.push(perfect_root(g));
                    rest = tail;
                }
            }
        }
        match subtrees.split_last() {
            None => empty_hash(),
            Some((last, init)) => init.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{MemoryLog, leaf_hash};
    use crate::tile::{read_tile_data, tiles_for_size};

    #[test]
    fn three_constructions_agree_around_tile_boundaries() {
        let leaves: Vec<Hash> = (0..1100u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut b = TileBuilder::new();
        let mut full = Vec::new();
        let mut log = MemoryLog::new();
        for (i, l) in leaves.iter().enumerate() {
            full.extend(b.append(*l));
            log.append(*l);
            let n = i + 1;
            if [1, 2, 255, 256, 257, 511, 512, 513, 1000, 1100].contains(&n) {
                let mut incremental = full.clone();
                incremental.extend(b.partial_tiles());
                incremental.sort_by_key(|(t, _)| (t.level, t.index));
                let at_once = tiles_of(&leaves[..n]);
                assert_eq!(incremental, at_once, "n={n}");
                let from_log: Vec<(Tile, Vec<u8>)> = tiles_for_size(n as u64)
                    .into_iter()
                    .map(|t| (t, read_tile_data(&t, &log).expect("stored")))
                    .collect();
                assert_eq!(from_log, at_once, "n={n}");
                assert_eq!(b.root(), log.root(), "n={n}");
                let resumed = TileBuilder::resume(n as u64, &b.partial_tiles()).expect("resumes");
                assert_eq!(resumed, b);
            }
        }
    }
}
