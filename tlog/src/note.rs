//! c2sp.org/signed-note: text signed by one or more keys.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(key id (4 bytes, big-endian) ‖ signature)>
//! …
//! ```
//!
//! Rules enforced by [`Note::parse`]: valid UTF-8; no control character but
//! newline; at most [`MAX_NOTE_BYTES`] bytes and [`MAX_SIGNATURES`] signature
//! lines (the spec asks for at least 16); the text is everything up to the
//! last blank line; at least one signature line; each line is an em dash, a
//! space, a valid key name, a space and canonical base64 of at least 5 bytes.
//! [`Note::verify`] then ignores signatures by unknown keys (a key is its
//! name *and* id), verifies every signature by a known key (one that fails
//! rejects the note), and requires at least one.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::TlogError;
use crate::encoding::{b64, unb64};

/// The most bytes a note may have (signatures included).
pub const MAX_NOTE_BYTES: usize = 1_000_000;
/// The most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 100;
/// Signature type byte of Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type byte of Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

const DASH: &str = "\u{2014} ";

/// Whether `name` may name a key: non-empty, no Unicode space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), TlogError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(TlogError::KeyName {
            name: name.to_string(),
        })
    }
}

/// The key id: the first 4 bytes, big-endian, of
/// SHA-256(name ‖ 0x0A ‖ signature type ‖ public key).
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let d = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', alg])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A verifier key string, `<name>+<hex key id>+<base64(type ‖ public key)>`,
/// taken apart and checked (the id must be the one [`key_id`] computes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature type byte.
    pub alg: u8,
    /// The public key material.
    pub public_key: Vec<u8>,
}

impl VerifierKey {
    /// Parses a vkey.
    pub fn parse(vkey: &str) -> Result<Self, TlogError> {
        let bad = |reason| TlogError::MalformedKey {
            key: vkey.to_string(),
            reason,
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not name+id+key"));
        };
        check_name(name)?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("key id is not 8 hex digits"))?;
        let key = unb64(key).ok_or_else(|| bad("key is not base64"))?;
        let (&alg, public_key) = key.split_first().ok_or_else(|| bad("key is empty"))?;
        if key_id(name, alg, public_key) != id {
            return Err(bad("key id does not match the key"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            key_id: id,
            alg,
            public_key: public_key.to_vec(),
        })
    }

    /// The vkey string.
    pub fn encode(name: &str, alg: u8, public_key: &[u8]) -> String {
        let mut key = vec![alg];
        key.extend_from_slice(public_key);
        format!("{name}+{:08x}+{}", key_id(name, alg, public_key), b64(&key))
    }
}

