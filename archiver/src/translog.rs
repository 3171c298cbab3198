//! Each (topic, partition) as a C2SP transparency log in the bucket
//! (`docs/FORMAT.md` §11.11).
//!
//! The leaves are the chain's record digests (`chain::link::record_digest`),
//! one per record in chain order since genesis; leaf hash
//! `SHA-256(0x00 ‖ digest)`. After a range's objects and manifest are
//! stored, the uploader appends its digests (already computed when the
//! records were checked against their seals), PUTs the full tiles they
//! completed and the partial tiles of the new size it did not have, then one signed
//! checkpoint at `checkpoint/<size, 20 digits>`; all create-only under
//! COMPLIANCE retention, so a retry or a second member writing the same key
//! with the same bytes is adopted, and different bytes are a conflict that
//! stops the archiver. Ed25519 signatures are deterministic, so a rewritten
//! checkpoint is byte-identical too.
//!
//! Resume: a range is reported done (and its seals offset committed) only
//! once it is logged, so at the committed offset the log holds exactly the
//! records of the seals before it. The consumer loop counts them while it
//! replays those seals (`runtime/resume.rs`); the first range after a
//! resume loads the checkpoint at exactly that size and its partial tiles,
//! checks their root against the checkpoint's, and appends from there.
//! Ranges logged after the committed offset before a crash are appended
//! again to identical tiles and checkpoints. No listing is needed; one is
//! done only to explain a missing checkpoint.
//!
//! The pure parts (origin, leaf hashes, what an append writes, checkpoint
//! notes) are plain functions; [`TransparencyLog`] is the IO around them.

use std::collections::HashMap;

use archive::layout::{
    parse_tlog_checkpoint_key, tlog_checkpoint_dir, tlog_checkpoint_key, tlog_tile_key,
};
use archive::store::{Put, Store};
use chain::link::Hash;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::sync::mpsc::Sender;
use tlog::{
    Checkpoint, Ed25519Signer, Ed25519Verifier, Note, NoteSigner, NoteVerifier, Tile, TileBuilder,
    TlogError,
};
use tokio::runtime::Handle;

use crate::cosign::collector::Input as CollectorInput;
use crate::{ArchiverError, telemetry};

/// The content type of tiles.
pub const TILE_CONTENT_TYPE: &str = "application/octet-stream";
/// The content type of checkpoints (signed notes).
pub const CHECKPOINT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// PUTs of one append in flight at once.
const PUT_CONCURRENCY: usize = 16;

/// The origin line of the log of (topic, partition):
/// `<origin prefix>/<topic>/<partition>`.
pub fn log_origin(origin_prefix: &str, topic: &str, partition: i32) -> String {
    format!("{origin_prefix}/{topic}/{partition}")
}

/// The RFC 6962 leaf hash of a record digest: SHA-256(0x00 ‖ digest).
pub fn record_leaf_hash(record_digest: &Hash) -> tlog::Hash {
    tlog::leaf_hash(record_digest)
}

/// Appends record digests to `builder`; returns every tile to store for
/// the new size: the full tiles they completed, then the partial tiles of
/// the new size (lowest level first) that the old size did not already
/// have (a level the append did not reach keeps its partial tile, path and
/// bytes, and storing it again would only be refused and adopted).
pub fn append_digests(builder: &mut TileBuilder, digests: &[Hash]) -> Vec<(Tile, Vec<u8>)> {
    let before = partial_tiles_at(builder.size());
    let mut tiles = Vec::new();
    for d in digests {
        tiles.extend(builder.append(record_leaf_hash(d)));
    }
    tiles.extend(
        builder
            .partial_tiles()
            .into_iter()
            .filter(|(t, _)| !before.contains(t)),
    );
    tiles
}

/// The signed checkpoint note of a log at `size` with `root`: signed with
/// `key` under the key name `origin`, as c2sp.org/tlog-checkpoint asks
/// (the key name matches the origin line), so each log has its own vkey.
pub fn signed_checkpoint(
    key: &SigningKey,
    origin: &str,
    size: u64,
    root: tlog::Hash,
) -> Result<Vec<u8>, TlogError> {
    let signer = Ed25519Signer::new(origin, key.clone())?;
    let text = Checkpoint::new(origin, size, root).to_text();
    Ok(Note::sign(&text, &[&signer as &dyn NoteSigner])?.to_bytes())
}

/// The verifiers of a log's checkpoints made with `key`: under the key
/// name `origin`, and (archives written before the name matched the
/// origin) under the origin prefix.
pub fn log_verifiers(
    key: &ed25519_dalek::VerifyingKey,
    origin_prefix: &str,
    origin: &str,
) -> Vec<Ed25519Verifier> {
    [origin, origin_prefix]
        .into_iter()
        .filter_map(|name| Ed25519Verifier::new(name, *key).ok())
        .collect()
}

