//! Checkpoints: a signed statement, across every partition of the archive,
//! of the last manifest each one held at a moment, chained by digest
//! (`docs/FORMAT.md` §7a).
//!
//! A checkpoint is what a `--state` file is, but written by the archiver
//! into the bucket under Object Lock: a verifier that trusts the archiver's
//! key learns from the newest checkpoint how far every partition reached, so
//! a cut tail or a rewritten history shows without any state of its own.

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::link::Hash;
use crate::manifest::put_str;
use crate::seal::{KeyId, verify_signed};
use crate::{ChainError, hex};

const CHECKPOINT: &[u8] = b"auditlog/v1/checkpoint\0";

/// The last manifest of one partition, as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The manifest's `seq`.
    pub seq: u64,
    /// Its digest (`docs/FORMAT.md` §7).
    pub digest: Hash,
    /// The last offset its seal covers.
    pub last_offset: i64,
    /// Its key, relative to the prefix: where the next checkpoint's listing
    /// resumes.
    pub key: String,
}

/// A checkpoint, signed or about to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Dense from 0; also the object's key.
    pub seq: u64,
    /// Digest of checkpoint `seq − 1`, absent for 0.
    pub prev: Option<Hash>,
    /// When it was written, ms since the epoch.
    pub written_at_ms: i64,
    /// (topic, partition) → its last manifest.
    pub partitions: BTreeMap<(String, i32), Entry>,
    /// The signer's key id.
    pub key_id: KeyId,
    /// Ed25519 over [`Checkpoint::signing_message`].
    pub signature: [u8; 64],
}

fn bad(field: &'static str, message: impl Into<String>) -> ChainError {
    ChainError::Field {
        field,
        message: message.into(),
    }
}

