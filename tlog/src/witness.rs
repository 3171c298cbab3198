//! The pure decision of c2sp.org/tlog-witness `add-checkpoint`.
//!
//! The HTTP service and the durable state live elsewhere; this module parses
//! a request body and decides, from the witness's record of the log
//! (`TreeHead`), whether to cosign. A caller must persist
//! [`Cosigned::new_state`] *atomically with the check that the stored size is
//! still `old_size`* (compare-and-swap) before it sends the cosignature;
//! if the swap fails it answers 409 with the size it found. Then no sequence
//! of requests, crashes included, makes the witness cosign two checkpoints
//! that are not consistent.

use crate::TlogError;
use crate::checkpoint::Checkpoint;
use crate::cosignature::CosignatureSigner;
use crate::encoding::{b64, decimal, unb64_hash};
use crate::hash::{Hash, empty_hash};
use crate::note::{Ed25519Verifier, Note, NoteVerifier};
use crate::proof::check_consistency;

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The witness's record of a log: the latest checkpoint it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
}

/// A log the witness is configured to witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedLog {
    /// The checkpoint origin line.
    pub origin: String,
    /// The log's keys; a checkpoint needs a valid signature by one of them.
    pub keys: Vec<Ed25519Verifier>,
}

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: Note,
}

fn malformed(reason: impl Into<String>) -> WitnessRefusal {
    WitnessRefusal::Malformed(TlogError::MalformedRequest {
        reason: reason.into(),
    })
}

