//! The witnessed half of an inclusion proof (docs/FORMAT.md §9.1): the
//! record's leaf in its partition's transparency log, an RFC 6962
//! inclusion proof, and a checkpoint cosigned by witnesses. Checking it
//! needs the archiver's public key (the log's key) and the trusted
//! witnesses' keys: nothing of the archive.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use tlog::{Checkpoint, Ed25519Verifier, Note, NoteVerifier, TileHashReader, TileSource};

use crate::Witnesses;

/// The record's place in its log, proven against a cosigned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogInclusion {
    /// The record's leaf index (its position in the partition's chain).
    pub index: u64,
    /// The inclusion proof, hashes in hex, per RFC 9162 §2.1.3.
    pub path: Vec<String>,
    /// The cosigned checkpoint note, verbatim (§11.12).
    pub checkpoint: String,
}

/// Builds the inclusion of leaf `index` in the log whose cosigned
/// checkpoint is `note`, reading hashes from `tiles` (at the checkpoint's
/// size).
pub fn build(index: u64, note: &[u8], tiles: &dyn TileSource) -> Result<LogInclusion, String> {
    let n = Note::parse(note).map_err(|e| e.to_string())?;
    let c = Checkpoint::parse(n.text()).map_err(|e| e.to_string())?;
    let reader = TileHashReader::new(c.size, tiles);
    let path = tlog::proof::prove_inclusion(index, c.size, &reader).map_err(|e| e.to_string())?;
    Ok(LogInclusion {
        index,
        path: path.iter().map(|h| chain::hex::encode(h)).collect(),
        checkpoint: String::from_utf8(note.to_vec()).map_err(|e| e.to_string())?,
    })
}

/// Every reason the log inclusion of a record with `record_digest`, of
/// `topic`/`partition`, fails: the checkpoint must be signed by one of
/// `archiver_keys` (under the key name its signature line gives: the origin
/// itself, `<prefix>/<topic>/<partition>`, or in older archives the prefix), carry `witnesses.quorum` valid
/// cosignatures by `witnesses.keys`, and the leaf and path must lead to its
/// root. Returns the checkpoint's origin and size when it holds.
pub fn check(
    inc: &LogInclusion,
    record_digest: &[u8; 32],
    topic: &str,
    partition: i32,
    archiver_keys: &[VerifyingKey],
    witnesses: &Witnesses,
) -> Result<(String, u64), Vec<String>> {
    let mut bad = Vec::new();
    let note = match Note::parse(inc.checkpoint.as_bytes()) {
        Ok(n) => n,
        Err(e) => return Err(vec![format!("log checkpoint: {e}")]),
    };
    // The log's key: an archiver key under the name a signature line gives.
    let candidates: Vec<Ed25519Verifier> = note
        .signatures()
        .iter()
        .flat_map(|s| {
            archiver_keys
                .iter()
                .filter_map(|k| Ed25519Verifier::new(&s.name, *k).ok())
                .filter(|v| v.key_id() == s.key_id)
                .collect::<Vec<_>>()
        })
        .collect();
    let signed_by = candidates
        .iter()
        .find(|v| note.verify(&[*v as &dyn NoteVerifier]).is_ok());
    let Some(log_key) = signed_by else {
        return Err(vec![
            "the log checkpoint is not signed by a registered archiver key".into(),
        ]);
    };
    let c = match Checkpoint::parse(note.text()) {
        Ok(c) => c,
        Err(e) => return Err(vec![format!("log checkpoint: {e}")]),
    };
    // The key name is the origin (or, in archives written before, the
    // origin prefix); either way the origin ends in this record's log.
    let suffix = format!("/{topic}/{partition}");
    let named = c.origin == log_key.name() || c.origin == format!("{}{suffix}", log_key.name());
    if !named || !c.origin.ends_with(&suffix) {
        bad.push(format!(
            "the log checkpoint is of {} (signed as {}), not of this record's log …{suffix}",
            c.origin,
            log_key.name()
        ));
    }
    let (cosigned, forged) = crate::witnesscheck::trusted_cosignatures(&note, &witnesses.keys);
    bad.extend(
        forged
            .into_iter()
            .map(|(name, e)| format!("cosignature of {name}: {e}")),
    );
    let quorum = witnesses.quorum.max(1);
    if !witnesses.keys.is_empty() && cosigned < quorum {
        bad.push(format!(
            "the log checkpoint carries {cosigned} valid cosignatures of trusted witnesses, {quorum} needed"
        ));
    }
    let path: Option<Vec<[u8; 32]>> = inc
        .path
        .iter()
        .map(|h| chain::hex::decode_array::<32>(h))
        .collect();
    let leaf = tlog::leaf_hash(record_digest);
    let included = path.is_some_and(|p| {
        tlog::proof::check_inclusion(inc.index, c.size, &leaf, &c.root, &p).is_ok()
    });
    if !included {
        bad.push(format!(
            "the record is not leaf {} of the log at size {}: the inclusion proof does not lead to the checkpoint's root",
            inc.index, c.size
        ));
    }
    if bad.is_empty() {
        Ok((c.origin, c.size))
    } else {
        Err(bad)
    }
}

