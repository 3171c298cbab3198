//! §8 step 9, witnesses (docs/FORMAT.md §11.12): a log's cosigned
//! checkpoints against its checkpoints and the trusted witness keys. Pure.
//!
//! A cosigned checkpoint must be the log's own checkpoint of that size
//! (same text, log signature valid) with cosignature/v1 lines added. Each
//! trusted witness counts once, and only with a valid cosignature; a line
//! under a trusted key that does not verify is tampering. The log's newest
//! checkpoint must carry `quorum` of them: then every earlier checkpoint
//! is covered too (a witness cosigns only consistent extensions, and
//! `check_log` has already tied each checkpoint to the tiles and records).

use std::collections::BTreeMap;

use tlog::{CosignatureVerifier, Note, NoteVerifier};

use crate::finding::{Finding, FindingKind as K};

/// The witnesses an auditor trusts and how many must cosign.
#[derive(Debug, Clone, Default)]
pub struct Witnesses {
    /// Their cosignature/v1 keys.
    pub keys: Vec<CosignatureVerifier>,
    /// How many of them must cosign the newest checkpoint (1..=keys.len()).
    pub quorum: usize,
}

/// Checkpoints by size: (key, bytes).
pub type BySize = BTreeMap<u64, (String, Vec<u8>)>;

/// What the cosigned checkpoints of one log show.
#[derive(Debug, Default)]
pub struct WitnessVerdict {
    /// The findings.
    pub findings: Vec<Finding>,
    /// The newest size whose cosigned checkpoint carries the quorum.
    pub witnessed: Option<u64>,
}

/// How many of `keys` have a valid cosignature on `note`, each once; and
/// each of them whose line (its name and key id) is there but does not
/// verify, with why.
pub fn trusted_cosignatures(
    note: &Note,
    keys: &[CosignatureVerifier],
) -> (usize, Vec<(String, tlog::TlogError)>) {
    let mut count = 0;
    let mut bad = Vec::new();
    for w in keys {
        let theirs = note
            .signatures()
            .iter()
            .any(|s| s.name == w.name() && s.key_id == w.key_id());
        if theirs {
            match note.verify(&[w as &dyn NoteVerifier]) {
                Ok(_) => count += 1,
                Err(e) => bad.push((w.name().to_owned(), e)),
            }
        }
    }
    (count, bad)
}

