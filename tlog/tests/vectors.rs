//! Reproduces, byte for byte, the vectors Go's `golang.org/x/mod/sumdb/note`
//! and `sumdb/tlog` wrote (`tests/vectors/x-mod.json`; regenerate with
//! `go run . gen` in `tests/tlogvectors/`, see `tlog/README.md`).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tlog::hash::{stored_hash_count, stored_hash_index};
use tlog::note::{NoteSigner, NoteVerifier};
use tlog::proof::{
    check_consistency, check_inclusion, prove_consistency, prove_inclusion, tree_hash,
};
use tlog::tile::{tile_for_stored_index, tiles_for_size, tiles_of};
use tlog::{
    Checkpoint, CosignatureSigner, Ed25519Signer, Ed25519Verifier, Hash, MemoryLog, Note, Tile,
    TileBuilder, TileHashReader, TileSource, TlogError, leaf_hash,
};

mod b64 {
    use super::*;
    pub fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
    pub fn opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        bytes(d).map(Some)
    }
    pub fn hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        bytes(d)?
            .try_into()
            .map_err(|_| serde::de::Error::custom("not 32 bytes"))
    }
    pub fn hashes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        v.iter()
            .map(|s| STANDARD.decode(s).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| serde::de::Error::custom("not a list of hashes"))
    }
}

#[derive(Deserialize)]
struct Key {
    name: String,
    #[serde(deserialize_with = "b64::bytes")]
    seed: Vec<u8>,
    key_id: u32,
    vkey: String,
    skey: String,
}

#[derive(Deserialize)]
struct NoteCase {
    name: String,
    note: String,
    opened: bool,
}

#[derive(Deserialize)]
struct TileVector {
    path: String,
    level: u8,
    index: u64,
    width: u16,
    #[serde(deserialize_with = "b64::bytes")]
    sha256: Vec<u8>,
    #[serde(default, deserialize_with = "b64::opt")]
    data: Option<Vec<u8>>,
}

#[derive(Deserialize)]
struct Tree {
    size: u64,
    #[serde(deserialize_with = "b64::hash")]
    root: Hash,
    tiles: Vec<TileVector>,
    checkpoint_note: String,
}

#[derive(Deserialize)]
struct Inclusion {
    size: u64,
    index: u64,
    #[serde(deserialize_with = "b64::hash")]
    leaf_hash: Hash,
    #[serde(deserialize_with = "b64::hashes")]
    proof: Vec<Hash>,
}

#[derive(Deserialize)]
struct Consistency {
    old: u64,
    new: u64,
    #[serde(deserialize_with = "b64::hashes")]
    proof: Vec<Hash>,
}

#[derive(Deserialize)]
struct Index {
    level: u8,
    n: u64,
    stored_index: u64,
    tile_path: String,
}

#[derive(Deserialize)]
struct Cosig {
    name: String,
    #[serde(deserialize_with = "b64::bytes")]
    seed: Vec<u8>,
    key_id: u32,
    vkey: String,
    timestamp: u64,
    checkpoint_text: String,
    signature_line: String,
}

#[derive(Deserialize)]
struct Vectors {
    origin: String,
    keys: Vec<Key>,
    note: NoteCase,
    cosignature: Cosig,
    trees: Vec<Tree>,
    inclusion: Vec<Inclusion>,
    consistency: Vec<Consistency>,
    stored_hash_count: HashMap<String, u64>,
    stored_hash_index: Vec<Index>,
    note_cases: Vec<NoteCase>,
}

fn vectors() -> Vectors {
    let text = include_str!("vectors/x-mod.json");
    serde_json::from_str(text).expect("the vector file parses")
}

fn seed(bytes: &[u8]) -> SigningKey {
    SigningKey::from_bytes(bytes.try_into().expect("32-byte seed"))
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("auditlog tlog vector leaf {i}").as_bytes()))
        .collect()
}

fn signers(v: &Vectors) -> Vec<Ed25519Signer> {
    v.keys
        .iter()
        .map(|k| Ed25519Signer::new(&k.name, seed(&k.seed)).expect("valid name"))
        .collect()
}

#[test]
fn keys_ids_vkeys_and_skeys_match_x_mod() {
    let v = vectors();
    for (k, s) in v.keys.iter().zip(signers(&v)) {
        assert_eq!(s.key_id(), k.key_id, "{}", k.name);
        assert_eq!(s.verifier().vkey(), k.vkey);
        assert_eq!(s.skey(), k.skey);
        assert_eq!(
            Ed25519Verifier::from_vkey(&k.vkey).as_ref(),
            Ok(s.verifier())
        );
        assert_eq!(
            Ed25519Signer::from_skey(&k.skey).map(|s| s.skey()),
            Ok(k.skey.clone())
        );
    }
}

#[test]
fn a_note_signed_by_two_keys_is_byte_identical() {
    let v = vectors();
    let s = signers(&v);
    let parsed = Note::parse(v.note.note.as_bytes()).expect("parses");
    let signed = Note::sign(parsed.text(), &[&s[0], &s[1]]).expect("signs");
    assert_eq!(
        String::from_utf8(signed.to_bytes()).expect("utf-8"),
        v.note.note
    );
    assert_eq!(parsed, signed);
    let verified = signed.verify(&[s[1].verifier()]).expect("verifies");
    assert_eq!(verified.len(), 1);
}

