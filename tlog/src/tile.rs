//! c2sp.org/tlog-tiles: tiles of height 8.
//!
//! The tile at level `L` and index `N` holds up to 256 consecutive hashes of
//! the tree at height `8·L`: at level 0 the leaf hashes, above it the tree
//! hash of each *full* tile of the level below. A tile of fewer than 256
//! hashes is partial (`.p/<W>`). Paths: `tile/<L>/<N>[.p/<W>]`, with `N`
//! written as 3-digit groups of which all but the last carry an `x`
//! (1234067 → `x001/x234/067`); entry bundles live at
//! `tile/entries/<N>[.p/<W>]`.
//!
//! [`tiles_of`] builds every tile of a tree at once, [`TileBuilder`] the same
//! tiles one leaf at a time with at most 255 pending hashes a level, and
//! [`TileHashReader`] reads stored hashes back out of tiles, so proofs can be
//! built from tiles kept in object storage.

mod builder;
mod reader;

pub use builder::{TileBuilder, tiles_of};
pub use reader::{TileHashReader, TileSource, read_tile_data};

use crate::TlogError;
use crate::hash::{Hash, split_stored_hash_index};

/// The height of every tile: 8 levels, so a full tile holds 256 hashes.
pub const TILE_HEIGHT: u8 = 8;
/// The number of hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// The number of bytes in a full tile.
pub const FULL_TILE_BYTES: usize = 256 * 32;

