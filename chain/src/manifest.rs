//! Manifests: one per archived range, binding the seal to the objects that
//! hold its records, and chained per partition by digest.
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

/// A manifest, signed or about to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The seal whose range the objects hold.
    pub seal: Seal,
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
        let seal_digest: Hash = Sha256::digest(self.seal.signing_message()).into();
        m.extend_from_slice(&seal_digest);
        m.extend_from_slice(&self.seal.signature);
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
            partition: self.seal.partition,
            seq: self.seal.seq,
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
        let seal: serde_json::Value =
            serde_json::from_slice(&self.seal.to_json()).unwrap_or_default();
        let j = ManifestJson {
            v: 1,
            seal,
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
        Ok(Manifest {
            seal: Seal::from_json(j.seal.to_string().as_bytes())?,
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
    seal: serde_json::Value,
    objects: Vec<ObjectJson>,
    schema_version: u16,
    seq: u64,
    prev_manifest: Option<String>,
    written_at_ms: i64,
    key_id: String,
    sig: String,
}
