//! SHA-256 of short messages (at most 119 bytes: two blocks with padding),
//! straight on the `sha2` crate's compression function.
//!
//! A chain link hashes 81 bytes and a Merkle node 65, once per record each.
//! The crate's streaming wrapper copies every `update` into its block buffer
//! and pads through it again at `finalize`; for a message this small that
//! bookkeeping cost about as much as the compressions themselves. Here the
//! message is laid out once in a zeroed two-block buffer, padded per
//! FIPS 180-4 §5.1.1, and compressed. The result is the same SHA-256: the
//! tests compare it with the crate's one-shot digest for every length.

use sha2::digest::generic_array::GenericArray;

use crate::link::Hash;

/// The longest message that fits two blocks with its padding.
const MAX: usize = 128 - 9;

const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256(`prefix` ‖ `left` ‖ `right`): a chain link or a Merkle node.
/// The length is fixed by the types, and checked at compile time to fit.
pub(crate) fn pair<const P: usize>(prefix: &[u8; P], left: &Hash, right: &Hash) -> Hash {
    const { assert!(P + 64 <= MAX, "prefix too long for two blocks") };
    let mut buf = [0u8; 128];
    buf[..P].copy_from_slice(prefix);
    buf[P..P + 32].copy_from_slice(left);
    buf[P + 32..P + 64].copy_from_slice(right);
    finish(buf, P + 64)
}

/// Pads the `n` message bytes at the start of `buf` and compresses.
fn finish(mut buf: [u8; 128], n: usize) -> Hash {
    buf[n] = 0x80;
    let blocks = if n + 9 <= 64 { 1 } else { 2 };
    let end = blocks * 64;
    buf[end - 8..end].copy_from_slice(&((n as u64) * 8).to_be_bytes());
    let mut state = H0;
    let (b0, b1) = buf.split_at(64);
    let b0 = GenericArray::clone_from_slice(b0);
    if blocks == 1 {
        sha2::compress256(&mut state, &[b0]);
    } else {
        sha2::compress256(&mut state, &[b0, GenericArray::clone_from_slice(b1)]);
    }
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn padding_equals_the_crates_digest_for_every_length_it_takes() {
        for len in 0..=MAX {
            let mut buf = [0u8; 128];
            for (i, b) in buf[..len].iter_mut().enumerate() {
                *b = (i as u32).wrapping_mul(151).to_le_bytes()[1];
            }
            let want: Hash = Sha256::digest(&buf[..len]).into();
            assert_eq!(finish(buf, len), want, "length {len}");
        }
    }

    #[test]
    fn pair_is_the_digest_of_the_concatenation() {
        let (l, r) = ([3u8; 32], [250u8; 32]);
        for prefix in [&b"\x01"[..], b"auditlog/v1/link\0"] {
            let want: Hash = Sha256::digest([prefix, &l, &r].concat()).into();
            let got = if prefix.len() == 1 {
                pair(&[0x01], &l, &r)
            } else {
                pair(b"auditlog/v1/link\0", &l, &r)
            };
            assert_eq!(got, want);
        }
    }
}