/// Checks one log's `cosigned` checkpoints against its `checkpoints`
/// (signed by one of `log_keys`) and `witnesses`; `newest` is the size of
/// its newest valid checkpoint.
pub fn check_cosigned(
    topic: &str,
    partition: i32,
    log_keys: &[&dyn NoteVerifier],
    witnesses: &Witnesses,
    checkpoints: &BySize,
    cosigned: &BySize,
    newest: u64,
) -> WitnessVerdict {
    let f = |kind, detail: String| Finding::new(kind, topic, partition, detail);
    let mut v = WitnessVerdict::default();
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for (size, (key, bytes)) in cosigned {
        let own = checkpoints
            .get(size)
            .and_then(|(_, b)| Note::parse(b).ok())
            .map(|n| n.text().to_owned());
        let note = match Note::open(bytes, log_keys) {
            Ok(n) if own.as_deref() == Some(n.text()) => n,
            Ok(_) => {
                v.findings.push(
                    f(
                        K::CheckpointInconsistent,
                        format!("its text is not the log's checkpoint at size {size}"),
                    )
                    .at(key),
                );
                continue;
            }
            Err(e) => {
                v.findings.push(
                    f(
                        K::CheckpointInconsistent,
                        format!("not a checkpoint signed by the log's key: {e}"),
                    )
                    .at(key),
                );
                continue;
            }
        };
        let (count, bad) = trusted_cosignatures(&note, &witnesses.keys);
        for (name, e) in bad {
            v.findings.push(
                f(
                    K::CosignatureInvalid,
                    format!("the cosignature of trusted witness {name}: {e}"),
                )
                .at(key),
            );
        }
        counts.insert(*size, count);
    }
    let quorum = witnesses.quorum.max(1);
    v.witnessed = counts
        .iter()
        .filter(|(_, c)| **c >= quorum)
        .map(|(s, _)| *s)
        .next_back();
    if newest > 0 && v.witnessed != Some(newest) {
        let have = counts.get(&newest).copied().unwrap_or(0);
        let before = match v.witnessed {
            Some(s) => format!("the newest that does is at size {s}"),
            None => "no checkpoint of this log does".into(),
        };
        let at = checkpoints.get(&newest).map(|(k, _)| k.clone());
        let mut finding = f(
            K::WitnessQuorumMissing,
            format!(
                "the newest checkpoint (size {newest}) carries {have} of the {quorum} trusted cosignatures needed; {before}"
            ),
        );
        if let Some(k) = at {
            finding = finding.at(&k);
        }
        v.findings.push(finding);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tlog::{Checkpoint, CosignatureSigner, Ed25519Signer, NoteSigner};

    const ORIGIN: &str = "o/t/0";

    fn log_key() -> Ed25519Signer {
        Ed25519Signer::new("o", SigningKey::from_bytes(&[1; 32])).expect("key")
    }

    fn witness(seed: u8, name: &str) -> CosignatureSigner {
        CosignatureSigner::new(name, SigningKey::from_bytes(&[seed; 32])).expect("key")
    }

    fn checkpoint(size: u64) -> Note {
        let text = Checkpoint::new(ORIGIN, size, [size as u8; 32]).to_text();
        Note::sign(&text, &[&log_key() as &dyn NoteSigner]).expect("signs")
    }

    fn cosign(size: u64, by: &[&CosignatureSigner]) -> Vec<u8> {
        let mut n = checkpoint(size);
        for w in by {
            let sig = w.cosign(n.text(), 1_700_000_000).expect("cosigns");
            n.add_signature(sig).expect("adds");
        }
        n.to_bytes()
    }

    fn by_size(items: Vec<(u64, Vec<u8>)>, dir: &str) -> BySize {
        items
            .into_iter()
            .map(|(s, b)| (s, (format!("{dir}/{s:020}"), b)))
            .collect()
    }

    fn run(cosigned: Vec<(u64, Vec<u8>)>, quorum: usize) -> WitnessVerdict {
        let (w1, w2) = (witness(2, "w1"), witness(3, "w2"));
        let ws = Witnesses {
            keys: vec![w1.verifier().clone(), w2.verifier().clone()],
            quorum,
        };
        let cps = by_size(
            [5, 9].map(|s| (s, checkpoint(s).to_bytes())).to_vec(),
            "checkpoint",
        );
        let lk = log_key();
        let keys: Vec<&dyn NoteVerifier> = vec![lk.verifier()];
        check_cosigned("t", 0, &keys, &ws, &cps, &by_size(cosigned, "cosigned"), 9)
    }

    fn kinds(v: &WitnessVerdict) -> Vec<K> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn the_newest_checkpoint_with_a_quorum_is_clean() {
        let (w1, w2) = (witness(2, "w1"), witness(3, "w2"));
        let v = run(vec![(5, cosign(5, &[&w1])), (9, cosign(9, &[&w1, &w2]))], 2);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(v.witnessed, Some(9));
        let v = run(vec![(9, cosign(9, &[&w2]))], 1);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
    }

    #[test]
    fn a_missing_or_short_quorum_on_the_newest_is_a_finding() {
        let (w1, w2) = (witness(2, "w1"), witness(3, "w2"));
        assert_eq!(kinds(&run(vec![], 1)), [K::WitnessQuorumMissing]);
        let v = run(vec![(5, cosign(5, &[&w1, &w2])), (9, cosign(9, &[&w1]))], 2);
        assert_eq!(kinds(&v), [K::WitnessQuorumMissing]);
        assert_eq!(v.witnessed, Some(5));
        assert!(
            v.findings[0].detail.contains("carries 1 of the 2"),
            "{:?}",
            v.findings
        );
        // Cosignatures by keys nobody trusts do not count.
        let stranger = witness(7, "w3");
        let v = run(vec![(9, cosign(9, &[&stranger]))], 1);
        assert_eq!(kinds(&v), [K::WitnessQuorumMissing]);
    }

    #[test]
    fn a_forged_cosignature_or_a_foreign_checkpoint_is_caught() {
        let (w1, w2) = (witness(2, "w1"), witness(3, "w2"));
        // A cosignature line by w1's name and key id over other bytes.
        let mut forged = checkpoint(9);
        let mut sig = w1.cosign(forged.text(), 1_700_000_000).expect("cosigns");
        sig.signature[20] ^= 1;
        forged.add_signature(sig).expect("adds");
        let v = run(vec![(9, forged.to_bytes())], 1);
        assert!(
            kinds(&v).contains(&K::CosignatureInvalid),
            "{:?}",
            v.findings
        );
        // A cosigned checkpoint whose text is not the log's at that size.
        let mut other = Note::sign(
            &Checkpoint::new(ORIGIN, 9, [0xee; 32]).to_text(),
            &[&log_key() as &dyn NoteSigner],
        )
        .expect("signs");
        other
            .add_signature(w1.cosign(other.text(), 1).expect("cosigns"))
            .expect("adds");
        other
            .add_signature(w2.cosign(other.text(), 1).expect("cosigns"))
            .expect("adds");
        let v = run(vec![(9, other.to_bytes())], 1);
        assert_eq!(
            kinds(&v),
            [K::CheckpointInconsistent, K::WitnessQuorumMissing]
        );
        // Not signed by the log at all.
        let v = run(vec![(9, b"nothing\n\n".to_vec())], 1);
        assert!(kinds(&v).contains(&K::CheckpointInconsistent));
    }
}