#[test]
fn note_acceptance_matches_x_mod_on_every_case() {
    let v = vectors();
    let known = Ed25519Verifier::from_vkey(&v.keys[0].vkey).expect("vkey");
    for c in &v.note_cases {
        let ours = Note::open(c.note.as_bytes(), &[&known as &dyn NoteVerifier]);
        assert_eq!(
            ours.is_ok(),
            c.opened,
            "{}: x/mod opened={}, we said {ours:?}",
            c.name,
            c.opened
        );
    }
}

struct MapTiles(HashMap<String, Vec<u8>>);

impl TileSource for MapTiles {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&t.path())
                    .cloned()
                    .ok_or(TlogError::Source { message: t.path() })
            })
            .collect()
    }
}

#[test]
fn roots_checkpoints_and_tiles_match_x_mod() {
    let v = vectors();
    let s = signers(&v);
    let all = leaves(70000);
    let log = MemoryLog::from_leaf_hashes(&all);
    let mut builder = TileBuilder::new();
    let mut full = Vec::new();
    for t in &v.trees {
        while builder.size() < t.size {
            full.extend(builder.append(all[builder.size() as usize]));
        }
        assert_eq!(tree_hash(t.size, &log), Ok(t.root), "size {}", t.size);
        assert_eq!(builder.root(), t.root, "size {}", t.size);

        let cp = Checkpoint::new(&v.origin, t.size, t.root);
        let note = Note::sign(&cp.to_text(), &[&s[0]]).expect("signs");
        assert_eq!(
            String::from_utf8(note.to_bytes()).expect("utf-8"),
            t.checkpoint_note
        );
        let (opened, _) =
            Checkpoint::open(t.checkpoint_note.as_bytes(), &[s[0].verifier()]).expect("opens");
        assert_eq!(opened, cp);

        let paths: Vec<String> = tiles_for_size(t.size).iter().map(Tile::path).collect();
        let want: Vec<&str> = t.tiles.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, want, "size {}", t.size);
        let mut incremental = full.clone();
        incremental.extend(builder.partial_tiles());
        incremental.sort_by_key(|(t, _)| (t.level(), t.index()));
        let at_once = tiles_of(&all[..t.size as usize]);
        assert_eq!(incremental, at_once, "size {}", t.size);
        for ((tile, data), x) in at_once.iter().zip(&t.tiles) {
            assert_eq!(
                (tile.level(), tile.index(), tile.width()),
                (x.level, x.index, x.width)
            );
            assert_eq!(Tile::from_path(&x.path), Ok(*tile));
            assert_eq!(
                Sha256::digest(data).as_slice(),
                x.sha256.as_slice(),
                "{}",
                x.path
            );
            if let Some(d) = &x.data {
                assert_eq!(data, d, "{}", x.path);
            }
        }
        let source = MapTiles(at_once.into_iter().map(|(t, d)| (t.path(), d)).collect());
        assert_eq!(
            tree_hash(t.size, &TileHashReader::new(t.size, &source)),
            Ok(t.root)
        );
    }
}

#[test]
fn proofs_match_x_mod_from_memory_and_from_tiles() {
    let v = vectors();
    let all = leaves(70000);
    let log = MemoryLog::from_leaf_hashes(&all);
    let source = MapTiles(
        tiles_of(&all)
            .into_iter()
            .map(|(t, d)| (t.path(), d))
            .collect(),
    );
    let tiles = TileHashReader::new(70000, &source);
    let root = |n: u64| tree_hash(n, &log).expect("in log");
    for c in &v.inclusion {
        assert_eq!(c.leaf_hash, all[c.index as usize]);
        assert_eq!(
            prove_inclusion(c.index, c.size, &log).as_ref(),
            Ok(&c.proof),
            "{} in {}",
            c.index,
            c.size
        );
        assert_eq!(
            prove_inclusion(c.index, c.size, &tiles).as_ref(),
            Ok(&c.proof)
        );
        assert_eq!(
            check_inclusion(c.index, c.size, &c.leaf_hash, &root(c.size), &c.proof),
            Ok(())
        );
    }
    for c in &v.consistency {
        assert_eq!(
            prove_consistency(c.old, c.new, &log).as_ref(),
            Ok(&c.proof),
            "{} to {}",
            c.old,
            c.new
        );
        assert_eq!(
            prove_consistency(c.old, c.new, &tiles).as_ref(),
            Ok(&c.proof)
        );
        assert_eq!(
            check_consistency(c.old, &root(c.old), c.new, &root(c.new), &c.proof),
            Ok(())
        );
    }
}

#[test]
fn stored_hash_arithmetic_matches_x_mod() {
    let v = vectors();
    for (n, count) in &v.stored_hash_count {
        assert_eq!(
            stored_hash_count(n.parse().expect("decimal")),
            *count,
            "n={n}"
        );
    }
    for x in &v.stored_hash_index {
        assert_eq!(
            stored_hash_index(x.level, x.n),
            x.stored_index,
            "({}, {})",
            x.level,
            x.n
        );
        assert_eq!(tile_for_stored_index(x.stored_index).0.path(), x.tile_path);
    }
}

#[test]
fn cosignature_matches_the_go_reading_of_the_spec() {
    let v = vectors();
    let c = &v.cosignature;
    let w = CosignatureSigner::new(&c.name, seed(&c.seed)).expect("valid name");
    assert_eq!(w.verifier().key_id(), c.key_id);
    assert_eq!(w.verifier().vkey(), c.vkey);
    let line = w
        .cosign(&c.checkpoint_text, c.timestamp)
        .expect("cosigns")
        .line();
    assert_eq!(line, c.signature_line);
}
