//! The per-partition hash chain.
//!
//! ```text
//! genesis(topic, partition) = SHA-256("auditlog/v1/genesis" 0x00 ‖ u32be(len topic) ‖ topic ‖ i32be(partition))
//! digest(record)            = SHA-256("auditlog/v1/record" 0x00 ‖ i64be(offset) ‖ i64be(timestamp ms, −1 if none)
//!                                     ‖ bytes(key) ‖ bytes(value))
//!     bytes(None) = u32be(0xFFFFFFFF);  bytes(Some(b)) = u32be(len b) ‖ b
//! head₀ = genesis;  headₙ = SHA-256("auditlog/v1/link" 0x00 ‖ headₙ₋₁ ‖ digest(recordₙ))
//! ```

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

const GENESIS: &[u8] = b"auditlog/v1/genesis\0";
const RECORD: &[u8] = b"auditlog/v1/record\0";
const LINK: &[u8; 17] = b"auditlog/v1/link\0";

/// The fields of a Kafka record the chain covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Offset in the partition.
    pub offset: i64,
    /// Record timestamp in milliseconds, if any.
    pub timestamp_ms: Option<i64>,
    /// Exact key bytes, if any.
    pub key: Option<&'a [u8]>,
    /// Exact value bytes, if any (a null value is a tombstone).
    pub value: Option<&'a [u8]>,
}

/// The first head of the chain of (topic, partition).
pub fn genesis(topic: &str, partition: i32) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS);
    h.update(len_prefix(topic.len()));
    h.update(topic.as_bytes());
    h.update(partition.to_be_bytes());
    h.finalize().into()
}

fn len_prefix(n: usize) -> [u8; 4] {
    // Kafka caps keys, values and topic names far below 4 GiB.
    u32::try_from(n).unwrap_or(u32::MAX - 1).to_be_bytes()
}

fn update_bytes(h: &mut Sha256, b: Option<&[u8]>) {
    match b {
        None => h.update(u32::MAX.to_be_bytes()),
        Some(b) => {
            h.update(len_prefix(b.len()));
            h.update(b);
        }
    }
}

/// The digest of one record; also its Merkle leaf.
pub fn record_digest(r: &RecordRef<'_>) -> Hash {
    // Everything before the value is laid out in one stack buffer when the
    // key is short (ids are), so the hasher takes two updates, not seven.
    let mut head = [0u8; 128];
    head[..19].copy_from_slice(RECORD);
    head[19..27].copy_from_slice(&r.offset.to_be_bytes());
    head[27..35].copy_from_slice(&r.timestamp_ms.unwrap_or(-1).to_be_bytes());
    let mut h = Sha256::new();
    let mut n = 35;
    match r.key {
        Some(k) if k.len() <= head.len() - n - 8 => {
            head[n..n + 4].copy_from_slice(&len_prefix(k.len()));
            head[n + 4..n + 4 + k.len()].copy_from_slice(k);
            n += 4 + k.len();
        }
        None => {
            head[n..n + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            n += 4;
        }
        long => {
            h.update(&head[..n]);
            update_bytes(&mut h, long);
            n = 0;
        }
    }
    match r.value {
        Some(v) => {
            head[n..n + 4].copy_from_slice(&len_prefix(v.len()));
            h.update(&head[..n + 4]);
            h.update(v);
        }
        None => {
            head[n..n + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            h.update(&head[..n + 4]);
        }
    }
    h.finalize().into()
}

/// One link: the head after a record whose digest is `digest`.
pub fn link(prev: &Hash, digest: &Hash) -> Hash {
    crate::short::pair(LINK, prev, digest)
}

/// A running chain: the current head and the next expected offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    head: Hash,
    next_offset: Option<i64>,
}

impl Chain {
    /// A chain at `head`, expecting `next_offset` next (`None`: any offset,
    /// as at genesis before the first record).
    pub fn resume(head: Hash, next_offset: Option<i64>) -> Self {
        Self { head, next_offset }
    }

    /// A fresh chain of (topic, partition).
    pub fn genesis(topic: &str, partition: i32) -> Self {
        Self::resume(genesis(topic, partition), None)
    }

    /// The current head.
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The next offset expected, once any record was appended or resumed.
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Appends a record; returns its digest (the Merkle leaf). Offsets must
    /// increase; Kafka may skip offsets (compaction, transaction markers),
    /// and the chain binds each record's real offset, so a skip is visible
    /// to verifiers without breaking the chain.
    pub fn append(&mut self, r: &RecordRef<'_>) -> Result<Hash, OffsetOrder> {
        if let Some(next) = self.next_offset {
            if r.offset < next {
                return Err(OffsetOrder {
                    expected_at_least: next,
                    got: r.offset,
                });
            }
        }
        let d = record_digest(r);
        self.head = link(&self.head, &d);
        self.next_offset = Some(r.offset + 1);
        Ok(d)
    }
}

/// A record arrived with an offset not after the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("offset {got} is not after the chain's position (expected at least {expected_at_least})")]
pub struct OffsetOrder {
    /// The least acceptable offset.
    pub expected_at_least: i64,
    /// The offset seen.
    pub got: i64,
}