/// Whether the inclusion's leaf and path lead to its checkpoint's root.
pub fn leads_to_root(inc: &LogInclusion, digest: &[u8; 32]) -> bool {
    let Ok(note) = tlog::Note::parse(inc.checkpoint.as_bytes()) else {
        return false;
    };
    let Ok(c) = tlog::Checkpoint::parse(note.text()) else {
        return false;
    };
    let path: Option<Vec<[u8; 32]>> = inc
        .path
        .iter()
        .map(|h| chain::hex::decode_array::<32>(h))
        .collect();
    path.is_some_and(|p| {
        tlog::proof::check_inclusion(inc.index, c.size, &tlog::leaf_hash(digest), &c.root, &p)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tlog::{CosignatureSigner, Ed25519Signer, MemoryLog, NoteSigner, Tile};

    struct Mem(Vec<(Tile, Vec<u8>)>);

    impl TileSource for Mem {
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog::TlogError> {
            tiles
                .iter()
                .map(|t| {
                    self.0
                        .iter()
                        .find(|(x, _)| x == t)
                        .map(|(_, b)| b.clone())
                        .ok_or(tlog::TlogError::Source { message: t.path() })
                })
                .collect()
        }
    }

    fn digests(n: u64) -> Vec<[u8; 32]> {
        (0..n).map(|i| [(i % 251) as u8; 32]).collect()
    }

    fn setup(n: u64, cosigners: &[&CosignatureSigner]) -> (Vec<u8>, Mem, SigningKey) {
        let sk = SigningKey::from_bytes(&[5; 32]);
        let signer = Ed25519Signer::new("auditlog.test/b/t/3", sk.clone()).expect("key");
        let leaves: Vec<tlog::Hash> = digests(n).iter().map(|d| tlog::leaf_hash(d)).collect();
        let log = MemoryLog::from_leaf_hashes(&leaves);
        let text = Checkpoint::new("auditlog.test/b/t/3", n, log.root()).to_text();
        let mut note = Note::sign(&text, &[&signer as &dyn NoteSigner]).expect("signs");
        for w in cosigners {
            note.add_signature(w.cosign(&text, 1_700_000_000).expect("cosigns"))
                .expect("adds");
        }
        (note.to_bytes(), Mem(tlog::tile::tiles_of(&leaves)), sk)
    }

    #[test]
    fn a_cosigned_inclusion_holds_and_each_alteration_fails() {
        let w = CosignatureSigner::new("w.test/1", SigningKey::from_bytes(&[6; 32])).expect("w");
        let ws = Witnesses {
            keys: vec![w.verifier().clone()],
            quorum: 1,
        };
        let (note, tiles, sk) = setup(700, &[&w]);
        let keys = [sk.verifying_key()];
        let d = digests(700);
        let inc = build(300, &note, &tiles).expect("builds");
        assert_eq!(
            check(&inc, &d[300], "t", 3, &keys, &ws),
            Ok(("auditlog.test/b/t/3".into(), 700))
        );
        // Another record, another index, another partition, another key.
        assert!(check(&inc, &[0xaa; 32], "t", 3, &keys, &ws).is_err());
        let moved = LogInclusion {
            index: 301,
            ..inc.clone()
        };
        assert!(check(&moved, &d[300], "t", 3, &keys, &ws).is_err());
        assert!(check(&inc, &d[300], "t", 4, &keys, &ws).is_err());
        let other = [SigningKey::from_bytes(&[9; 32]).verifying_key()];
        assert!(check(&inc, &d[300], "t", 3, &other, &ws).is_err());
        // Without the quorum: no cosignature, or one by an untrusted witness.
        let (bare, tiles2, _) = setup(700, &[]);
        let inc2 = build(300, &bare, &tiles2).expect("builds");
        let e = check(&inc2, &d[300], "t", 3, &keys, &ws).expect_err("no quorum");
        assert!(e[0].contains("0 valid cosignatures"), "{e:?}");
        assert!(check(&inc2, &d[300], "t", 3, &keys, &Witnesses::default()).is_ok());
    }
}
