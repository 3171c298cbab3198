//! Manifests: one per archived range (a run of consecutive seals), binding
//! the seals to the objects that hold their records, and chained per
//! partition by digest.
//!
//! The signature covers the *signing message* (`docs/FORMAT.md` §7); the JSON
//! form is transport only.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::link::Hash;
use crate::seal::{KeyId, Seal, verify_signed};
use crate::{ChainError, hex};

const MANIFEST: &[u8] = b"auditlog/v1/manifest\0";

/// Which table an object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Valid v1 events.
    Events,
    /// Records that are not valid v1 events.
    DeadLetters,
}

impl Table {
    fn byte(self) -> u8 {
        match self {
            Table::Events => 0,
            Table::DeadLetters => 1,
        }
    }
}

/// One object a manifest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its table.
    pub table: Table,
    /// Its S3 key.
    pub key: String,
    /// The S3 version id the PUT returned.
    pub version_id: String,
    /// SHA-256 of its bytes.
    pub sha256: Hash,
    /// Rows in it.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The seals of one archived range: at least one, consecutive data seals of
/// one partition in chain order (`docs/FORMAT.md` §7). Not checked here —
/// a verifier reports a run that does not link up — only that it is not
/// empty, so the range's ends are always defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seals(Vec<Seal>);

impl Seals {
    /// A run of one seal.
    pub fn one(seal: Seal) -> Self {
        Self(vec![seal])
    }

    /// A run of seals; `None` if empty.
    pub fn new(seals: Vec<Seal>) -> Option<Self> {
        (!seals.is_empty()).then_some(Self(seals))
    }

    /// The first seal.
    pub fn first(&self) -> &Seal {
        &self.0[0]
    }

    /// The last seal.
    pub fn last(&self) -> &Seal {
        &self.0[self.0.len() - 1]
    }

    /// The seals in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Seal> {
        self.0.iter()
    }

    /// How many seals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true; for symmetry with [`Self::len`].
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The seals as a slice.
    pub fn as_slice(&self) -> &[Seal] {
        &self.0
    }

    /// The seals, to change in place (they stay at least one).
    pub fn as_mut_slice(&mut self) -> &mut [Seal] {
        &mut self.0
    }

    /// The range's topic (the first seal's).
    pub fn topic(&self) -> &str {
        &self.first().topic
    }

    /// The range's partition (the first seal's).
    pub fn partition(&self) -> i32 {
        self.first().partition
    }

    /// The first offset of the first seal.
    pub fn first_offset(&self) -> i64 {
        self.first().first_offset
    }

    /// The last offset of the last seal.
    pub fn last_offset(&self) -> i64 {
        self.last().last_offset
    }

    /// Records the seals count together.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|s| s.count).sum()
    }

    /// The chain head before the range (the first seal's `prev_head`).
    pub fn prev_head(&self) -> Hash {
        self.first().prev_head
    }

    /// The chain head after the range (the last seal's `head`).
    pub fn head(&self) -> Hash {
        self.last().head
    }

    /// When the range was sealed: the last seal's time, which fixes the
    /// retention of its objects.
    pub fn sealed_at_ms(&self) -> i64 {
        self.last().sealed_at_ms
    }
}

impl<'a> IntoIterator for &'a Seals {
    type Item = &'a Seal;
    type IntoIter = std::slice::Iter<'a, Seal>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A manifest, signed or about to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The seals whose range the objects hold.
    pub seals: Seals,
    /// The objects, events first.
    pub objects: Vec<ObjectRef>,
    /// The event schema version of the rows.
    pub schema_version: u16,
    /// Dense per topic and partition from 0: a missing manifest leaves a
    /// hole a verifier can count.
    pub seq: u64,
    /// Digest of the previous manifest of the same partition, if any.
    pub prev_manifest: Option<Hash>,
    /// When the manifest was written, ms since the epoch.
    pub written_at_ms: i64,
    /// The signer's key id.
    pub key_id: KeyId,
    /// Ed25519 over [`Manifest::signing_message`].
    pub signature: [u8; 64],
}

/// `u32be(len(s)) ‖ s`, as every signing message writes strings.
pub(crate) fn put_str(m: &mut Vec<u8>, s: &str) {
    m.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    m.extend_from_slice(s.as_bytes());
}

