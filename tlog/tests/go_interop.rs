//! Writes what this crate produces for Go's x/mod to check (the other
//! direction of `vectors.rs`). Runs only with `TLOG_INTEROP_DIR` set:
//!
//! ```text
//! TLOG_INTEROP_DIR=/tmp/tlog-rust cargo test -p tlog --test go_interop
//! (cd tests/tlogvectors && go run . verify /tmp/tlog-rust)
//! ```
//!
//! `tests/tlogvectors/check` runs both. The directory gets the log's vkey,
//! the cosigner's vkey, signed checkpoints at several sizes (the last also
//! cosigned), every tile of the largest size at its C2SP path, and
//! inclusion and consistency proofs; Go opens the notes with
//! `sumdb/note`, reads the tiles with `sumdb/tlog`'s tile hash reader,
//! recomputes every root, checks every proof and rebuilds it to compare.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use tlog::proof::{prove_consistency, prove_inclusion};
use tlog::tile::tiles_of;
use tlog::{Checkpoint, CosignatureSigner, Ed25519Signer, Hash, MemoryLog, Note, leaf_hash};

const ORIGIN: &str = "example.com/auditlog/vectors";
const SIZES: [u64; 6] = [1, 256, 257, 4000, 65536, 70123];

fn b64s(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directory");
    }
    std::fs::write(path, bytes).expect("write file");
}

#[test]
fn rust_artifacts_for_go() {
    let Some(dir) = std::env::var_os("TLOG_INTEROP_DIR") else {
        eprintln!("TLOG_INTEROP_DIR not set: nothing written for the Go checker");
        return;
    };
    let dir = Path::new(&dir);
    let log_key = Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).expect("valid name");
    let witness = CosignatureSigner::new(
        "witness.example.com/rust",
        SigningKey::from_bytes(&[10; 32]),
    )
    .expect("valid name");
    let last = SIZES[SIZES.len() - 1];
    let leaves: Vec<Hash> = (0..last)
        .map(|i| leaf_hash(format!("rust leaf {i}").as_bytes()))
        .collect();
    let log = MemoryLog::from_leaf_hashes(&leaves);

    write(dir, "vkey", log_key.verifier().vkey().as_bytes());
    write(dir, "cosigner.vkey", witness.verifier().vkey().as_bytes());
    let sizes: Vec<String> = SIZES.iter().map(u64::to_string).collect();
    write(dir, "sizes", sizes.join("\n").as_bytes());
    for &n in &SIZES {
        let root = tlog::proof::tree_hash(n, &log).expect("in log");
        let text = Checkpoint::new(ORIGIN, n, root).to_text();
        let mut note = Note::sign(&text, &[&log_key]).expect("signs");
        if n == last {
            note.add_signature(witness.cosign(&text, 1_760_000_000).expect("cosigns"))
                .expect("room");
        }
        write(dir, &format!("checkpoint-{n}"), &note.to_bytes());
    }
    for (tile, data) in tiles_of(&leaves) {
        write(dir, &tile.path(), &data);
    }
    let mut inclusion = Vec::new();
    for &n in &SIZES {
        for i in [0, n / 3, n / 2, n - 1] {
            let proof = prove_inclusion(i, n, &log).expect("in range");
            inclusion.push(serde_json::json!({
                "size": n, "index": i, "leaf_hash": STANDARD.encode(leaves[i as usize]), "proof": b64s(&proof),
            }));
        }
    }
    let mut consistency = Vec::new();
    for (a, &old) in SIZES.iter().enumerate() {
        for &new in &SIZES[a..] {
            let proof = prove_consistency(old, new, &log).expect("in order");
            consistency.push(serde_json::json!({ "old": old, "new": new, "proof": b64s(&proof) }));
        }
    }
    let proofs = serde_json::json!({ "inclusion": inclusion, "consistency": consistency });
    write(dir, "proofs.json", proofs.to_string().as_bytes());
}
