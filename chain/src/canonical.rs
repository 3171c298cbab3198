//! The canonical-chain rule.
//!
//! Seals for events partition *p* are written to seals partition *p*, and
//! that partition's log order is the arbiter. Reading it in order, a seal is
//! **accepted** if it is well formed, its signature verifies under a known
//! key, and it extends the current tip: `seq` is the next sequence number,
//! `prev_head` is the tip's head, and `first_offset` is the tip's next offset
//! (any offset for seq 0, whose `prev_head` must be the genesis). Any other
//! seal is **rejected** with a reason and never followed. Because the rule
//! is a pure fold over the log, every reader (the sealer resuming, the
//! archiver, the verifier) picks the same chain.
//!
//! A zombie sealer that lost its partition can at most append a rival for a
//! sequence number the new owner also uses; whichever lands first in the log
//! wins, the other is `Superseded`. Chain heads are a pure function of the
//! records, so a winning rival that covers a different range is still
//! consistent with the records: the loser adopts the winner's head and
//! offset and continues after it.

use ed25519_dalek::VerifyingKey;

use crate::link::{Hash, genesis};
use crate::seal::{KeyId, Seal};

/// The end of the canonical chain so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// Sequence number the next accepted seal must carry.
    pub next_seq: u64,
    /// The head the next seal must start from.
    pub head: Hash,
    /// The first offset the next seal must cover; `None` before seq 0.
    pub next_offset: Option<i64>,
}

impl Tip {
    /// The tip of a partition with no seal yet.
    pub fn genesis(topic: &str, partition: i32) -> Self {
        Tip {
            next_seq: 0,
            head: genesis(topic, partition),
            next_offset: None,
        }
    }

    /// The tip right after `seal`.
    pub fn after(seal: &Seal) -> Self {
        Tip {
            next_seq: seal.seq + 1,
            head: seal.head,
            next_offset: Some(seal.last_offset + 1),
        }
    }
}

/// Why a seal is not part of the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Its sequence number is already taken by an earlier accepted seal.
    Superseded,
    /// It skips sequence numbers or does not start at the tip's head or
    /// offset (a fork off a superseded seal, or a gap).
    DoesNotExtend,
    /// Count, range and kind disagree.
    Malformed,
    /// It is for another topic or partition.
    WrongPartition,
    /// Its key id is not in the key set.
    UnknownKey(KeyId),
    /// Its signature does not verify.
    BadSignature,
}

/// Applies the rule to one seal. On acceptance the tip advances.
pub fn apply(
    tip: &mut Tip,
    topic: &str,
    partition: i32,
    seal: &Seal,
    key: impl Fn(&KeyId) -> Option<VerifyingKey>,
) -> Result<(), Rejection> {
    if seal.topic != topic || seal.partition != partition {
        return Err(Rejection::WrongPartition);
    }
    if !seal.is_well_formed() {
        return Err(Rejection::Malformed);
    }
    let Some(k) = key(&seal.key_id) else {
        return Err(Rejection::UnknownKey(seal.key_id));
    };
    if seal.verify(&k).is_err() {
        return Err(Rejection::BadSignature);
    }
    if seal.seq < tip.next_seq {
        return Err(Rejection::Superseded);
    }
    let offset_ok = match tip.next_offset {
        Some(next) => seal.first_offset == next,
        None => true,
    };
    if seal.seq != tip.next_seq || seal.prev_head != tip.head || !offset_ok {
        return Err(Rejection::DoesNotExtend);
    }
    *tip = Tip::after(seal);
    Ok(())
}
