//! Collecting witness cosignatures for the partitions' transparency logs
//! (c2sp.org/tlog-witness, docs/FORMAT.md §11.12).
//!
//! After the uploader stores a log's checkpoint it hands it to the
//! collector ([`collector`], its own thread), which sends the newest
//! checkpoint of each log to every configured witness with a consistency
//! proof from the size that witness holds, and stores the checkpoint with
//! the cosignatures once `quorum` witnesses have cosigned it. Archiving
//! never waits for it: a witness that is down or refusing only makes the
//! cosigned checkpoints lag, which a metric and a log line show.
//!
//! This module is the pure part: per log, what each witness holds, which
//! request to send next, what an answer means, and the cosigned note.
//! A witness's size is learned, never stored: the first request after a
//! start says `old 0`, and the witness's 409 names the size it holds.

use tlog::{CosignatureVerifier, Note, NoteSignature, NoteVerifier};

pub mod collector;
mod http;

/// What a witness answered to one `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with this body (cosignature lines).
    Cosigned(Vec<u8>),
    /// 409: the witness holds this size, not the request's old size.
    Conflict(u64),
    /// Any other HTTP status, with the start of the body.
    Refused {
        /// The status.
        status: u16,
        /// The body, cut to a line a log can carry.
        body: String,
    },
    /// No answer: connection refused, timeout, a body that could not be read.
    Unreachable(String),
}

/// What the collector makes of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The witness cosigned the log's newest checkpoint.
    Cosigned,
    /// The witness holds another size; ask again from it (if it is not
    /// above the newest checkpoint).
    Retry,
    /// Nothing to do until the log grows or the witness comes back; the
    /// text says why, for the log line.
    Failed(String),
}

/// The checkpoint a log wants cosigned: its size and the log-signed note.
#[derive(Debug, Clone)]
struct Latest {
    size: u64,
    note: Note,
}

/// One log's cosigning state: its newest checkpoint, and per witness the
/// size it is known to hold and its cosignature of the newest checkpoint.
#[derive(Debug, Clone)]
pub struct LogCosign {
    latest: Option<Latest>,
    held: Vec<Option<u64>>,
    cosigs: Vec<Option<NoteSignature>>,
    /// Witnesses that refused the newest checkpoint: not asked again until
    /// the log grows.
    refused: Vec<bool>,
    stored: u64,
}

impl LogCosign {
    /// A log nothing is known of, for `witnesses` witnesses.
    pub fn new(witnesses: usize) -> Self {
        LogCosign {
            latest: None,
            held: vec![None; witnesses],
            cosigs: vec![None; witnesses],
            refused: vec![false; witnesses],
            stored: 0,
        }
    }

    /// The size of the newest checkpoint offered, 0 if none.
    pub fn size(&self) -> u64 {
        self.latest.as_ref().map_or(0, |l| l.size)
    }

    /// A checkpoint of `size` was stored; it replaces an older newest one
    /// (whose cosignatures, if any, are dropped: only the newest is
    /// submitted). A note that is not a note is ignored.
    pub fn offer(&mut self, size: u64, note: &[u8]) {
        if size <= self.size() {
            return;
        }
        if let Ok(note) = Note::parse(note) {
            self.latest = Some(Latest { size, note });
            self.cosigs.iter_mut().for_each(|c| *c = None);
            self.refused.iter_mut().for_each(|r| *r = false);
        }
    }

    /// The witnesses to ask now and the old size of each request: those
    /// without a cosignature of the newest checkpoint that have not refused
    /// it, whose size is not above it. A witness never heard from is asked
    /// from 0 (its 409 says the rest).
    pub fn wanted(&self) -> Vec<(usize, u64)> {
        let Some(latest) = &self.latest else {
            return Vec::new();
        };
        (0..self.held.len())
            .filter(|&i| self.cosigs[i].is_none() && !self.refused[i])
            .filter_map(|i| {
                let old = self.held[i].unwrap_or(0);
                (old <= latest.size).then_some((i, old))
            })
            .collect()
    }

