//! Decoders of untrusted bytes never panic (bounded fuzzing in `cargo test`):
//! notes, checkpoints, witness request bodies, tile paths, entry bundles,
//! vkeys and signer keys, on arbitrary input and on mutations of valid input.

use proptest::prelude::*;
use tlog::note::VerifierKey;
use tlog::tile::decode_entry_bundle;
use tlog::{AddCheckpoint, Checkpoint, Ed25519Signer, Note, Tile};

const BODY: &str = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

fn all_decoders(bytes: &[u8]) {
    let _ = Note::parse(bytes);
    let _ = AddCheckpoint::parse(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = Checkpoint::parse(s);
        let _ = Tile::from_path(s);
        let _ = Tile::from_entries_path(s);
        let _ = VerifierKey::parse(s);
        let _ = Ed25519Signer::from_skey(s);
    }
    for width in [1, 2, 255, 256] {
        if let Ok(t) = Tile::new(0, 0, width) {
            let _ = decode_entry_bundle(&t, bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        all_decoders(&bytes);
    }

    #[test]
    fn index_arithmetic_is_total(index in any::<u64>(), level in any::<u8>(), n in any::<u64>()) {
        let _ = tlog::tile::tile_for_stored_index(index);
        let _ = tlog::hash::stored_hash_index(level, n);
        // new_tiles lists every tile it finds, so keep the span small.
        let (lo, hi) = (n.min(index), n.max(index));
        let _ = tlog::tile::new_tiles(hi.saturating_sub(1 << 20).max(lo), hi).len();
    }

    #[test]
    fn mutated_valid_inputs(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        which in 0usize..3,
    ) {
        let base = [BODY, "tile/1/x001/x234/067.p/17", "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"][which];
        let mut b = base.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at % (b.len() + 1);
            match op {
                0 if i < b.len() => b[i] = byte,
                1 => b.insert(i, byte),
                _ if i < b.len() => { b.remove(i); }
                _ => {}
            }
        }
        all_decoders(&b);
    }
}
