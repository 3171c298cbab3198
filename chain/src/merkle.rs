//! Merkle trees over a seal's record digests (RFC 6962 shape).
//!
//! ```text
//! root([])        = SHA-256("auditlog/v1/merkle-empty" 0x00)
//! root([d])       = d                      (a record digest is already domain-separated)
//! root(d₀ … dₙ₋₁) = SHA-256(0x01 ‖ root(d₀ … dₖ₋₁) ‖ root(dₖ … dₙ₋₁)),  k = largest power of two < n
//! ```

use sha2::{Digest, Sha256};

use crate::link::Hash;

const EMPTY: &[u8] = b"auditlog/v1/merkle-empty\0";

fn node(l: &Hash, r: &Hash) -> Hash {
    crate::short::pair(&[0x01], l, r)
}

/// The root of the empty tree (heartbeat seals).
pub fn empty_root() -> Hash {
    Sha256::digest(EMPTY).into()
}

fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The Merkle root of `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index`, from the leaf's sibling up to the root's
/// children. `None` if `index` is out of range.
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut i) = (0usize, leaves.len(), index);
    // Walk down, collecting siblings root-first, then reverse.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if i < k {
            path.push(root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(root(&leaves[lo..lo + k]));
            lo += k;
            i -= k;
        }
    }
    path.reverse();
    Some(path)
}

/// Recomputes the root from a leaf, its index, the tree size and its path.
pub fn root_from_path(leaf: &Hash, index: usize, size: usize, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    // Recover the left/right decisions top-down, then apply them bottom-up.
    let mut sides = Vec::new();
    let (mut lo, mut hi, mut i) = (0usize, size, index);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if i < k {
            sides.push(true); // leaf is in the left subtree
            hi = lo + k;
        } else {
            sides.push(false);
            lo += k;
            i -= k;
        }
    }
    if sides.len() != path.len() {
        return None;
    }
    let mut h = *leaf;
    for (sibling, left) in path.iter().zip(sides.iter().rev()) {
        h = if *left {
            node(&h, sibling)
        } else {
            node(sibling, &h)
        };
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest(i.to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn every_leaf_proves_for_sizes_1_to_40() {
        for n in 1..=40 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_path(&l, i).expect("in range");
                assert_eq!(root_from_path(&l[i], i, n, &p), Some(r), "n={n} i={i}");
                // Wrong index or size fails.
                if n > 1 {
                    assert_ne!(
                        root_from_path(&l[i], (i + 1) % n, n, &p),
                        Some(r),
                        "n={n} i={i}"
                    );
                }
            }
        }
    }

    #[test]
    fn shape_matches_the_spec() {
        let l = leaves(3);
        assert_eq!(root(&l), node(&node(&l[0], &l[1]), &l[2]));
        assert_eq!(root(&l[..1]), l[0]);
        assert_ne!(root(&[]), [0u8; 32]);
    }
}
