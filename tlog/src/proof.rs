//! Tree hashes, inclusion proofs and consistency proofs (RFC 6962 §2.1,
//! RFC 9162 §2.1.3–2.1.4), built from any [`HashReader`].
//!
//! Proofs list sibling hashes from the bottom of the tree up, exactly as
//! RFC 9162 and Go's `sumdb/tlog` order them. Building a proof reads all the
//! stored hashes it needs in one [`HashReader::read_hashes`] call, so a
//! reader backed by tiles in object storage fetches them in one batch.

use crate::TlogError;
use crate::hash::{
    Hash, HashReader, empty_hash, fold_subtrees, largest_power_of_two_below, node_hash, read_exact,
    subtree_indexes,
};

/// Reads the hashes of the leaf ranges `ranges` and folds each into its
/// Merkle tree hash.
fn range_hashes<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    let mut indexes = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let before = indexes.len();
        subtree_indexes(lo, hi, &mut indexes);
        counts.push(indexes.len() - before);
    }
    let hashes = read_exact(reader, &indexes)?;
    let mut rest = hashes.as_slice();
    counts
        .into_iter()
        .map(|c| {
            fold_subtrees(c, &mut rest).ok_or(TlogError::Source {
                message: "hash source returned too few hashes".into(),
            })
        })
        .collect()
}

/// The Merkle tree hash of the first `size` leaves.
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, TlogError> {
    if size == 0 {
        return Ok(empty_hash());
    }
    Ok(range_hashes(&[(0, size)], reader)?[0])
}

/// The ranges whose hashes form the inclusion proof of `index` in `[lo, hi)`,
/// bottom first (RFC 9162 §2.1.3.1 `PATH`).
fn inclusion_ranges(index: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo <= 1 {
        return;
    }
    let k = largest_power_of_two_below(hi - lo);
    if index < lo + k {
        inclusion_ranges(index, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        inclusion_ranges(index, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let mut ranges = Vec::new();
    inclusion_ranges(index, 0, size, &mut ranges);
    range_hashes(&ranges, reader)
}

/// The root an inclusion proof leads to, or `None` if it has the wrong
/// length for `(index, size)` (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
/// leaves whose root is `root`.
pub fn check_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    match root_from_inclusion(index, size, leaf, proof) {
        Some(r) if r == *root => Ok(()),
        _ => Err(TlogError::InclusionProof { index, size }),
    }
}

/// The ranges whose hashes form the consistency proof from `m` leaves to
/// `[lo, hi)`, bottom first (RFC 9162 §2.1.4.1 `SUBPROOF`).
fn consistency_ranges(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    if m == hi - lo {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = largest_power_of_two_below(hi - lo);
    if m <= k {
        consistency_ranges(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// The consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves. Empty when `old` is 0 or equals `new`.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    if old > new {
        return Err(TlogError::SizeOutOfRange { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    consistency_ranges(old, 0, new, true, &mut ranges);
    range_hashes(&ranges, reader)
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree
/// of `old` leaves with root `old_root` (RFC 9162 §2.1.4.2). The empty tree
/// (whose root must be [`empty_hash`]) is extended by every tree, with an
/// empty proof; a tree is consistent with itself only with an empty proof and
/// the same root.
pub fn check_consistency(
    old: u64,
    old_root: &Hash,
    new: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    let bad = Err(TlogError::ConsistencyProof { old, new });
    if old > new {
        return Err(TlogError::SizeOutOfRange { old, new });
    }
    if old == 0 {
        return if proof.is_empty() && *old_root == empty_hash() {
            Ok(())
        } else {
            bad
        };
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            bad
        };
    }
    // When `old` is a power of two its root is a node of the new tree, and
    // the proof leaves it out.
    let with_old;
    let path: &[Hash] = if old.is_power_of_two() {
        with_old = [std::slice::from_ref(old_root), proof].concat();
        &with_old
    } else {
        proof
    };
    let Some((first, rest)) = path.split_first() else {
        return bad;
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return bad;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{MemoryLog, leaf_hash, tree_hash_of};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_proof_up_to_40_leaves_verifies_and_wrong_ones_do_not() {
        let all = leaves(40);
        let log = MemoryLog::from_leaf_hashes(&all);
        let roots: Vec<Hash> = (0..=40).map(|n| tree_hash_of(&all[..n])).collect();
        for n in 1..=40u64 {
            assert_eq!(tree_hash(n, &log), Ok(roots[n as usize]));
            for i in 0..n {
                let p = prove_inclusion(i, n, &log).expect("in range");
                assert_eq!(
                    check_inclusion(i, n, &all[i as usize], &roots[n as usize], &p),
                    Ok(())
                );
                assert!(
                    check_inclusion((i + 1) % n, n, &all[i as usize], &roots[n as usize], &p)
                        .is_err()
                        || n == 1
                );
            }
            for m in 0..=n {
                let p = prove_consistency(m, n, &log).expect("sizes in order");
                let (om, on) = (&roots[m as usize], &roots[n as usize]);
                assert_eq!(check_consistency(m, om, n, on, &p), Ok(()), "{m}->{n}");
                if m > 0 && m < n {
                    assert!(check_consistency(m, on, n, on, &p).is_err());
                    assert!(check_consistency(m, om, n, om, &p).is_err());
                    assert!(check_consistency(m, om, n, on, &p[1..]).is_err());
                }
            }
        }
    }

    #[test]
    fn out_of_range_requests_are_refused() {
        let log = MemoryLog::from_leaf_hashes(&leaves(3));
        assert_eq!(
            prove_inclusion(3, 3, &log),
            Err(TlogError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            prove_consistency(4, 3, &log),
            Err(TlogError::SizeOutOfRange { old: 4, new: 3 })
        );
        assert!(matches!(
            tree_hash(4, &log),
            Err(TlogError::StoredHashMissing { .. })
        ));
        assert!(check_consistency(0, &[1; 32], 3, &log.root(), &[]).is_err());
    }
}
