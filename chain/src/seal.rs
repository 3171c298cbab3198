//! Seals: signed statements over a contiguous offset range of one partition.
//!
//! The signature covers the *signing message*, a fixed binary layout
//! (see `docs/FORMAT.md` §3); the JSON form written to the seals topic is
//! only transport, so field order and whitespace there do not matter.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::link::Hash;
use crate::{ChainError, hex};

const SEAL: &[u8] = b"auditlog/v1/seal\0";
const KEY: &[u8] = b"auditlog/v1/key\0";

/// The first 16 bytes of SHA-256("auditlog/v1/key" 0x00 ‖ public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The id of a public key.
    pub fn of(key: &VerifyingKey) -> Self {
        let d: Hash = Sha256::new()
            .chain_update(KEY)
            .chain_update(key.as_bytes())
            .finalize()
            .into();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

/// Data seals cover records; heartbeats cover none and say the partition was
/// quiet up to `high_watermark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    /// Covers `count` > 0 records.
    Data,
    /// Covers no record.
    Heartbeat,
}

impl SealKind {
    fn byte(self) -> u8 {
        match self {
            SealKind::Data => 0,
            SealKind::Heartbeat => 1,
        }
    }
}

/// A seal, signed or about to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// Data or heartbeat.
    pub kind: SealKind,
    /// The events topic.
    pub topic: String,
    /// The events partition.
    pub partition: i32,
    /// Dense per partition, from 0.
    pub seq: u64,
    /// First offset covered (for a heartbeat: the next offset to seal).
    pub first_offset: i64,
    /// Last offset covered (for a heartbeat: `first_offset − 1`).
    pub last_offset: i64,
    /// Records covered.
    pub count: u64,
    /// The head before the first record (genesis for seq 0).
    pub prev_head: Hash,
    /// The head after the last record.
    pub head: Hash,
    /// Merkle root of the covered records' digests.
    pub merkle_root: Hash,
    /// The partition's high watermark when the seal was cut.
    pub high_watermark: i64,
    /// When the seal was cut, in milliseconds since the epoch.
    pub sealed_at_ms: i64,
    /// The signer's key id.
    pub key_id: KeyId,
    /// Ed25519 over [`Seal::signing_message`]; zero until signed.
    pub signature: [u8; 64],
}

impl Seal {
    /// The exact bytes the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(SEAL.len() + 4 + self.topic.len() + 8 * 7 + 32 * 3 + 1 + 16);
        m.extend_from_slice(SEAL);
        m.push(self.kind.byte());
        m.extend_from_slice(
            &u32::try_from(self.topic.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        m.extend_from_slice(self.topic.as_bytes());
        m.extend_from_slice(&self.partition.to_be_bytes());
        m.extend_from_slice(&self.seq.to_be_bytes());
        m.extend_from_slice(&self.first_offset.to_be_bytes());
        m.extend_from_slice(&self.last_offset.to_be_bytes());
        m.extend_from_slice(&self.count.to_be_bytes());
        m.extend_from_slice(&self.prev_head);
        m.extend_from_slice(&self.head);
        m.extend_from_slice(&self.merkle_root);
        m.extend_from_slice(&self.high_watermark.to_be_bytes());
        m.extend_from_slice(&self.sealed_at_ms.to_be_bytes());
        m.extend_from_slice(&self.key_id.0);
        m
    }

    /// Sets `key_id` and `signature` from `key`.
    pub fn sign(&mut self, key: &SigningKey) {
        self.key_id = KeyId::of(&key.verifying_key());
        self.signature = key.sign(&self.signing_message()).to_bytes();
    }

    /// Checks the signature under `key` (whose id must match `key_id`).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ChainError> {
        let bad = || ChainError::BadSignature {
            partition: self.partition,
            seq: self.seq,
            key_id: self.key_id.to_string(),
        };
        if verify_signed(key, &self.key_id, &self.signing_message(), &self.signature) {
            Ok(())
        } else {
            Err(bad())
        }
    }

