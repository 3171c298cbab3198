//! Inclusion proofs: one record, its Merkle path to a signed seal, and the
//! signed manifest that archived it (`docs/FORMAT.md` §9). Checking one needs
//! only the public keys: no broker, no bucket.

use chain::link::{Hash, RecordRef, record_digest};
use chain::manifest::Manifest;
use chain::{Seal, hex, merkle};
use serde::{Deserialize, Serialize};

use crate::registry::{KeyProblem, Registry, Role};
use crate::rows::Row;

/// The proven record, bytes in hex exactly as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Kafka timestamp, ms.
    pub timestamp_ms: Option<i64>,
    /// Key bytes, hex.
    pub key: Option<String>,
    /// Value bytes, hex.
    pub value: Option<String>,
}

/// A self-contained inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// Format version, 1.
    pub v: u8,
    /// The record.
    pub record: ProvenRecord,
    /// Its index among the records of the manifest's seal whose range holds
    /// it (offset order).
    pub leaf_index: u64,
    /// Sibling hashes from the leaf up, hex.
    pub path: Vec<String>,
    /// The signed manifest (its seals inside) that archived the range, as stored.
    pub manifest: serde_json::Value,
    /// The object that holds the record.
    pub object_key: String,
    /// For people: the record value as JSON when it is JSON; must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
    /// The record in its partition's transparency log, against a cosigned
    /// checkpoint (§9.1), when the archive has one that covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<crate::logproof::LogInclusion>,
}

/// The seal of a manifest whose range holds `offset`.
fn seal_of(m: &Manifest, offset: i64) -> Option<&Seal> {
    m.seals
        .iter()
        .find(|s| s.first_offset <= offset && offset <= s.last_offset)
}

/// Builds the proof of `rows[index]`; `rows` are all the range's rows in
/// offset order. The path leads to the root of the seal whose range holds
/// the record.
pub fn build(
    manifest: &Manifest,
    manifest_json: &[u8],
    object_key: &str,
    rows: &[Row],
    index: usize,
) -> Option<Proof> {
    let r = rows.get(index)?;
    let seal = seal_of(manifest, r.offset)?;
    let mine: Vec<&Row> = rows
        .iter()
        .filter(|x| seal.first_offset <= x.offset && x.offset <= seal.last_offset)
        .collect();
    let leaves: Vec<Hash> = mine.iter().map(|x| digest(x)).collect();
    let index = mine.iter().position(|x| x.offset == r.offset)?;
    let path = merkle::inclusion_path(&leaves, index)?;
    Some(Proof {
        v: 1,
        record: ProvenRecord {
            topic: manifest.seals.topic().to_owned(),
            partition: manifest.seals.partition(),
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key.as_deref().map(hex::encode),
            value: r.value.as_deref().map(hex::encode),
        },
        leaf_index: index as u64,
        path: path.iter().map(|h| hex::encode(h)).collect(),
        manifest: serde_json::from_slice(manifest_json).ok()?,
        object_key: object_key.to_owned(),
        event: r
            .value
            .as_deref()
            .and_then(|v| serde_json::from_slice(v).ok()),
        log: None,
    })
}

/// The record digest of the proof's record, if its bytes decode.
pub fn record_digest_of(proof: &Proof) -> Option<Hash> {
    let r = &proof.record;
    let bytes = |v: &Option<String>| -> Option<Option<Vec<u8>>> {
        match v {
            None => Some(None),
            Some(h) => hex::decode(h).map(Some),
        }
    };
    Some(digest(&Row {
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: bytes(&r.key)?,
        value: bytes(&r.value)?,
    }))
}

/// [`check`], plus the log inclusion (§9.1): with trusted `witnesses`, a
/// proof must carry one whose checkpoint has their quorum. On success, the
/// log's origin and size when the proof carries one.
pub fn check_witnessed(
    proof: &Proof,
    reg: &Registry,
    witnesses: &crate::Witnesses,
) -> Result<Option<(String, u64)>, Vec<String>> {
    let mut bad = check(proof, reg);
    let mut logged = None;
    match (&proof.log, record_digest_of(proof)) {
        (None, _) if !witnesses.keys.is_empty() => bad.push(
            "the proof carries no cosigned log checkpoint, and trusted witnesses are given".into(),
        ),
        (None, _) => {}
        (Some(_), None) => {} // the record's bytes are reported by check
        (Some(inc), Some(d)) => match crate::logproof::check(
            inc,
            &d,
            &proof.record.topic,
            proof.record.partition,
            &reg.keys(Role::Archiver),
            witnesses,
        ) {
            Ok(at) => logged = Some(at),
            Err(e) => bad.extend(e),
        },
    }
    if bad.is_empty() { Ok(logged) } else { Err(bad) }
}