/// Checks note signatures of one key.
pub trait NoteVerifier {
    /// The key name.
    fn name(&self) -> &str;
    /// The key id.
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key id) is valid over `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// Makes note signatures with one key.
pub trait NoteSigner {
    /// The key name.
    fn name(&self) -> &str;
    /// The key id.
    fn key_id(&self) -> u32;
    /// The signature (without the key id) over `text`.
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, TlogError>;
}

/// A named Ed25519 public key with its key id for one signature type: what
/// both Ed25519 note verifiers and cosignature verifiers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedKey {
    pub(crate) name: String,
    pub(crate) key_id: u32,
    pub(crate) key: VerifyingKey,
}

impl NamedKey {
    pub(crate) fn new(name: &str, alg: u8, key: VerifyingKey) -> Result<Self, TlogError> {
        check_name(name)?;
        let key_id = key_id(name, alg, key.as_bytes());
        Ok(NamedKey {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    pub(crate) fn from_vkey(vkey: &str, alg: u8) -> Result<Self, TlogError> {
        let k = VerifierKey::parse(vkey)?;
        let bad = |reason| TlogError::MalformedKey {
            key: vkey.to_string(),
            reason,
        };
        if k.alg != alg {
            return Err(bad("unexpected signature type"));
        }
        let bytes: [u8; 32] = k
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| bad("not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 point"))?;
        Self::new(&k.name, alg, key)
    }

    pub(crate) fn vkey(&self, alg: u8) -> String {
        VerifierKey::encode(&self.name, alg, self.key.as_bytes())
    }
}

/// An Ed25519 note verifier (signature type 0x01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Verifier(NamedKey);

impl Ed25519Verifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, TlogError> {
        NamedKey::new(name, ALG_ED25519, key).map(Ed25519Verifier)
    }

    /// Parses a vkey of signature type 0x01.
    pub fn from_vkey(vkey: &str) -> Result<Self, TlogError> {
        NamedKey::from_vkey(vkey, ALG_ED25519).map(Ed25519Verifier)
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        self.0.vkey(ALG_ED25519)
    }

    /// The public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.0.key
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn key_id(&self) -> u32 {
        self.0.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|s| self.0.key.verify(text, &s).is_ok())
    }
}

/// An Ed25519 note signer (signature type 0x01).
#[derive(Debug, Clone)]
pub struct Ed25519Signer {
    verifier: Ed25519Verifier,
    key: SigningKey,
}

impl Ed25519Signer {
    /// A signer with `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, TlogError> {
        let verifier = Ed25519Verifier::new(name, key.verifying_key())?;
        Ok(Ed25519Signer { verifier, key })
    }

    /// Parses a signer key string as Go's `note.NewSigner` reads it:
    /// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ 32-byte seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, TlogError> {
        let bad = |reason| TlogError::MalformedKey {
            key: "PRIVATE+KEY+…".into(),
            reason,
        };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("no PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not PRIVATE+KEY+name+id+key"));
        };
        let key = unb64(key).ok_or_else(|| bad("key is not base64"))?;
        let seed: [u8; 32] = match key.split_first() {
            Some((&ALG_ED25519, seed)) => {
                seed.try_into().map_err(|_| bad("seed is not 32 bytes"))?
            }
            _ => return Err(bad("not an Ed25519 key")),
        };
        let signer = Self::new(name, SigningKey::from_bytes(&seed))?;
        let id_ok =
            id.len() == 8 && u32::from_str_radix(id, 16).ok() == Some(signer.verifier.0.key_id);
        if !id_ok {
            return Err(bad("key id does not match the key"));
        }
        Ok(signer)
    }

    /// The signer key string (holds the secret seed).
    pub fn skey(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.0.name,
            self.verifier.0.key_id,
            b64(&key)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.verifier.0.name
    }
    fn key_id(&self) -> u32 {
        self.verifier.0.key_id
    }
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, TlogError> {
        Ok(self.key.sign(text).to_bytes().to_vec())
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line, `— <name> <base64(key id ‖ signature)>\n`.
    pub fn line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{DASH}{} {}\n", self.name, b64(&raw))
    }

    fn parse(line: &str) -> Result<Self, String> {
        let rest = line
            .strip_prefix(DASH)
            .ok_or("signature line does not start with an em dash and a space")?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or("signature line has no space after the name")?;
        if !is_valid_key_name(name) {
            return Err(format!("invalid key name {name:?}"));
        }
        let raw =
            unb64(sig).ok_or_else(|| format!("signature by {name} is not canonical base64"))?;
        match raw.split_first_chunk::<4>() {
            Some((id, signature)) if !signature.is_empty() => Ok(NoteSignature {
                name: name.to_string(),
                key_id: u32::from_be_bytes(*id),
                signature: signature.to_vec(),
            }),
            _ => Err(format!("signature by {name} is shorter than 5 bytes")),
        }
    }
}

/// A signed note: its text and its signature lines (verified or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn malformed(reason: impl Into<String>) -> TlogError {
    TlogError::MalformedNote {
        reason: reason.into(),
    }
}

/// Checks a note text: non-empty, ends in a newline, no control character
/// but newline.
fn check_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(malformed("text does not end in a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("text holds a control character"));
    }
    Ok(())
}

impl Note {
    /// Signs `text` with each signer, in order.
    pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<Note, TlogError> {
        let mut note = Note {
            text: text.to_string(),
            signatures: Vec::new(),
        };
        check_text(text)?;
        for s in signers {
            note.add_signature(NoteSignature {
                name: s.name().to_string(),
                key_id: s.key_id(),
                signature: s.sign(text.as_bytes())?,
            })?;
        }
        Ok(note)
    }

