//! Reading stored hashes out of tiles, and tiles out of stored hashes.

use std::collections::BTreeMap;

use super::{TILE_HEIGHT, TILE_WIDTH, Tile, hash_from_tile, tile_for_stored_index};
use crate::TlogError;
use crate::hash::{Hash, HashReader, read_exact, stored_hash_count, stored_hash_index};

/// Where tiles come from (object storage, a directory, memory).
pub trait TileSource {
    /// The bytes of each tile, in the order asked.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError>;
}

/// A [`HashReader`] over the tiles of a tree of a given size: each batch of
/// hashes costs one [`TileSource::read_tiles`] call for the distinct tiles
/// that hold them, at the widths the tree of that size has.
///
/// It does not authenticate the tiles. Check what it yields against a signed
/// root: `proof::tree_hash(size, &reader)` must equal the checkpoint's root,
/// and proofs built from it are checked with `proof::check_*`.
#[derive(Debug, Clone, Copy)]
pub struct TileHashReader<'a, S: ?Sized> {
    size: u64,
    source: &'a S,
}

impl<'a, S: TileSource + ?Sized> TileHashReader<'a, S> {
    /// A reader of the tree of `size` leaves whose tiles `source` serves.
    pub fn new(size: u64, source: &'a S) -> Self {
        TileHashReader { size, source }
    }
}

impl<S: TileSource + ?Sized> HashReader for TileHashReader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        let available = stored_hash_count(self.size);
        let mut tiles: BTreeMap<Tile, usize> = BTreeMap::new();
        let mut wanted = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let (needed, _) = tile_for_stored_index(index);
            let tile = Tile::at_size(needed.level(), needed.index(), self.size)
                .filter(|t| index < available && t.width() >= needed.width())
                .ok_or(TlogError::StoredHashMissing { index, available })?;
            let next = tiles.len();
            wanted.push((index, *tiles.entry(tile).or_insert(next)));
        }
        let mut order: Vec<(Tile, usize)> = tiles.into_iter().collect();
        order.sort_by_key(|(_, i)| *i);
        let list: Vec<Tile> = order.iter().map(|(t, _)| *t).collect();
        let data = self.source.read_tiles(&list)?;
        if data.len() != list.len() {
            return Err(TlogError::Source {
                message: format!("asked for {} tiles, got {}", list.len(), data.len()),
            });
        }
        wanted
            .into_iter()
            .map(|(index, t)| hash_from_tile(&list[t], &data[t], index))
            .collect()
    }
}

/// The bytes of `tile` from a source of stored hashes (one read).
pub fn read_tile_data<R: HashReader + ?Sized>(
    tile: &Tile,
    reader: &R,
) -> Result<Vec<u8>, TlogError> {
    let level = tile.level() * TILE_HEIGHT;
    let first = tile.index() * u64::from(TILE_WIDTH);
    let indexes: Vec<u64> = (0..u64::from(tile.width()))
        .map(|i| stored_hash_index(level, first + i))
        .collect();
    Ok(read_exact(reader, &indexes)?.concat())
}