/// Opens a checkpoint this log wrote: signed by one of `verifiers`, of
/// `origin`, at `size`. The error says what is wrong.
pub fn open_checkpoint(
    verifiers: &[Ed25519Verifier],
    origin: &str,
    size: u64,
    bytes: &[u8],
) -> Result<Checkpoint, String> {
    let known: Vec<&dyn NoteVerifier> = verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
    let (c, _) = Checkpoint::open(bytes, &known).map_err(|e| e.to_string())?;
    if c.origin != origin || c.size != size {
        return Err(format!(
            "it names {} at size {}, expected {origin} at size {size}",
            c.origin, c.size
        ));
    }
    Ok(c)
}

/// The partial tiles a tree of `size` leaves has.
pub fn partial_tiles_at(size: u64) -> Vec<Tile> {
    tlog::tile::partial_tiles_for_size(size)
}

/// Where a partition's log stands in this member's memory.
enum LogState {
    /// Resumed at `size` leaves; the bucket has not been read yet.
    Unloaded { size: u64 },
    /// Loaded: the builder is at the last checkpoint stored.
    Ready(TileBuilder),
}

/// The partitions' transparency logs, written by the uploader thread.
pub struct TransparencyLog {
    prefix: String,
    origin_prefix: String,
    key: SigningKey,
    logs: HashMap<(String, i32), LogState>,
    /// Where stored checkpoints go to be cosigned, when witnesses are set.
    collector: Option<Sender<CollectorInput>>,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("origin_prefix", &self.origin_prefix)
            .finish_non_exhaustive()
    }
}

impl TransparencyLog {
    /// Logs under `prefix`, with origins `<origin_prefix>/<topic>/<partition>`,
    /// checkpoints signed by `key` under the key name `origin_prefix`.
    pub fn new(prefix: &str, origin_prefix: &str, key: SigningKey) -> Result<Self, TlogError> {
        Ok(Self {
            prefix: prefix.to_owned(),
            origin_prefix: origin_prefix.to_owned(),
            key: {
                // The origin prefix must be a key name (the legacy one).
                Ed25519Signer::new(origin_prefix, key.clone())?;
                key
            },
            logs: HashMap::new(),
            collector: None,
        })
    }

    /// Hands each stored checkpoint (and each resumed log) to a collector.
    pub fn with_collector(mut self, collector: Option<Sender<CollectorInput>>) -> Self {
        self.collector = collector;
        self
    }

    fn tell_collector(&self, input: CollectorInput) {
        if let Some(c) = &self.collector {
            // A collector that has stopped only stops cosigning.
            let _ = c.send(input);
        }
    }

    /// A partition was (re)assigned: its log holds `size` leaves (the
    /// records of the seals before the committed offset).
    pub fn resume(&mut self, at: &(String, i32), size: u64) {
        self.logs.insert(at.clone(), LogState::Unloaded { size });
        self.tell_collector(CollectorInput::Resumed {
            at: at.clone(),
            size,
        });
    }

    fn inconsistent(at: &(String, i32), message: String) -> ArchiverError {
        ArchiverError::LogInconsistent {
            topic: at.0.clone(),
            partition: at.1,
            message,
        }
    }

    /// Appends a stored range's record digests and stores the tiles and the
    /// checkpoint of the new size, locked until `retain_until_secs`. On an
    /// error the partition's log is reloaded from the bucket next time, so
    /// a retry repeats the same PUTs.
    pub fn append(
        &mut self,
        store: &Store,
        rt: &Handle,
        at: &(String, i32),
        digests: &[Hash],
        retain_until_secs: i64,
    ) -> Result<(), ArchiverError> {
        let mut builder = match self.logs.remove(at) {
            Some(LogState::Ready(b)) => b,
            Some(LogState::Unloaded { size }) => {
                let loaded = rt.block_on(self.load(store, at, size));
                if loaded.is_err() {
                    self.logs.insert(at.clone(), LogState::Unloaded { size });
                }
                loaded?
            }
            None => {
                return Err(Self::inconsistent(
                    at,
                    "a range arrived before the partition was resumed".into(),
                ));
            }
        };
        let before = builder.size();
        let stored =
            rt.block_on(self.store_append(store, at, &mut builder, digests, retain_until_secs));
        match stored {
            Ok(()) => {
                self.logs.insert(at.clone(), LogState::Ready(builder));
                Ok(())
            }
            Err(e) => {
                self.logs
                    .insert(at.clone(), LogState::Unloaded { size: before });
                Err(e)
            }
        }
    }