impl AddCheckpoint {
    /// Parses `old <size>\n`, up to 63 base64 proof lines, a blank line and
    /// a checkpoint note. Failures are 400s.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessRefusal> {
        let s = std::str::from_utf8(body).map_err(|_| malformed("body is not UTF-8"))?;
        let (head, note) = s
            .split_once("\n\n")
            .ok_or_else(|| malformed("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| malformed("first line is not `old <size>`"))?;
        let old_size = decimal(old)
            .ok_or_else(|| malformed(format!("old size {old:?} is not a canonical decimal")))?;
        let proof = lines
            .map(|l| {
                unb64_hash(l)
                    .ok_or_else(|| malformed(format!("proof line {l:?} is not base64 of 32 bytes")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(malformed(format!(
                "{} proof lines, more than {MAX_PROOF_LINES}",
                proof.len()
            )));
        }
        let checkpoint = Note::parse(note.as_bytes()).map_err(WitnessRefusal::Malformed)?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&b64(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint.to_bytes());
        out
    }

    /// The checkpoint's origin line, to look the log up by.
    pub fn origin(&self) -> &str {
        self.checkpoint
            .text()
            .split('\n')
            .next()
            .unwrap_or_default()
    }
}

/// Why a witness does not cosign, with the HTTP status the spec gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessRefusal {
    /// 400: the body, note or checkpoint is malformed.
    #[error("400 malformed: {0}")]
    Malformed(TlogError),
    /// 400: the old size is above the checkpoint's size.
    #[error("400 old size {old} is above the checkpoint size {size}")]
    OldSizeAboveSize {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// 403: no valid signature by a key of the log, or a bad one.
    #[error("403 checkpoint of {origin} not signed by the log: {cause}")]
    NotSignedByLog {
        /// The origin.
        origin: String,
        /// What the note verification found.
        cause: TlogError,
    },
    /// 404: the witness does not witness this origin.
    #[error("404 unknown log {origin:?}")]
    UnknownLog {
        /// The origin.
        origin: String,
    },
    /// 409: the old size is not the size the witness holds.
    #[error("409 the witness holds size {current}, not {old}")]
    Conflict {
        /// The size of the latest checkpoint the witness cosigned (0 if none).
        current: u64,
        /// The request's old size.
        old: u64,
    },
    /// 422: the proof does not show the checkpoint extends the witness's one
    /// (this includes a different root at the same size: a split view).
    #[error("422 checkpoint of size {size} is not a consistent extension of size {old}: {cause}")]
    Inconsistent {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
        /// What failed.
        cause: TlogError,
    },
    /// 500: the witness could not cosign (its clock gave a bad time).
    #[error("500 cannot cosign: {0}")]
    Cosign(TlogError),
}

impl WitnessRefusal {
    /// The HTTP status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            WitnessRefusal::Malformed(_) | WitnessRefusal::OldSizeAboveSize { .. } => 400,
            WitnessRefusal::NotSignedByLog { .. } => 403,
            WitnessRefusal::UnknownLog { .. } => 404,
            WitnessRefusal::Conflict { .. } => 409,
            WitnessRefusal::Inconsistent { .. } => 422,
            WitnessRefusal::Cosign(_) => 500,
        }
    }

    /// The 409 body, `<size>\n` (content type `text/x.tlog.size`); `None`
    /// for other refusals, whose body is free text.
    pub fn conflict_body(&self) -> Option<String> {
        match self {
            WitnessRefusal::Conflict { current, .. } => Some(format!("{current}\n")),
            _ => None,
        }
    }
}

/// A decision to cosign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The witness's new record of the log; persist it (compare-and-swap on
    /// the old size) before answering.
    pub new_state: TreeHead,
    /// The checkpoint cosigned.
    pub checkpoint: Checkpoint,
    /// The 200 body: the cosignature line(s).
    pub response: String,
}

/// Decides an `add-checkpoint` request. `state` is the witness's record of
/// the request's origin (`None` if it never cosigned one); `log` the
/// configuration of that origin (`None` if it is not witnessed); `now` the
/// cosignature's timestamp in POSIX seconds.
///
/// In the spec's order: unknown origin 404; signature 403; malformed
/// checkpoint 400; old size above size 400; old size not the witness's size
/// 409; then 422 for a non-empty root at size 0, a proof with old size 0, a
/// different root at the same size, or a proof that does not verify.
pub fn witness_decide(
    state: Option<&TreeHead>,
    request: &AddCheckpoint,
    log: Option<&WitnessedLog>,
    cosigner: &CosignatureSigner,
    now: u64,
) -> Result<Cosigned, WitnessRefusal> {
    let origin = request.origin();
    let log = log
        .filter(|l| l.origin == origin)
        .ok_or_else(|| WitnessRefusal::UnknownLog {
            origin: origin.to_string(),
        })?;
    let keys: Vec<&dyn NoteVerifier> = log.keys.iter().map(|k| k as &dyn NoteVerifier).collect();
    request
        .checkpoint
        .verify(&keys)
        .map_err(|cause| WitnessRefusal::NotSignedByLog {
            origin: origin.to_string(),
            cause,
        })?;
    let text = request.checkpoint.text();
    let checkpoint = Checkpoint::parse(text).map_err(WitnessRefusal::Malformed)?;
    let (old, size) = (request.old_size, checkpoint.size);
    if old > size {
        return Err(WitnessRefusal::OldSizeAboveSize { old, size });
    }
    let current = state.copied().unwrap_or(TreeHead {
        size: 0,
        root: empty_hash(),
    });
    if old != current.size {
        return Err(WitnessRefusal::Conflict {
            current: current.size,
            old,
        });
    }
    // With old = 0 the witness's root is the empty tree's, so this also
    // requires an empty proof, and the empty root for a checkpoint of size 0.
    let old_root = if old == 0 { empty_hash() } else { current.root };
    check_consistency(old, &old_root, size, &checkpoint.root, &request.proof)
        .and_then(|()| {
            if size == 0 && checkpoint.root != empty_hash() {
                Err(TlogError::ConsistencyProof { old, new: size })
            } else {
                Ok(())
            }
        })
        .map_err(|cause| WitnessRefusal::Inconsistent { old, size, cause })?;
    let line = cosigner
        .cosign(text, now)
        .map_err(WitnessRefusal::Cosign)?
        .line();
    Ok(Cosigned {
        new_state: TreeHead {
            size,
            root: checkpoint.root,
        },
        checkpoint,
        response: line,
    })
}