impl Manifest {
    /// The exact bytes the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(256);
        m.extend_from_slice(MANIFEST);
        m.extend_from_slice(
            &u32::try_from(self.seals.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for seal in &self.seals {
            let seal_digest: Hash = Sha256::digest(seal.signing_message()).into();
            m.extend_from_slice(&seal_digest);
            m.extend_from_slice(&seal.signature);
        }
        m.extend_from_slice(&self.schema_version.to_be_bytes());
        m.extend_from_slice(&self.seq.to_be_bytes());
        match &self.prev_manifest {
            None => m.push(0),
            Some(p) => {
                m.push(1);
                m.extend_from_slice(p);
            }
        }
        m.extend_from_slice(
            &u32::try_from(self.objects.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for o in &self.objects {
            m.push(o.table.byte());
            put_str(&mut m, &o.key);
            put_str(&mut m, &o.version_id);
            m.extend_from_slice(&o.sha256);
            m.extend_from_slice(&o.rows.to_be_bytes());
            m.extend_from_slice(&o.bytes.to_be_bytes());
        }
        m.extend_from_slice(&self.written_at_ms.to_be_bytes());
        m.extend_from_slice(&self.key_id.0);
        m
    }

    /// SHA-256 of the signing message: what the next manifest's
    /// `prev_manifest` holds.
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
        let bad = || ChainError::BadSignature {
            partition: self.seals.partition(),
            seq: self.seals.first().seq,
            key_id: self.key_id.to_string(),
        };
        if verify_signed(key, &self.key_id, &self.signing_message(), &self.signature) {
            Ok(())
        } else {
            Err(bad())
        }
    }

    /// The JSON form stored next to the objects.
    pub fn to_json(&self) -> Vec<u8> {
        let seals = self
            .seals
            .iter()
            .map(|s| serde_json::from_slice(&s.to_json()).unwrap_or_default())
            .collect();
        let j = ManifestJson {
            v: 1,
            seals,
            objects: self
                .objects
                .iter()
                .map(|o| ObjectJson {
                    table: o.table,
                    key: o.key.clone(),
                    version_id: o.version_id.clone(),
                    sha256: hex::encode(&o.sha256),
                    rows: o.rows,
                    bytes: o.bytes,
                })
                .collect(),
            schema_version: self.schema_version,
            seq: self.seq,
            prev_manifest: self.prev_manifest.as_ref().map(|p| hex::encode(p)),
            written_at_ms: self.written_at_ms,
            key_id: self.key_id.to_string(),
            sig: hex::encode(&self.signature),
        };
        serde_json::to_vec_pretty(&j).unwrap_or_default()
    }

    /// Decodes the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ChainError> {
        let j: ManifestJson =
            serde_json::from_slice(bytes).map_err(|e| ChainError::Decode(e.to_string()))?;
        if j.v != 1 {
            return Err(ChainError::Field {
                field: "v",
                message: format!("unsupported manifest version {}", j.v),
            });
        }
        let h32 = |field: &'static str, s: &str| {
            hex::decode_array::<32>(s).ok_or_else(|| ChainError::Field {
                field,
                message: "expected 64 lowercase hex digits".into(),
            })
        };
        let objects = j
            .objects
            .into_iter()
            .map(|o| {
                Ok(ObjectRef {
                    table: o.table,
                    key: o.key,
                    version_id: o.version_id,
                    sha256: h32("objects.sha256", &o.sha256)?,
                    rows: o.rows,
                    bytes: o.bytes,
                })
            })
            .collect::<Result<Vec<_>, ChainError>>()?;
        let seals = j
            .seals
            .iter()
            .map(|s| Seal::from_json(s.to_string().as_bytes()))
            .collect::<Result<Vec<_>, ChainError>>()?;
        Ok(Manifest {
            seals: Seals::new(seals).ok_or_else(|| ChainError::Field {
                field: "seals",
                message: "a manifest covers at least one seal".into(),
            })?,
            objects,
            schema_version: j.schema_version,
            seq: j.seq,
            prev_manifest: j
                .prev_manifest
                .as_deref()
                .map(|p| h32("prev_manifest", p))
                .transpose()?,
            written_at_ms: j.written_at_ms,
            key_id: KeyId(
                hex::decode_array::<16>(&j.key_id).ok_or_else(|| ChainError::Field {
                    field: "key_id",
                    message: "expected 32 hex digits".into(),
                })?,
            ),
            signature: hex::decode_array::<64>(&j.sig).ok_or_else(|| ChainError::Field {
                field: "sig",
                message: "expected 128 hex digits".into(),
            })?,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectJson {
    table: Table,
    key: String,
    version_id: String,
    sha256: String,
    rows: u64,
    bytes: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestJson {
    v: u8,
    seals: Vec<serde_json::Value>,
    objects: Vec<ObjectJson>,
    schema_version: u16,
    seq: u64,
    prev_manifest: Option<String>,
    written_at_ms: i64,
    key_id: String,
    sig: String,
}