    async fn store_append(
        &self,
        store: &Store,
        at: &(String, i32),
        builder: &mut TileBuilder,
        digests: &[Hash],
        retain_until_secs: i64,
    ) -> Result<(), ArchiverError> {
        let (topic, partition) = (at.0.as_str(), at.1);
        let tiles = append_digests(builder, digests);
        let partial = tiles.iter().filter(|(t, _)| !t.is_full()).count() as u64;
        let full = tiles.len() as u64 - partial;
        let puts = tiles.into_iter().map(|(t, bytes)| {
            let key = tlog_tile_key(&self.prefix, topic, partition, &t.path());
            (key, bytes, TILE_CONTENT_TYPE)
        });
        put_all(store, puts.collect(), retain_until_secs).await?;
        // The checkpoint only once every tile it needs is stored.
        let origin = log_origin(&self.origin_prefix, topic, partition);
        let size = builder.size();
        let note = signed_checkpoint(&self.key, &origin, size, builder.root())?;
        let key = tlog_checkpoint_key(&self.prefix, topic, partition, size);
        put_all(
            store,
            vec![(key, note.clone(), CHECKPOINT_CONTENT_TYPE)],
            retain_until_secs,
        )
        .await?;
        self.tell_collector(CollectorInput::Stored {
            at: at.clone(),
            size,
            note,
            retain_until_secs,
        });
        telemetry::range_logged(digests.len() as u64, full, partial);
        tracing::debug!(topic, partition, size, full, partial, "range logged");
        Ok(())
    }

    /// Reads the log back at `size`: its checkpoint (which must verify under
    /// this log's key and name this origin and size) and its partial tiles,
    /// whose root must be the checkpoint's.
    async fn load(
        &self,
        store: &Store,
        at: &(String, i32),
        size: u64,
    ) -> Result<TileBuilder, ArchiverError> {
        if size == 0 {
            return Ok(TileBuilder::new());
        }
        let (topic, partition) = (at.0.as_str(), at.1);
        let key = tlog_checkpoint_key(&self.prefix, topic, partition, size);
        let Some(bytes) = store.get(&key).await? else {
            let dir = tlog_checkpoint_dir(&self.prefix, topic, partition);
            let newest = store
                .list_keys(&dir, None)
                .await?
                .iter()
                .filter_map(|k| parse_tlog_checkpoint_key(&dir, k))
                .max();
            return Err(Self::inconsistent(
                at,
                format!(
                    "no checkpoint at size {size} (the records before the committed offset); the newest is at {newest:?}. \
                     The log must start at the partition's genesis: was archiver.transparency_log turned on for an archive that already held ranges?"
                ),
            ));
        };
        let origin = log_origin(&self.origin_prefix, topic, partition);
        let verifiers = log_verifiers(&self.key.verifying_key(), &self.origin_prefix, &origin);
        let checkpoint = open_checkpoint(&verifiers, &origin, size, &bytes)
            .map_err(|m| Self::inconsistent(at, format!("checkpoint {key}: {m}")))?;
        let mut partial = Vec::new();
        for t in partial_tiles_at(size) {
            let key = tlog_tile_key(&self.prefix, topic, partition, &t.path());
            let data = store.get(&key).await?.ok_or_else(|| {
                Self::inconsistent(at, format!("partial tile {key} of size {size} is missing"))
            })?;
            partial.push((t, data));
        }
        let builder = TileBuilder::resume(size, &partial)
            .map_err(|e| Self::inconsistent(at, format!("tiles of size {size}: {e}")))?;
        if builder.root() != checkpoint.root {
            return Err(Self::inconsistent(
                at,
                format!("the tiles of size {size} do not give the root of {key}"),
            ));
        }
        tracing::info!(topic, partition, size, "transparency log resumed");
        Ok(builder)
    }
}

