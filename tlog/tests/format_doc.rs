//! The test vectors published in docs/FORMAT.md §11. If this fails, the
//! format changed (or the document did). The same values are in
//! `vectors/x-mod.json`, written by Go's x/mod.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use tlog::note::NoteSigner;
use tlog::proof::{prove_consistency, prove_inclusion, tree_hash};
use tlog::tile::tiles_for_size;
use tlog::{Checkpoint, CosignatureSigner, Ed25519Signer, Hash, MemoryLog, Note, Tile, leaf_hash};

fn b64(h: &Hash) -> String {
    STANDARD.encode(h)
}

#[test]
fn format_md_vectors() {
    let origin = "example.com/auditlog/vectors";
    let key = Ed25519Signer::new(origin, SigningKey::from_bytes(&[1; 32])).expect("name");
    let witness =
        CosignatureSigner::new("witness.example.com/w1", SigningKey::from_bytes(&[4; 32]))
            .expect("name");
    let leaves: Vec<Hash> = (0..1000)
        .map(|i| leaf_hash(format!("auditlog tlog vector leaf {i}").as_bytes()))
        .collect();
    let log = MemoryLog::from_leaf_hashes(&leaves);
    let root = |n| tree_hash(n, &log).expect("held");
    let text = Checkpoint::new(origin, 1000, root(1000)).to_text();
    let mut note = Note::sign(&text, &[&key]).expect("signs");
    note.add_signature(witness.cosign(&text, 1_700_000_000).expect("cosigns"))
        .expect("room");
    let join = |hs: Vec<Hash>| hs.iter().map(b64).collect::<Vec<_>>().join(" ");
    let tiles = |n| {
        tiles_for_size(n)
            .iter()
            .filter(|t| !t.is_full())
            .map(Tile::path)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let vectors = format!(
        "log_key_id={:08x}\nlog_vkey={}\nwitness_vkey={}\nleaf_0={}\nroot_1={}\nroot_8={}\nroot_1000={}\n\
         inclusion_5_in_8={}\nconsistency_6_to_8={}\npartial_tiles_1000={}\npartial_tiles_70000={}\n",
        key.key_id(),
        key.verifier().vkey(),
        witness.verifier().vkey(),
        b64(&leaves[0]),
        b64(&root(1)),
        b64(&root(8)),
        b64(&root(1000)),
        join(prove_inclusion(5, 8, &log).expect("in range")),
        join(prove_consistency(6, 8, &log).expect("in order")),
        tiles(1000),
        tiles(70000),
    );
    let block = format!(
        "```text\n{vectors}```\n\n```text\n{}```",
        String::from_utf8(note.to_bytes()).expect("utf-8")
    );
    let doc = include_str!("../../docs/FORMAT.md");
    assert!(
        doc.contains(&block),
        "docs/FORMAT.md §11 must contain:\n{block}"
    );
}