    /// The request body asking for a cosignature of the newest checkpoint
    /// from `old` with `proof`.
    pub fn request(&self, old: u64, proof: Vec<tlog::Hash>) -> Option<Vec<u8>> {
        let latest = self.latest.as_ref()?;
        let req = tlog::AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: latest.note.clone(),
        };
        Some(req.to_bytes())
    }

    /// Takes witness `i`'s answer to a request for the newest checkpoint.
    pub fn answer(&mut self, i: usize, key: &CosignatureVerifier, answer: Answer) -> Outcome {
        let Some(latest) = &self.latest else {
            return Outcome::Failed("no checkpoint to cosign".into());
        };
        match answer {
            Answer::Cosigned(body) => match accept_cosignature(&latest.note, key, &body) {
                Ok(sig) => {
                    self.held[i] = Some(latest.size);
                    self.cosigs[i] = Some(sig);
                    Outcome::Cosigned
                }
                Err(e) => {
                    self.refused[i] = true;
                    Outcome::Failed(format!("its answer is not a cosignature: {e}"))
                }
            },
            Answer::Conflict(size) if Some(size) != self.held[i] => {
                self.held[i] = Some(size);
                if size > latest.size {
                    Outcome::Failed(format!(
                        "it holds size {size}, above this log's newest checkpoint {}",
                        latest.size
                    ))
                } else {
                    Outcome::Retry
                }
            }
            Answer::Conflict(size) => {
                self.refused[i] = true;
                Outcome::Failed(format!(
                    "409 twice for the size it named ({size}): the witness is inconsistent"
                ))
            }
            Answer::Refused { status, body } => {
                // Asked again when the log grows, from a size learned anew.
                self.held[i] = None;
                self.refused[i] = true;
                Outcome::Failed(format!("HTTP {status}: {body}"))
            }
            Answer::Unreachable(e) => Outcome::Failed(format!("no answer: {e}")),
        }
    }

    /// Records from the newest checkpoint back to the size witness `i`
    /// holds (all of them when it is not known).
    pub fn lag(&self, i: usize) -> u64 {
        self.size().saturating_sub(self.held[i].unwrap_or(0))
    }

    /// The newest checkpoint with the cosignatures, once at least `quorum`
    /// witnesses have cosigned it and it is not stored yet.
    pub fn cosigned(&self, quorum: usize) -> Option<(u64, Vec<u8>)> {
        let latest = self.latest.as_ref()?;
        let sigs: Vec<&NoteSignature> = self.cosigs.iter().flatten().collect();
        if sigs.len() < quorum.max(1) || latest.size <= self.stored {
            return None;
        }
        let mut note = latest.note.clone();
        for s in sigs {
            note.add_signature(s.clone()).ok()?;
        }
        Some((latest.size, note.to_bytes()))
    }

    /// The cosigned checkpoint of `size` is stored (or was already there).
    pub fn mark_stored(&mut self, size: u64) {
        self.stored = self.stored.max(size);
    }
}

/// The cosignature by `key` in a 200 body, checked against the note's
/// text: the body's lines are signature lines, and exactly one of them
/// must be `key`'s and verify.
pub fn accept_cosignature(
    note: &Note,
    key: &CosignatureVerifier,
    body: &[u8],
) -> Result<NoteSignature, String> {
    if body.is_empty() || !body.ends_with(b"\n") {
        return Err("empty, or not ending in a newline".into());
    }
    let mut bytes = note.text().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    let signed = Note::parse(&bytes).map_err(|e| e.to_string())?;
    let verified = signed
        .verify(&[key as &dyn NoteVerifier])
        .map_err(|e| e.to_string())?;
    verified
        .first()
        .map(|s| (*s).clone())
        .ok_or_else(|| format!("no signature by {}", key.name()))
}

/// The size a 409 body names (`<size>\n`, content type `text/x.tlog.size`).
pub fn parse_conflict(body: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(body).ok()?;
    let digits = s.strip_suffix('\n').unwrap_or(s);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
#[path = "cosign/tests.rs"]
mod tests;