    /// Structural checks that need no key: count, range and kind agree.
    pub fn is_well_formed(&self) -> bool {
        let span = self
            .last_offset
            .checked_sub(self.first_offset)
            .and_then(|d| d.checked_add(1));
        match self.kind {
            SealKind::Heartbeat => {
                self.count == 0
                    && span == Some(0)
                    && self.prev_head == self.head
                    && self.merkle_root == crate::merkle::empty_root()
            }
            SealKind::Data => {
                self.count > 0
                    && self.first_offset >= 0
                    && span
                        .and_then(|s| u64::try_from(s).ok())
                        .is_some_and(|s| s >= self.count)
            }
        }
    }

    /// The JSON form written to the seals topic.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&SealJson::from(self)).unwrap_or_default()
    }

    /// Decodes the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Seal, ChainError> {
        let j: SealJson =
            serde_json::from_slice(bytes).map_err(|e| ChainError::Decode(e.to_string()))?;
        j.try_into()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealJson {
    v: u8,
    kind: SealKind,
    topic: String,
    partition: i32,
    seq: u64,
    first_offset: i64,
    last_offset: i64,
    count: u64,
    prev_head: String,
    head: String,
    merkle_root: String,
    high_watermark: i64,
    sealed_at_ms: i64,
    key_id: String,
    sig: String,
}

impl From<&Seal> for SealJson {
    fn from(s: &Seal) -> Self {
        SealJson {
            v: 1,
            kind: s.kind,
            topic: s.topic.clone(),
            partition: s.partition,
            seq: s.seq,
            first_offset: s.first_offset,
            last_offset: s.last_offset,
            count: s.count,
            prev_head: hex::encode(&s.prev_head),
            head: hex::encode(&s.head),
            merkle_root: hex::encode(&s.merkle_root),
            high_watermark: s.high_watermark,
            sealed_at_ms: s.sealed_at_ms,
            key_id: s.key_id.to_string(),
            sig: hex::encode(&s.signature),
        }
    }
}

fn field<const N: usize>(name: &'static str, s: &str) -> Result<[u8; N], ChainError> {
    hex::decode_array::<N>(s).ok_or_else(|| ChainError::Field {
        field: name,
        message: format!("expected {} lowercase hex digits", N * 2),
    })
}

impl TryFrom<SealJson> for Seal {
    type Error = ChainError;
    fn try_from(j: SealJson) -> Result<Seal, ChainError> {
        if j.v != 1 {
            return Err(ChainError::Field {
                field: "v",
                message: format!("unsupported seal version {}", j.v),
            });
        }
        Ok(Seal {
            kind: j.kind,
            topic: j.topic,
            partition: j.partition,
            seq: j.seq,
            first_offset: j.first_offset,
            last_offset: j.last_offset,
            count: j.count,
            prev_head: field("prev_head", &j.prev_head)?,
            head: field("head", &j.head)?,
            merkle_root: field("merkle_root", &j.merkle_root)?,
            high_watermark: j.high_watermark,
            sealed_at_ms: j.sealed_at_ms,
            key_id: KeyId(field("key_id", &j.key_id)?),
            signature: field("sig", &j.sig)?,
        })
    }
}

/// Whether `signature` over `message` verifies under `key`, and `key` is the
/// one `key_id` names. Seals and manifests both check signatures this way.
pub(crate) fn verify_signed(
    key: &VerifyingKey,
    key_id: &KeyId,
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    KeyId::of(key) == *key_id
        && key
            .verify(message, &Signature::from_bytes(signature))
            .is_ok()
}

/// Reads a signing key from its 32 secret bytes.
pub fn signing_key(secret: &[u8]) -> Result<SigningKey, ChainError> {
    let bytes: [u8; 32] = secret
        .try_into()
        .map_err(|_| ChainError::BadKey(format!("{} bytes, expected 32", secret.len())))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key from its 32 bytes.
pub fn verifying_key(public: &[u8]) -> Result<VerifyingKey, ChainError> {
    let bytes: [u8; 32] = public
        .try_into()
        .map_err(|_| ChainError::BadKey(format!("{} bytes, expected 32", public.len())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| ChainError::BadKey(e.to_string()))
}