/// `"<topic>/<partition>"`, the name a partition has in checkpoints and
/// state files.
pub fn partition_name(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The inverse of [`partition_name`].
pub fn parse_partition_name(name: &str) -> Option<(String, i32)> {
    let (t, p) = name.rsplit_once('/')?;
    let p: i32 = p.parse().ok()?;
    (!t.is_empty() && p >= 0 && partition_name(t, p) == name).then(|| (t.to_owned(), p))
}

impl Checkpoint {
    /// The exact bytes the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(64 + 96 * self.partitions.len());
        m.extend_from_slice(CHECKPOINT);
        m.extend_from_slice(&self.seq.to_be_bytes());
        match &self.prev {
            None => m.push(0),
            Some(p) => {
                m.push(1);
                m.extend_from_slice(p);
            }
        }
        m.extend_from_slice(&self.written_at_ms.to_be_bytes());
        m.extend_from_slice(
            &u32::try_from(self.partitions.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for ((topic, partition), e) in &self.partitions {
            put_str(&mut m, topic);
            m.extend_from_slice(&partition.to_be_bytes());
            m.extend_from_slice(&e.seq.to_be_bytes());
            m.extend_from_slice(&e.digest);
            m.extend_from_slice(&e.last_offset.to_be_bytes());
            put_str(&mut m, &e.key);
        }
        m.extend_from_slice(&self.key_id.0);
        m
    }

    /// SHA-256 of the signing message: what the next checkpoint's `prev`
    /// holds.
    pub fn digest(&self) -> Hash {
        Sha256::digest(self.signing_message()).into()
    }

    /// Sets `key_id` and `signature`.
    pub fn sign(&mut self, key: &SigningKey) {
        self.key_id = KeyId::of(&key.verifying_key());
        self.signature = key.sign(&self.signing_message()).to_bytes();
    }

    /// Checks the signature under `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ChainError> {
        if verify_signed(key, &self.key_id, &self.signing_message(), &self.signature) {
            Ok(())
        } else {
            Err(ChainError::BadSignature {
                partition: -1,
                seq: self.seq,
                key_id: self.key_id.to_string(),
            })
        }
    }

    /// The successor of `prev` (or checkpoint 0) holding `latest`: every
    /// partition keeps its entry from `prev` unless `latest` names a later
    /// manifest, so a checkpoint never goes backwards. Unsigned.
    pub fn next(
        prev: Option<&Checkpoint>,
        latest: BTreeMap<(String, i32), Entry>,
        written_at_ms: i64,
    ) -> Checkpoint {
        let mut partitions = prev.map(|p| p.partitions.clone()).unwrap_or_default();
        for (name, e) in latest {
            match partitions.get(&name) {
                Some(old) if old.seq >= e.seq => {}
                _ => {
                    partitions.insert(name, e);
                }
            }
        }
        Checkpoint {
            seq: prev.map_or(0, |p| p.seq + 1),
            prev: prev.map(Checkpoint::digest),
            written_at_ms,
            partitions,
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        }
    }

    /// The JSON form stored in the bucket.
    pub fn to_json(&self) -> Vec<u8> {
        let j = CheckpointJson {
            v: 1,
            seq: self.seq,
            prev_checkpoint: self.prev.as_ref().map(|p| hex::encode(p)),
            written_at_ms: self.written_at_ms,
            partitions: self
                .partitions
                .iter()
                .map(|((t, p), e)| {
                    (
                        partition_name(t, *p),
                        EntryJson {
                            seq: e.seq,
                            digest: hex::encode(&e.digest),
                            last_offset: e.last_offset,
                            key: e.key.clone(),
                        },
                    )
                })
                .collect(),
            key_id: self.key_id.to_string(),
            sig: hex::encode(&self.signature),
        };
        serde_json::to_vec_pretty(&j).unwrap_or_default()
    }

    /// Decodes the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Checkpoint, ChainError> {
        let j: CheckpointJson =
            serde_json::from_slice(bytes).map_err(|e| ChainError::Decode(e.to_string()))?;
        if j.v != 1 {
            return Err(bad("v", format!("unsupported checkpoint version {}", j.v)));
        }
        let h32 = |field: &'static str, s: &str| {
            hex::decode_array::<32>(s).ok_or_else(|| bad(field, "expected 64 lowercase hex digits"))
        };
        let mut partitions = BTreeMap::new();
        for (name, e) in j.partitions {
            let at = parse_partition_name(&name)
                .ok_or_else(|| bad("partitions", format!("{name:?} is not <topic>/<partition>")))?;
            partitions.insert(
                at,
                Entry {
                    seq: e.seq,
                    digest: h32("partitions.digest", &e.digest)?,
                    last_offset: e.last_offset,
                    key: e.key,
                },
            );
        }
        Ok(Checkpoint {
            seq: j.seq,
            prev: j
                .prev_checkpoint
                .as_deref()
                .map(|p| h32("prev_checkpoint", p))
                .transpose()?,
            written_at_ms: j.written_at_ms,
            partitions,
            key_id: KeyId(
                hex::decode_array::<16>(&j.key_id)
                    .ok_or_else(|| bad("key_id", "expected 32 hex digits"))?,
            ),
            signature: hex::decode_array::<64>(&j.sig)
                .ok_or_else(|| bad("sig", "expected 128 hex digits"))?,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    seq: u64,
    digest: String,
    last_offset: i64,
    key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointJson {
    v: u8,
    seq: u64,
    prev_checkpoint: Option<String>,
    written_at_ms: i64,
    partitions: BTreeMap<String, EntryJson>,
    key_id: String,
    sig: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::signing_key;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            digest: [u8::try_from(seq % 251).unwrap_or(0); 32],
            last_offset: i64::try_from(seq).unwrap_or(0) * 10 + 9,
            key: format!("manifests/topic=t/partition=0000/{:020}.json", seq * 10),
        }
    }

    fn latest(items: &[(&str, i32, u64)]) -> BTreeMap<(String, i32), Entry> {
        items
            .iter()
            .map(|(t, p, s)| (((*t).to_owned(), *p), entry(*s)))
            .collect()
    }

    #[test]
    fn next_chains_by_digest_and_never_goes_backwards() {
        let key = signing_key(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        let mut c0 = Checkpoint::next(None, latest(&[("t", 0, 3), ("t", 1, 5)]), 1_000);
        c0.sign(&key);
        assert_eq!((c0.seq, c0.prev), (0, None));
        let mut c1 = Checkpoint::next(Some(&c0), latest(&[("t", 0, 2), ("u", 0, 1)]), 2_000);
        c1.sign(&key);
        assert_eq!(c1.seq, 1);
        assert_eq!(c1.prev, Some(c0.digest()));
        assert_eq!(
            c1.partitions[&("t".into(), 0)].seq,
            3,
            "an older manifest never replaces a newer one"
        );
        assert_eq!(
            c1.partitions[&("t".into(), 1)].seq,
            5,
            "a partition not listed keeps its entry"
        );
        assert_eq!(c1.partitions[&("u".into(), 0)].seq, 1);
        assert!(c1.verify(&key.verifying_key()).is_ok());
    }

    #[test]
    fn json_round_trips_and_any_change_breaks_the_signature() {
        let key = signing_key(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        let mut c = Checkpoint::next(None, latest(&[("a.b", 10, 3), ("a.b", 2, 5)]), 1_000);
        c.sign(&key);
        let back = Checkpoint::from_json(&c.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, c);
        let mut changed = c.clone();
        if let Some(e) = changed.partitions.get_mut(&("a.b".into(), 2)) {
            e.seq -= 1;
        }
        assert!(changed.verify(&key.verifying_key()).is_err());
        let mut later = c.clone();
        later.written_at_ms += 1;
        assert!(later.verify(&key.verifying_key()).is_err());
    }

    #[test]
    fn partition_names_round_trip_and_reject_the_ambiguous() {
        assert_eq!(parse_partition_name("a.b/12"), Some(("a.b".into(), 12)));
        assert_eq!(partition_name("a.b", 12), "a.b/12");
        for bad in ["a.b", "/1", "a/-1", "a/01", "a/+1", "a/x"] {
            assert_eq!(parse_partition_name(bad), None, "{bad}");
        }
    }
}