fn digest(r: &Row) -> Hash {
    record_digest(&RecordRef {
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_deref(),
        value: r.value.as_deref(),
    })
}

fn key_check(
    reg: &Registry,
    what: &str,
    id: &chain::KeyId,
    role: Role,
    at: i64,
    ok: impl Fn(&ed25519_dalek::VerifyingKey) -> bool,
) -> Option<String> {
    match reg.lookup(id, role, at) {
        Ok(k) if ok(k) => None,
        Ok(_) => Some(format!("{what} signature does not verify")),
        Err(KeyProblem::Unknown) => Some(format!("{what} is signed by unregistered key {id}")),
        Err(KeyProblem::OutsideWindow { window }) => Some(format!(
            "{what} key {id} used outside its window ({window})"
        )),
    }
}

/// The proof as stored: compact JSON, so that changing any byte of it
/// changes what it says.
pub fn to_json(proof: &Proof) -> String {
    serde_json::to_string(proof).unwrap_or_default()
}

/// Every reason the proof fails; empty when it holds.
pub fn check(proof: &Proof, reg: &Registry) -> Vec<String> {
    let mut bad = Vec::new();
    if proof.v != 1 {
        bad.push(format!("unsupported proof version {}", proof.v));
    }
    let m = match serde_json::to_vec(&proof.manifest)
        .map_err(|e| e.to_string())
        .and_then(|b| Manifest::from_json(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            bad.push(format!("manifest does not decode: {e}"));
            return bad;
        }
    };
    let r = &proof.record;
    let Some(s) = seal_of(&m, r.offset) else {
        bad.push(format!(
            "offset {} is outside the manifest's range {}..={}",
            r.offset,
            m.seals.first_offset(),
            m.seals.last_offset()
        ));
        return bad;
    };
    let bytes = |field: &str, v: &Option<String>| -> Result<Option<Vec<u8>>, String> {
        v.as_deref()
            .map(|h| hex::decode(h).ok_or_else(|| format!("record.{field} is not hex")))
            .transpose()
    };
    let (key, value) = match (bytes("key", &r.key), bytes("value", &r.value)) {
        (Ok(k), Ok(v)) => (k, v),
        (Err(e), _) | (_, Err(e)) => {
            bad.push(e);
            return bad;
        }
    };
    let shown: Option<serde_json::Value> = value
        .as_deref()
        .and_then(|v| serde_json::from_slice(v).ok());
    if proof.event != shown {
        bad.push("the event shown is not the record's value".into());
    }
    if r.topic != s.topic || r.partition != s.partition {
        bad.push("the record's topic or partition is not the seal's".into());
    }
    let path: Option<Vec<Hash>> = proof
        .path
        .iter()
        .map(|h| hex::decode_array::<32>(h))
        .collect();
    let leaf = digest(&Row {
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key,
        value,
    });
    let root = path.and_then(|p| {
        let size = usize::try_from(s.count).ok()?;
        merkle::root_from_path(&leaf, usize::try_from(proof.leaf_index).ok()?, size, &p)
    });
    if root != Some(s.merkle_root) {
        bad.push("the record and path do not lead to the seal's Merkle root".into());
    }
    if !m.objects.iter().any(|o| o.key == proof.object_key) {
        bad.push(format!(
            "the manifest does not name object {}",
            proof.object_key
        ));
    }
    bad.extend(key_check(
        reg,
        "seal",
        &s.key_id,
        Role::Sealer,
        s.sealed_at_ms,
        |k| s.verify(k).is_ok(),
    ));
    bad.extend(key_check(
        reg,
        "manifest",
        &m.key_id,
        Role::Archiver,
        m.written_at_ms,
        |k| m.verify(k).is_ok(),
    ));
    bad
}