    /// Adds a signature line (say, a cosignature) after the existing ones.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), TlogError> {
        check_name(&sig.name)?;
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(malformed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Parses a note's syntax; signatures are not checked (see [`Note::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Note, TlogError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than {MAX_NOTE_BYTES}",
                bytes.len()
            )));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| malformed("not valid UTF-8"))?;
        if s.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed("holds a control character"));
        }
        let split = s
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(malformed(
                "no signature lines, or the last does not end in a newline",
            ));
        }
        let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(malformed(format!(
                "{} signatures, more than {MAX_SIGNATURES}",
                lines.len()
            )));
        }
        let signatures = lines
            .into_iter()
            .map(|l| NoteSignature::parse(l).map_err(malformed))
            .collect::<Result<_, _>>()?;
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The serialized note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s.into_bytes()
    }

    /// The text (ending in a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every signature line, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Verifies the note against `known` keys and returns the signatures by
    /// them (each key once). Signatures by keys not in `known` are ignored;
    /// any signature by a known key that fails rejects the note; and at least
    /// one must verify.
    pub fn verify(&self, known: &[&dyn NoteVerifier]) -> Result<Vec<&NoteSignature>, TlogError> {
        let mut verified: Vec<&NoteSignature> = Vec::new();
        let mut unknown = 0;
        for sig in &self.signatures {
            let mut matching = known
                .iter()
                .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
            let Some(v) = matching.next() else {
                unknown += 1;
                continue;
            };
            if matching.next().is_some() {
                return Err(TlogError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !v.verify(self.text.as_bytes(), &sig.signature) {
                return Err(TlogError::BadSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                verified.push(sig);
            }
        }
        if verified.is_empty() {
            return Err(TlogError::NoKnownSignature { unknown });
        }
        Ok(verified)
    }

    /// Parses and verifies in one step.
    pub fn open(bytes: &[u8], known: &[&dyn NoteVerifier]) -> Result<Note, TlogError> {
        let note = Note::parse(bytes)?;
        note.verify(known)?;
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of c2sp.org/signed-note.
    #[test]
    fn the_spec_example_verifies() {
        let v = Ed25519Verifier::from_vkey(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .expect("spec vkey");
        let msg = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let note = Note::open(msg.as_bytes(), &[&v]).expect("verifies");
        assert_eq!(note.text(), "This is an example message.\n");
        assert_eq!(note.to_bytes(), msg.as_bytes());
        assert_eq!(
            v.vkey(),
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
        );
    }

    #[test]
    fn names_and_vkeys_are_checked() {
        assert!(is_valid_key_name("example.com/log"));
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb"] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
        }
        let skey = Ed25519Signer::new("k", SigningKey::from_bytes(&[3; 32]))
            .expect("valid")
            .skey();
        let (head, tail) = skey.split_at("PRIVATE+KEY+k+".len());
        let upper = format!("{head}{}{}", tail[..8].to_uppercase(), &tail[8..]);
        assert!(Ed25519Signer::from_skey(&upper).is_ok(), "{upper}");
        assert!(Ed25519Signer::from_skey(&skey.replacen("+k+", "+j+", 1)).is_err());
        for bad in [
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a",
            "example.com/foo+530d903a+",
        ] {
            assert!(Ed25519Verifier::from_vkey(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn too_many_signatures_or_bytes_are_refused() {
        let s = Ed25519Signer::new("k", SigningKey::from_bytes(&[3; 32])).expect("valid");
        let mut note = Note::sign("t\n", &[&s]).expect("signs");
        while note.signatures.len() < MAX_SIGNATURES {
            let again = note.signatures[0].clone();
            note.add_signature(again).expect("room");
        }
        assert!(Note::open(&note.to_bytes(), &[s.verifier()]).is_ok());
        let mut bytes = note.to_bytes();
        bytes.extend_from_slice(note.signatures[0].line().as_bytes());
        assert!(Note::parse(&bytes).is_err());
        let big = format!(
            "{}\n\n{}",
            "a".repeat(MAX_NOTE_BYTES),
            note.signatures[0].line()
        );
        assert!(Note::parse(big.as_bytes()).is_err());
    }
}