/// The coordinates of one tile: its level, its index within the level and
/// its width (256 for a full tile, 1–255 for a partial one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// A tile; `level` ≤ 63 and `width` 1–256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, TlogError> {
        let t = Tile {
            level,
            index,
            width,
        };
        if level > 63 {
            return Err(TlogError::TileData {
                tile: t.path(),
                reason: "level above 63".into(),
            });
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(TlogError::TileData {
                tile: t.path(),
                reason: "width not in 1-256".into(),
            });
        }
        Ok(t)
    }

    /// The level (0 holds leaf hashes).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of hashes (256 when full).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The tile's byte length: 32 × width.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * 32
    }

    /// The tile with `level` and `index` as a tree of `size` leaves has it,
    /// or `None` if that tree has no hash in it yet.
    pub fn at_size(level: u8, index: u64, size: u64) -> Option<Tile> {
        let hashes_at_level = size.checked_shr(u32::from(TILE_HEIGHT) * u32::from(level))?;
        let before = index.checked_mul(u64::from(TILE_WIDTH))?;
        let width = hashes_at_level
            .checked_sub(before)?
            .min(u64::from(TILE_WIDTH));
        let width = u16::try_from(width).ok().filter(|w| *w > 0)?;
        (level <= 63).then_some(Tile {
            level,
            index,
            width,
        })
    }

    /// The path under the log's prefix: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.index_path())
    }

    /// The path of the entry bundle with this tile's index and width:
    /// `tile/entries/<N>[.p/<W>]`.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.index_path())
    }

    fn index_path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut s = String::new();
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                s.push_str(&format!("x{g:03}/"));
            } else {
                s.push_str(&format!("{g:03}"));
            }
        }
        if !self.is_full() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parses a tile path, `tile/<L>/<N>[.p/<W>]`, exactly as [`Tile::path`]
    /// writes it (no other spelling of the same tile is accepted).
    pub fn from_path(path: &str) -> Result<Tile, TlogError> {
        let bad = |reason| TlogError::TilePath {
            path: path.to_string(),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("does not start with tile/"))?;
        let (level, rest) = rest.split_once('/').ok_or_else(|| bad("no index"))?;
        let level = crate::encoding::decimal(level)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|l| *l <= 63)
            .ok_or_else(|| bad("level is not a decimal 0-63"))?;
        Self::parse_index(path, level, rest)
    }

    /// Parses an entry bundle path, `tile/entries/<N>[.p/<W>]`, into the
    /// coordinates of the level-0 tile it belongs with.
    pub fn from_entries_path(path: &str) -> Result<Tile, TlogError> {
        let rest = path
            .strip_prefix("tile/entries/")
            .ok_or_else(|| TlogError::TilePath {
                path: path.to_string(),
                reason: "does not start with tile/entries/",
            })?;
        Self::parse_index(path, 0, rest)
    }

    fn parse_index(path: &str, level: u8, rest: &str) -> Result<Tile, TlogError> {
        let bad = |reason| TlogError::TilePath {
            path: path.to_string(),
            reason,
        };
        let (digits, width) = match rest.split_once(".p/") {
            Some((d, w)) => {
                let w = crate::encoding::decimal(w)
                    .and_then(|w| u16::try_from(w).ok())
                    .filter(|w| (1..TILE_WIDTH).contains(w))
                    .ok_or_else(|| bad("partial width is not a decimal 1-255"))?;
                (d, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = digits.split('/').collect();
        for (i, g) in groups.iter().enumerate() {
            let g = if i + 1 < groups.len() {
                g.strip_prefix('x')
                    .ok_or_else(|| bad("inner index group lacks its x"))?
            } else {
                g
            };
            if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index group is not 3 digits"));
            }
            let g: u64 = g.parse().map_err(|_| bad("index group is not 3 digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(g))
                .ok_or_else(|| bad("index overflows"))?;
        }
        let t = Tile {
            level,
            index,
            width,
        };
        let canonical = if path.starts_with("tile/entries/") {
            t.entries_path()
        } else {
            t.path()
        };
        if canonical != path {
            return Err(bad("not the canonical spelling (leading zero groups?)"));
        }
        Ok(t)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

/// The tile that holds stored hash `index`, at the least width that holds
/// it, and the range of that tile's hashes (by position) it is the tree hash of.
pub fn tile_for_stored_index(index: u64) -> (Tile, std::ops::Range<usize>) {
    let (level, n) = split_stored_hash_index(index);
    let tile_level = level / TILE_HEIGHT;
    let within = level % TILE_HEIGHT; // the hash's level inside the tile
    let per_tile = u32::from(TILE_HEIGHT - within);
    let tile_index = n >> per_tile;
    let pos = (n - (tile_index << per_tile)) as usize; // < 256 >> within
    let (start, end) = (pos << within, (pos + 1) << within);
    let tile = Tile {
        level: tile_level,
        index: tile_index,
        width: end as u16,
    };
    (tile, start..end)
}

/// The stored hash `index` out of the bytes of `tile`, which must be the
/// tile that holds it (of at least the width [`tile_for_stored_index`] gives).
pub fn hash_from_tile(tile: &Tile, data: &[u8], index: u64) -> Result<Hash, TlogError> {
    if data.len() != tile.byte_len() {
        return Err(TlogError::TileData {
            tile: tile.path(),
            reason: format!("{} bytes, expected {}", data.len(), tile.byte_len()),
        });
    }
    let (want, range) = tile_for_stored_index(index);
    if want.level != tile.level || want.index != tile.index || want.width > tile.width {
        return Err(TlogError::TileData {
            tile: tile.path(),
            reason: format!("stored hash {index} is in {want}"),
        });
    }
    let hashes = tile_hashes(data);
    Ok(perfect_root(&hashes[range]))
}

/// A tile's bytes as hashes (trailing bytes short of a hash are ignored;
/// callers check lengths first).
pub(crate) fn tile_hashes(data: &[u8]) -> Vec<Hash> {
    data.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

/// The root of a perfect subtree whose bottom row is `hashes` (a power of
/// two of them); the tree hash of a full tile is this over its 256 hashes.
pub(crate) fn perfect_root(hashes: &[Hash]) -> Hash {
    match hashes {
        [one] => *one,
        _ => {
            let (l, r) = hashes.split_at(hashes.len() / 2);
            crate::hash::node_hash(&perfect_root(l), &perfect_root(r))
        }
    }
}

/// The tiles a tree of `new` leaves has that a tree of `old` leaves lacks
/// (new full tiles and the new partial tiles), level by level, left to
/// right. With `old` = 0: every tile of the tree, which is what a reader of
/// a checkpoint of size `new` may fetch. The list has one entry per tile
/// (about (new − old) / 255), so callers bound the span they ask for.
pub fn new_tiles(old: u64, new: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in 0..=63u8 {
        let shift = u32::from(TILE_HEIGHT) * u32::from(level);
        let (old_n, new_n) = (
            old.checked_shr(shift).unwrap_or(0),
            new.checked_shr(shift).unwrap_or(0),
        );
        if new_n == 0 {
            break;
        }
        if old_n == new_n {
            continue;
        }
        for index in (old_n >> TILE_HEIGHT)..(new_n >> TILE_HEIGHT) {
            tiles.push(Tile {
                level,
                index,
                width: TILE_WIDTH,
            });
        }
        let index = new_n >> TILE_HEIGHT;
        let width = (new_n - (index << TILE_HEIGHT)) as u16; // < 256
        if width > 0 {
            tiles.push(Tile {
                level,
                index,
                width,
            });
        }
    }
    tiles
}

/// Every tile of a tree of `size` leaves: `new_tiles(0, size)`.
pub fn tiles_for_size(size: u64) -> Vec<Tile> {
    new_tiles(0, size)
}

/// The partial tiles a tree of `size` leaves has, lowest level first: all a
/// [`TileBuilder`] needs to resume at that size.
pub fn partial_tiles_for_size(size: u64) -> Vec<Tile> {
    tiles_for_size(size)
        .into_iter()
        .filter(|t| !t.is_full())
        .collect()
}

/// Encodes an entry bundle: each entry as a big-endian u16 length and its bytes.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TlogError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(TlogError::EntryBundle {
            reason: format!("{} entries, expected 1-256", entries.len()),
        });
    }
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TlogError::EntryBundle {
            reason: format!("entry {i} is {} bytes, more than 65535", e.len()),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle of `tile`'s width into its entries.
pub fn decode_entry_bundle<'a>(tile: &Tile, data: &'a [u8]) -> Result<Vec<&'a [u8]>, TlogError> {
    let mut out = Vec::with_capacity(usize::from(tile.width));
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len));
        let (entry, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| TlogError::EntryBundle {
                reason: format!(
                    "entry {} of {} runs past the end",
                    out.len(),
                    tile.entries_path()
                ),
            })?;
        out.push(entry);
        rest = tail;
    }
    if !rest.is_empty() || out.len() != usize::from(tile.width) {
        return Err(TlogError::EntryBundle {
            reason: format!(
                "{} holds {} entries, expected {}",
                tile.entries_path(),
                out.len(),
                tile.width
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_spec() {
        let t = |l, n, w| Tile::new(l, n, w).expect("valid");
        assert_eq!(t(0, 1234067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(t(0, 0, 256).path(), "tile/0/000");
        assert_eq!(t(1, 1, 17).path(), "tile/1/001.p/17");
        assert_eq!(t(2, 1000, 1).path(), "tile/2/x001/000.p/1");
        assert_eq!(t(0, 5, 3).entries_path(), "tile/entries/005.p/3");
        for p in [
            "tile/0/x001/x234/067",
            "tile/1/001.p/17",
            "tile/63/000",
            "tile/2/x001/000.p/1",
        ] {
            assert_eq!(Tile::from_path(p).map(|t| t.path()), Ok(p.to_string()));
        }
        assert_eq!(
            Tile::from_entries_path("tile/entries/x001/000.p/9"),
            Ok(t(0, 1000, 9))
        );
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/00/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/01",
            "tile/0/000.p/",
            "tiles/0/000",
            "tile/0/",
            "tile/0/x001",
            "tile/entries/000",
        ] {
            assert!(Tile::from_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tree_of_70000_has_the_spec_example_tiles() {
        let tiles = tiles_for_size(70000);
        let partial: Vec<String> = tiles
            .iter()
            .filter(|t| !t.is_full())
            .map(Tile::path)
            .collect();
        assert_eq!(
            partial,
            ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
        );
        assert_eq!(
            tiles.iter().filter(|t| t.level == 0 && t.is_full()).count(),
            273
        );
        assert_eq!(tiles.len(), 277);
        let p: Vec<String> = tiles_for_size(256).iter().map(Tile::path).collect();
        assert_eq!(p, ["tile/0/000", "tile/1/000.p/1"]);
        assert_eq!(Tile::at_size(1, 1, 70000).map(|t| t.width), Some(17));
        assert_eq!(Tile::at_size(1, 2, 70000), None);
        assert!(tiles_for_size(0).is_empty());
    }

    #[test]
    fn entry_bundles_round_trip() {
        let entries: Vec<Vec<u8>> = vec![b"a".to_vec(), Vec::new(), vec![7; 300]];
        let data = encode_entry_bundle(&entries).expect("fits");
        let t = Tile::new(0, 0, 3).expect("valid");
        assert_eq!(decode_entry_bundle(&t, &data).expect("decodes"), entries);
        assert!(decode_entry_bundle(&t, &data[..data.len() - 1]).is_err());
        assert!(decode_entry_bundle(&Tile::new(0, 0, 2).expect("valid"), &data).is_err());
    }
}
