//! # tlog
//!
//! The C2SP transparency-log formats, pure: no IO, no clock. Each
//! (topic, partition) of the archive is to become a transparency log whose
//! tiles and checkpoints live in the bucket and whose checkpoints independent
//! witnesses cosign; this crate is the byte-exact core that the archiver, the
//! witness service and the verifier share. docs/FORMAT.md §11 ("Transparency
//! log (C2SP)") specifies what it implements, with test vectors that
//! `tests/format_doc.rs` checks.
//!
//! - [`hash`]: RFC 6962 leaf and node hashes, the tree hash, and the
//!   stored-hash index arithmetic that tiles are built on; [`HashReader`]
//!   abstracts where stored hashes come from (memory, tiles read from S3).
//! - [`proof`]: inclusion and consistency proofs, built from a
//!   [`HashReader`] and checked against roots (RFC 6962 / RFC 9162 §2.1).
//! - [`tile`]: c2sp.org/tlog-tiles: tile coordinates and paths
//!   (`tile/<L>/<N>[.p/<W>]`, `tile/entries/…`), building tiles at once or
//!   incrementally ([`TileBuilder`]), and reading hashes back out of tiles.
//! - [`note`]: c2sp.org/signed-note: parsing, serializing, signing and
//!   verifying notes; Ed25519 keys, key ids and vkeys.
//! - [`checkpoint`]: c2sp.org/tlog-checkpoint note texts.
//! - [`cosignature`]: c2sp.org/tlog-cosignature, the Ed25519
//!   `cosignature/v1` type (signature type 0x04).
//! - [`witness`]: the pure decision of c2sp.org/tlog-witness `add-checkpoint`.
//!
//! Interop: `tests/vectors.rs` reproduces, byte for byte, vectors that Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog` wrote (`tests/tlogvectors/`
//! at the workspace root; `tlog/README.md` says how to regenerate them and how
//! to have Go check what this crate writes).
//!
//! Architecture Invariant: tlog does no IO and reads no clock; times are
//! arguments.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cosignature;
mod encoding;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;
pub mod witness;

pub use checkpoint::Checkpoint;
pub use cosignature::{CosignatureSigner, CosignatureVerifier};
pub use hash::{Hash, HashReader, MemoryLog, empty_hash, leaf_hash, node_hash};
pub use note::{Ed25519Signer, Ed25519Verifier, Note, NoteSignature, NoteSigner, NoteVerifier};
pub use tile::{Tile, TileBuilder, TileHashReader, TileSource};
pub use witness::{
    AddCheckpoint, Cosigned, TreeHead, WitnessRefusal, WitnessedLog, witness_decide,
};

/// Why a transparency-log artefact was refused or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A leaf index is not inside the tree.
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Two tree sizes are not in the order a proof needs (old ≤ new), or a
    /// size exceeds what the hash source holds.
    #[error("tree sizes {old} and {new} do not allow this proof")]
    SizeOutOfRange {
        /// The old (or requested) size.
        old: u64,
        /// The new (or available) size.
        new: u64,
    },
    /// A hash source does not hold a stored hash that was asked of it.
    #[error("stored hash {index} is missing (the source holds {available})")]
    StoredHashMissing {
        /// The stored-hash index.
        index: u64,
        /// How many stored hashes the source holds.
        available: u64,
    },
    /// A hash or tile source failed (for example, a tile could not be read
    /// from storage); the message is the source's.
    #[error("hash source failed: {message}")]
    Source {
        /// What the source reported.
        message: String,
    },
    /// An inclusion proof does not lead to the root.
    #[error("inclusion proof of leaf {index} in tree of size {size} does not verify")]
    InclusionProof {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof does not connect the two roots.
    #[error("consistency proof from size {old} to size {new} does not verify")]
    ConsistencyProof {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// A tile path is not one the spec allows.
    #[error("tile path {path:?}: {reason}")]
    TilePath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Tile bytes do not fit the tile, or a hash is not in the tile.
    #[error("tile {tile}: {reason}")]
    TileData {
        /// The tile's path.
        tile: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry bundle is malformed or an entry does not fit one.
    #[error("entry bundle: {reason}")]
    EntryBundle {
        /// What is wrong.
        reason: String,
    },
    /// A signed note breaks a rule of c2sp.org/signed-note.
    #[error("malformed note: {reason}")]
    MalformedNote {
        /// Which rule.
        reason: String,
    },
    /// A key name is empty or holds a space or a plus.
    #[error("invalid key name {name:?}")]
    KeyName {
        /// The name.
        name: String,
    },
    /// A verifier or signer key string, or key bytes, are malformed.
    #[error("malformed key {key:?}: {reason}")]
    MalformedKey {
        /// The key string (a signer key is never echoed, only its name).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two configured verifiers share a name and key id.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A signature by a known key does not verify.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature of the note is by a known key.
    #[error("no signature by a known key ({unknown} by unknown keys)")]
    NoKnownSignature {
        /// How many signatures were by unknown keys.
        unknown: usize,
    },
    /// A checkpoint text breaks a rule of c2sp.org/tlog-checkpoint.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// Which rule.
        reason: String,
    },
    /// A cosignature is malformed or cannot be made.
    #[error("cosignature by {name}: {reason}")]
    Cosignature {
        /// The cosigner's key name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An add-checkpoint request body is malformed.
    #[error("malformed add-checkpoint request: {reason}")]
    MalformedRequest {
        /// Which rule.
        reason: String,
    },
}
