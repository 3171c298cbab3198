//! RFC 6962 hashing over SHA-256, and the stored-hash layout tiles use.
//!
//! ```text
//! leaf_hash(d)    = SHA-256(0x00 ‖ d)
//! node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)
//! MTH([])         = SHA-256("")
//! MTH([d])        = leaf_hash(d)
//! MTH(D[0:n])     = node_hash(MTH(D[0:k]), MTH(D[k:n])),  k = largest power of two < n
//! ```
//!
//! A log keeps its *stored hashes*: the hash of every complete, aligned
//! subtree, numbered in the order they become known. Appending leaf `n`
//! stores its leaf hash and then the hash of every subtree that leaf
//! completes, lowest first. The hash at `level` ℓ and position `n` covers
//! leaves `[n·2^ℓ, (n+1)·2^ℓ)`; [`stored_hash_index`] numbers it. This is the
//! layout of Go's `sumdb/tlog`, which tlog-tiles cuts into tiles.

use sha2::{Digest, Sha256};

use crate::TlogError;

/// A SHA-256 hash: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The RFC 6962 hash of a leaf's data: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// The RFC 6962 hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_hash() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle tree hash of `n` leaves given their leaf hashes, computed
/// directly (no stored hashes): `MTH` above, with `empty_hash()` for none.
pub fn tree_hash_of(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_hash(),
        [only] => *only,
        _ => {
            let k = largest_power_of_two_below(leaf_hashes.len() as u64) as usize;
            node_hash(
                &tree_hash_of(&leaf_hashes[..k]),
                &tree_hash_of(&leaf_hashes[k..]),
            )
        }
    }
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
pub(crate) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The number of stored hashes of a tree of `size` leaves: 2·size − popcount(size).
///
/// The index arithmetic is exact for tree sizes below 2⁶² (as in Go's
/// `sumdb/tlog`); beyond that it wraps rather than panics.
pub fn stored_hash_count(size: u64) -> u64 {
    size.wrapping_mul(2)
        .wrapping_sub(u64::from(size.count_ones()))
}

/// The index of the stored hash at `level` and position `n` (the subtree of
/// leaves `[n·2^level, (n+1)·2^level)`): it is stored right after the leaf
/// hash of that subtree's last leaf, `level` places on.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    let last_leaf = n
        .wrapping_add(1)
        .wrapping_shl(u32::from(level))
        .wrapping_sub(1);
    stored_hash_count(last_leaf).wrapping_add(u64::from(level))
}

/// The inverse of [`stored_hash_index`]: the `(level, n)` a stored index holds.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // The leaf whose appending stored `index` is the largest m with
    // stored_hash_count(m) ≤ index; count(m) lies in [m, 2m], so m ∈ [index/2, index].
    let (mut lo, mut hi) = (index / 2, index.min(u64::MAX >> 2));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stored_hash_count(mid) <= index {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // level ≤ trailing ones of lo < 64 (for indexes of trees below 2⁶²).
    let level = index.saturating_sub(stored_hash_count(lo)).min(63) as u8;
    (level, lo >> level)
}

/// The stored-hash indexes of the complete, aligned subtrees that make up
/// leaves `[lo, hi)`, left to right. `lo` must be a multiple of the largest
/// power of two not above `hi − lo` (true for every range a tree hash or a
/// proof needs); then folding their hashes from the right gives `MTH(D[lo:hi])`.
pub(crate) fn subtree_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        let mut level = 63 - (hi - lo).leading_zeros();
        if lo != 0 {
            level = level.min(lo.trailing_zeros());
        }
        let level = level as u8; // < 64
        out.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
}

/// Folds the hashes of `[lo, hi)`'s subtrees (as [`subtree_indexes`] listed
/// them) into `MTH(D[lo:hi])`, taking them from the front of `hashes`.
pub(crate) fn fold_subtrees(count: usize, hashes: &mut &[Hash]) -> Option<Hash> {
    let (mine, rest) = hashes.split_at_checked(count)?;
    *hashes = rest;
    let (last, init) = mine.split_last()?;
    Some(init.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// Where stored hashes come from: a log in memory, a database, or tiles read
/// from object storage ([`crate::TileHashReader`]).
pub trait HashReader {
    /// The stored hashes at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(TlogError::StoredHashMissing {
                        index: i,
                        available: self.len() as u64,
                    })
            })
            .collect()
    }
}

/// Reads exactly `indexes.len()` hashes or says which source misbehaved.
pub(crate) fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, TlogError> {
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TlogError::Source {
            message: format!("asked for {} hashes, got {}", indexes.len(), hashes.len()),
        });
    }
    Ok(hashes)
}

/// The hashes appending leaf number `n` (0-based, so the tree had `n` leaves)
/// with hash `leaf` adds to the stored hashes, in storage order. `reader`
/// must hold the stored hashes of the first `n` leaves.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    // Leaf n completes one subtree per trailing one bit of n: its left
    // siblings are the stored hashes at those levels just before it.
    let completes = n.trailing_ones() as u8;
    let siblings: Vec<u64> = (0..completes)
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let siblings = read_exact(reader, &siblings)?;
    let mut out = Vec::with_capacity(1 + siblings.len());
    let mut h = leaf;
    out.push(h);
    for s in &siblings {
        h = node_hash(s, &h);
        out.push(h);
    }
    Ok(out)
}

/// A log's stored hashes in memory: the simplest [`HashReader`], for tests
/// and for building tiles and proofs of a range held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLog {
    size: u64,
    hashes: Vec<Hash>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log of these leaf hashes.
    pub fn from_leaf_hashes(leaves: &[Hash]) -> Self {
        let mut log = Self::new();
        for l in leaves {
            log.append(*l);
        }
        log
    }

    /// Appends one leaf hash; returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let n = self.size;
        // Reading our own hashes cannot miss: every sibling is below n.
        let new = stored_hashes_for_leaf(n, leaf, self.hashes.as_slice()).unwrap_or_default();
        self.hashes.extend(new);
        self.size += 1;
        n
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// All stored hashes, in storage order.
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The tree hash at the current size.
    pub fn root(&self) -> Hash {
        crate::proof::tree_hash(self.size, self).unwrap_or_else(|_| empty_hash())
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.hashes.as_slice().read_hashes(indexes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hash_is_sha256_of_nothing() {
        assert_eq!(
            crate::encoding::b64(&empty_hash()),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn stored_index_round_trips_and_counts() {
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        for index in 0..5000 {
            let (l, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(l, n), index);
        }
        let mut log = MemoryLog::new();
        for i in 0..300u64 {
            assert_eq!(log.stored_hashes().len() as u64, stored_hash_count(i));
            log.append(leaf_hash(&i.to_be_bytes()));
        }
    }

    #[test]
    fn memory_log_root_matches_direct_tree_hash() {
        let leaves: Vec<Hash> = (0..70u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=leaves.len() {
            let log = MemoryLog::from_leaf_hashes(&leaves[..n]);
            assert_eq!(log.root(), tree_hash_of(&leaves[..n]), "n={n}");
        }
    }
}