/// PUTs `(key, bytes, content type)` create-only under retention, a few
/// at a time. An identical object already there is adopted; a different
/// one is a [`archive::StoreError::Conflict`].
async fn put_all(
    store: &Store,
    puts: Vec<(String, Vec<u8>, &'static str)>,
    retain_until_secs: i64,
) -> Result<(), ArchiverError> {
    use futures::StreamExt;
    // Polled here, on the caller's thread: no task spawned per PUT.
    let mut results = futures::stream::iter(puts.into_iter().map(
        |(key, bytes, content_type)| async move {
            let sha: [u8; 32] = Sha256::digest(&bytes).into();
            store
                .put_locked(&key, bytes, &sha, retain_until_secs, content_type)
                .await
        },
    ))
    .buffer_unordered(PUT_CONCURRENCY);
    while let Some(put) = results.next().await {
        if matches!(put?, Put::Existing { .. }) {
            telemetry::conflict(true);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog::hash::tree_hash_of;

    fn digests(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                chain::link::record_digest(&chain::link::RecordRef {
                    offset: i as i64,
                    timestamp_ms: Some(1_700_000_000_000),
                    key: None,
                    value: Some(&i.to_be_bytes()),
                })
            })
            .collect()
    }

    #[test]
    fn the_leaf_hash_is_rfc6962_of_the_record_digest() {
        let d = [7u8; 32];
        let mut data = vec![0u8];
        data.extend_from_slice(&d);
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(record_leaf_hash(&d), want);
    }

    #[test]
    fn appends_in_ranges_give_the_tiles_and_root_of_the_whole_log() {
        let all = digests(700);
        let leaves: Vec<tlog::Hash> = all.iter().map(record_leaf_hash).collect();
        let mut b = TileBuilder::new();
        let mut stored: Vec<(Tile, Vec<u8>)> = Vec::new();
        for range in [&all[..10], &all[10..300], &all[300..700]] {
            let tiles = append_digests(&mut b, range);
            assert!(!tiles.is_empty());
            stored.extend(tiles);
        }
        assert_eq!(b.root(), tree_hash_of(&leaves));
        // Everything a tlog-tiles client at size 700 reads was written.
        for want in tlog::tile::tiles_of(&leaves) {
            assert!(stored.contains(&want), "{}", want.0.path());
        }
        // A resumed builder at a range boundary writes the same bytes again.
        let mut again = TileBuilder::new();
        append_digests(&mut again, &all[..300]);
        let partial: Vec<(Tile, Vec<u8>)> = again.partial_tiles();
        let mut resumed = TileBuilder::resume(300, &partial).expect("resumes");
        let redo = append_digests(&mut resumed, &all[300..700]);
        assert!(redo.iter().all(|t| stored.contains(t)));
        // An append that stays inside one level-0 tile leaves the level-1
        // partial tile as it was: only the new level-0 partial tile is due.
        let mut b = TileBuilder::new();
        append_digests(&mut b, &all[..300]);
        let small = append_digests(&mut b, &all[300..310]);
        let paths: Vec<String> = small.iter().map(|(t, _)| t.path()).collect();
        assert_eq!(paths, ["tile/0/001.p/54"]);
    }

    #[test]
    fn a_checkpoint_note_is_the_c2sp_text_signed_under_its_origin() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let origin = log_origin("auditlog.local/b", "audit.events", 4);
        assert_eq!(origin, "auditlog.local/b/audit.events/4");
        let root = tree_hash_of(&[record_leaf_hash(&[1; 32])]);
        let note = signed_checkpoint(&key, &origin, 1, root).expect("signs");
        let text = String::from_utf8(note.clone()).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("auditlog.local/b/audit.events/4"));
        assert_eq!(lines.next(), Some("1"));
        assert_eq!(lines.nth(1), Some(""));
        // The key name is the origin (c2sp.org/tlog-checkpoint: SHOULD match).
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("— auditlog.local/b/audit.events/4 "))
        );
        // Deterministic: a rewrite is byte-identical, so it is adopted.
        assert_eq!(signed_checkpoint(&key, &origin, 1, root), Ok(note.clone()));
        let vs = log_verifiers(&key.verifying_key(), "auditlog.local/b", &origin);
        assert!(open_checkpoint(&vs, &origin, 1, &note).is_ok());
        assert!(open_checkpoint(&vs, &origin, 2, &note).is_err());
        assert!(open_checkpoint(&vs, "other/t/4", 1, &note).is_err());
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        let others = log_verifiers(&other, "auditlog.local/b", &origin);
        assert!(open_checkpoint(&others, &origin, 1, &note).is_err());
        // A checkpoint of an older archive, signed under the origin prefix.
        let legacy = Ed25519Signer::new("auditlog.local/b", key.clone()).expect("key");
        let text = Checkpoint::new(&origin, 1, root).to_text();
        let old = Note::sign(&text, &[&legacy as &dyn NoteSigner])
            .expect("signs")
            .to_bytes();
        assert!(open_checkpoint(&vs, &origin, 1, &old).is_ok());
    }

    #[test]
    fn the_partial_tiles_to_resume_are_those_of_the_size() {
        let p: Vec<String> = partial_tiles_at(70000).iter().map(Tile::path).collect();
        assert_eq!(p, ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]);
        assert!(partial_tiles_at(0).is_empty());
        let p: Vec<String> = partial_tiles_at(256).iter().map(Tile::path).collect();
        assert_eq!(p, ["tile/1/000.p/1"]);
    }
}
