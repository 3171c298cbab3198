//! Key files (`docs/FORMAT.md` §10a): a secret key and a public key have
//! distinct, self-describing encodings, so neither can be taken for the
//! other.
//!
//! ```text
//! auditlog-ed25519-secret-key-v1\n<64 lowercase hex digits: the 32-byte seed>\n
//! auditlog-ed25519-public-key-v1\n<64 lowercase hex digits: the 32-byte public key>\n
//! ```
//!
//! Files of earlier releases hold only the 64 hex digits, which does not say
//! which kind they are: they are recognised as [`KeyFile::Legacy`] and
//! refused by every loader, which names the conversion command.

use crate::ChainError;

/// The first line of a secret key file.
pub const SECRET_HEADER: &str = "auditlog-ed25519-secret-key-v1";
/// The first line of a public key file.
pub const PUBLIC_HEADER: &str = "auditlog-ed25519-public-key-v1";

/// Which half of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The 32-byte Ed25519 seed that signs.
    Secret,
    /// The 32-byte Ed25519 public key that verifies.
    Public,
}

impl KeyKind {
    /// The header line of this kind.
    pub fn header(self) -> &'static str {
        match self {
            Self::Secret => SECRET_HEADER,
            Self::Public => PUBLIC_HEADER,
        }
    }

    /// "secret" or "public".
    pub fn name(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Public => "public",
        }
    }
}

/// What a key file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFile {
    /// A key of the kind its header names.
    Key(KeyKind, [u8; 32]),
    /// An earlier release's file: 64 hex digits and no header, secret or
    /// public, nobody can tell.
    Legacy([u8; 32]),
}

/// The file text of a key of `kind`.
pub fn encode(kind: KeyKind, bytes: &[u8; 32]) -> String {
    format!("{}\n{}\n", kind.header(), crate::hex::encode(bytes))
}

fn hex32(line: &str) -> Result<[u8; 32], ChainError> {
    crate::hex::decode_array::<32>(line).ok_or_else(|| {
        ChainError::KeyFile(format!(
            "is not a key file: expected 64 lowercase hex digits after the header, found {} characters",
            line.len()
        ))
    })
}

/// Reads a key file's text (surrounding whitespace and a final newline
/// are ignored; line ends may be CRLF).
pub fn decode(text: &str) -> Result<KeyFile, ChainError> {
    let mut lines = text.trim().lines().map(str::trim);
    let first = lines.next().unwrap_or_default();
    let second = lines.next();
    if lines.next().is_some() {
        return Err(ChainError::KeyFile(
            "is not a key file: more than two lines (a header line and a hex line)".into(),
        ));
    }
    match (first, second) {
        (h, Some(hex)) if h == SECRET_HEADER => Ok(KeyFile::Key(KeyKind::Secret, hex32(hex)?)),
        (h, Some(hex)) if h == PUBLIC_HEADER => Ok(KeyFile::Key(KeyKind::Public, hex32(hex)?)),
        (hex, None) if hex.len() == 64 => Ok(KeyFile::Legacy(hex32(hex)?)),
        (h, _) => Err(ChainError::KeyFile(format!(
            "is not a key file: the first line is {:?}, not {SECRET_HEADER} or {PUBLIC_HEADER}",
            h.chars().take(40).collect::<String>()
        ))),
    }
}

/// The key of kind `want` in the text of the key file `path`, or what the
/// person who configured it must be told (the message starts after the
/// file's name, which the caller puts first).
pub fn expect(text: &str, want: KeyKind, path: &str) -> Result<[u8; 32], ChainError> {
    match decode(text)? {
        KeyFile::Key(kind, bytes) if kind == want => Ok(bytes),
        KeyFile::Key(KeyKind::Public, _) => Err(ChainError::KeyFile(format!(
            "holds a public key ({PUBLIC_HEADER}), not the secret key this setting needs: \
             give the secret key file `auditlog keygen` wrote (the one without .pub)"
        ))),
        KeyFile::Key(KeyKind::Secret, _) => Err(ChainError::KeyFile(format!(
            "holds a SECRET key ({SECRET_HEADER}) where public keys are listed: \
             list the .pub file `auditlog keygen` wrote beside it, and keep secret keys out of key lists"
        ))),
        KeyFile::Legacy(_) => Err(ChainError::KeyFile(format!(
            "is in the key format of earlier releases (64 hex digits without a header), \
             which cannot tell a secret key from a public one; convert it with: \
             auditlog keygen --convert {path} --kind {}",
            want.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_round_trips_and_names_itself() {
        let bytes = [7u8; 32];
        for kind in [KeyKind::Secret, KeyKind::Public] {
            let text = encode(kind, &bytes);
            assert!(text.starts_with(kind.header()) && text.ends_with('\n'));
            assert_eq!(text.lines().count(), 2);
            assert_eq!(decode(&text), Ok(KeyFile::Key(kind, bytes)));
            assert_eq!(
                decode(&text.replace('\n', "\r\n")),
                Ok(KeyFile::Key(kind, bytes))
            );
        }
        assert_ne!(
            encode(KeyKind::Secret, &bytes),
            encode(KeyKind::Public, &bytes)
        );
    }

    #[test]
    fn the_documented_public_key_file_of_the_test_vector_seed() {
        let public = crate::seal::signing_key(&[1u8; 32])
            .map(|k| k.verifying_key().to_bytes())
            .unwrap_or_default();
        assert_eq!(
            encode(KeyKind::Public, &public),
            "auditlog-ed25519-public-key-v1\n\
             8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\n"
        );
    }

    #[test]
    fn a_loader_refuses_the_other_kind_and_names_the_conversion() {
        let b = [3u8; 32];
        let secret = encode(KeyKind::Secret, &b);
        let public = encode(KeyKind::Public, &b);
        assert_eq!(expect(&secret, KeyKind::Secret, "s.key"), Ok(b));
        assert_eq!(expect(&public, KeyKind::Public, "s.pub"), Ok(b));
        let e = expect(&public, KeyKind::Secret, "s.pub")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("holds a public key")));
        let e = expect(&secret, KeyKind::Public, "s.key")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("holds a SECRET key")));
        let legacy = format!("{}\n", crate::hex::encode(&b));
        let e = expect(&legacy, KeyKind::Public, "old.pub")
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.ends_with("auditlog keygen --convert old.pub --kind public")),
            "{e:?}"
        );
    }

    #[test]
    fn an_earlier_release_file_is_legacy_and_garbage_is_refused() {
        let hex = crate::hex::encode(&[9u8; 32]);
        assert_eq!(decode(&format!("{hex}\n")), Ok(KeyFile::Legacy([9u8; 32])));
        for bad in [
            String::new(),
            "hello".into(),
            format!("{SECRET_HEADER}\n"),
            format!("{SECRET_HEADER}\n{}\n", &hex[2..]),
            format!("{PUBLIC_HEADER}\n{}\n", "AB".repeat(32)),
            format!("{PUBLIC_HEADER}\n{hex}\n{hex}\n"),
            format!("-----BEGIN PRIVATE KEY-----\n{hex}\n"),
        ] {
            assert!(decode(&bad).is_err(), "{bad:?}");
        }
    }
}
