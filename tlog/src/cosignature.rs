//! c2sp.org/tlog-cosignature, Ed25519 `cosignature/v1` (signature type 0x04).
//!
//! A cosignature is a note signature on a checkpoint whose bytes are
//! `timestamp (u64, big-endian) ‖ Ed25519 signature`, the signature being
//! over
//!
//! ```text
//! cosignature/v1
//! time <timestamp, decimal>
//! <the whole checkpoint note text, extension lines included>
//! ```
//!
//! Its key id is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key). The
//! timestamp, in POSIX seconds, is an argument: this crate reads no clock.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use crate::TlogError;
use crate::checkpoint::Checkpoint;
use crate::note::{ALG_COSIGNATURE_V1, NamedKey, NoteSignature, NoteVerifier};

/// The message a `cosignature/v1` signs.
pub fn cosignature_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// The timestamp of a `cosignature/v1` signature (its first 8 bytes), if it
/// has the right length and the timestamp fits in 63 bits.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Option<u64> {
    if sig.signature.len() != 72 {
        return None;
    }
    let (t, _) = sig.signature.split_first_chunk::<8>()?;
    Some(u64::from_be_bytes(*t)).filter(|t| i64::try_from(*t).is_ok())
}

/// Verifies `cosignature/v1` signatures of one cosigner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier(NamedKey);

impl CosignatureVerifier {
    /// A verifier of `name`'s cosignatures made with `key`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, TlogError> {
        NamedKey::new(name, ALG_COSIGNATURE_V1, key).map(CosignatureVerifier)
    }

    /// Parses a vkey of signature type 0x04.
    pub fn from_vkey(vkey: &str) -> Result<Self, TlogError> {
        NamedKey::from_vkey(vkey, ALG_COSIGNATURE_V1).map(CosignatureVerifier)
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        self.0.vkey(ALG_COSIGNATURE_V1)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn key_id(&self) -> u32 {
        self.0.key_id
    }
    /// Valid only over a checkpoint text, with a 72-byte signature whose
    /// timestamp fits in 63 bits.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Some((t, sig)) = signature.split_first_chunk::<8>() else {
            return false;
        };
        let t = u64::from_be_bytes(*t);
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        i64::try_from(t).is_ok()
            && Checkpoint::parse(text).is_ok()
            && ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| self.0.key.verify(&cosignature_message(t, text), &s).is_ok())
    }
}

/// Makes `cosignature/v1` signatures (a witness's key).
#[derive(Debug, Clone)]
pub struct CosignatureSigner {
    verifier: CosignatureVerifier,
    key: SigningKey,
}

impl CosignatureSigner {
    /// A cosigner `name` with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, TlogError> {
        Ok(CosignatureSigner {
            verifier: CosignatureVerifier::new(name, key.verifying_key())?,
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// Cosigns a checkpoint note text at `timestamp` (POSIX seconds, 1 to
    /// 2⁶³ − 1: the witness protocol forbids a zero timestamp).
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, TlogError> {
        let bad = |reason| TlogError::Cosignature {
            name: self.verifier.0.name.clone(),
            reason,
        };
        if timestamp == 0 || i64::try_from(timestamp).is_err() {
            return Err(bad("timestamp must be in 1..2^63"));
        }
        Checkpoint::parse(checkpoint_text).map_err(|_| bad("the text is not a checkpoint"))?;
        let sig = self
            .key
            .sign(&cosignature_message(timestamp, checkpoint_text));
        let mut signature = timestamp.to_be_bytes().to_vec();
        signature.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.verifier.0.name.clone(),
            key_id: self.verifier.0.key_id,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Note;

    #[test]
    fn cosignatures_verify_only_for_their_text_and_time() {
        let w = CosignatureSigner::new("witness.example/w1", SigningKey::from_bytes(&[4; 32]))
            .expect("name");
        let text = "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let sig = w.cosign(text, 1679315147).expect("cosigns");
        assert_eq!(cosignature_timestamp(&sig), Some(1679315147));
        let v = w.verifier();
        assert!(v.verify(text.as_bytes(), &sig.signature));
        let mut later = sig.signature.clone();
        later[7] ^= 1;
        assert!(!v.verify(text.as_bytes(), &later));
        assert!(!v.verify(text.replace("\n1\n", "\n2\n").as_bytes(), &sig.signature));
        assert!(w.cosign(text, 0).is_err());
        assert!(w.cosign("not\na checkpoint\n", 1).is_err());
        let mut note = Note::parse(format!("{text}\n{}", sig.line()).as_bytes()).expect("parses");
        assert_eq!(note.verify(&[v]).map(|s| s.len()), Ok(1));
        note.add_signature(sig).expect("room");
        assert_eq!(CosignatureVerifier::from_vkey(&v.vkey()).as_ref(), Ok(v));
    }
}
