//! The key registry: which public keys may sign what, and when.
//!
//! ```toml
//! [[keys]]
//! public_key = "<64 hex digits>"      # or: file = "sealer.pub" (relative to the registry file)
//! role = "sealer"                     # "sealer" signs seals, "archiver" manifests
//! not_before = "2026-01-01T00:00:00Z" # optional, inclusive
//! not_after = "2027-01-01T00:00:00Z"  # optional, exclusive
//! ```

use std::path::{Path, PathBuf};

use chain::KeyId;
use chain::keyfile::KeyKind;
use chain::seal::verifying_key;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::VerifyError;

/// Who may sign with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signs seals.
    Sealer,
    /// Signs manifests.
    Archiver,
}

/// One registered key.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: VerifyingKey,
    /// Its id.
    pub id: KeyId,
    /// What it may sign.
    pub role: Role,
    /// Valid from, ms since the epoch, inclusive.
    pub not_before_ms: Option<i64>,
    /// Valid until, ms since the epoch, exclusive.
    pub not_after_ms: Option<i64>,
}

/// Why a key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// No key with that id, in that role.
    Unknown,
    /// The key exists but `at_ms` is outside its window.
    OutsideWindow {
        /// The window, for the message.
        window: String,
    },
}

/// All registered keys.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    public_key: Option<String>,
    file: Option<PathBuf>,
    role: Role,
    not_before: Option<String>,
    not_after: Option<String>,
}

fn bad(path: &Path, message: impl Into<String>) -> VerifyError {
    VerifyError::Registry {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// An RFC 3339 time as ms since the epoch, or why it is not one.
pub fn rfc3339_ms(s: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-11-26T00:00:00Z: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{s:?} is out of range"))
}

/// Ms since the epoch as an RFC 3339 UTC time (what every report prints;
/// never raw milliseconds).
pub fn utc(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

fn parse_time(path: &Path, field: &str, s: &str) -> Result<i64, VerifyError> {
    rfc3339_ms(s).map_err(|e| bad(path, format!("{field} {e}")))
}

/// Reads a public key file (`docs/FORMAT.md` §10a), refusing a secret key
/// and an earlier release's file (with the conversion command), naming the
/// file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, VerifyError> {
    let key_file = |message: String| VerifyError::KeyFile {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| key_file(e.to_string()))?;
    let bytes = chain::keyfile::expect(&text, KeyKind::Public, &path.display().to_string())
        .map_err(|e| key_file(e.to_string()))?;
    verifying_key(&bytes).map_err(|e| key_file(e.to_string()))
}

fn parse_public_key(path: &Path, hex: &str) -> Result<VerifyingKey, VerifyError> {
    let bytes = chain::hex::decode_array::<32>(hex)
        .ok_or_else(|| bad(path, "a public key is 64 lowercase hex digits"))?;
    verifying_key(&bytes).map_err(|e| bad(path, e.to_string()))
}

impl Registry {
    /// Adds a key valid at all times.
    pub fn add(&mut self, key: VerifyingKey, role: Role) {
        self.entries.push(Entry {
            id: KeyId::of(&key),
            key,
            role,
            not_before_ms: None,
            not_after_ms: None,
        });
    }

    /// Every key registered in `role`, whatever its window (a log
    /// checkpoint carries no time to hold it to).
    pub fn keys(&self, role: Role) -> Vec<VerifyingKey> {
        self.entries
            .iter()
            .filter(|e| e.role == role)
            .map(|e| e.key)
            .collect()
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Loads a registry file.
    pub fn load(path: &Path) -> Result<Self, VerifyError> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
        let raw: RawFile = toml::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut reg = Registry::default();
        for (i, k) in raw.keys.into_iter().enumerate() {
            let key = match (&k.public_key, &k.file) {
                (Some(hex), None) => parse_public_key(path, hex)?,
                (None, Some(f)) => read_public_key(&base.join(f))?,
                _ => {
                    return Err(bad(
                        path,
                        format!("keys[{i}]: give exactly one of public_key or file"),
                    ));
                }
            };
            let not_before_ms = k
                .not_before
                .as_deref()
                .map(|s| parse_time(path, "not_before", s))
                .transpose()?;
            let not_after_ms = k
                .not_after
                .as_deref()
                .map(|s| parse_time(path, "not_after", s))
                .transpose()?;
            reg.entries.push(Entry {
                id: KeyId::of(&key),
                key,
                role: k.role,
                not_before_ms,
                not_after_ms,
            });
        }
        if reg.entries.is_empty() {
            return Err(bad(path, "no [[keys]]: nothing could verify"));
        }
        Ok(reg)
    }

    /// The key `id` may sign as `role` at `at_ms`.
    pub fn lookup(&self, id: &KeyId, role: Role, at_ms: i64) -> Result<&VerifyingKey, KeyProblem> {
        let mut outside = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.id == *id && e.role == role)
        {
            let after_start = e.not_before_ms.is_none_or(|b| at_ms >= b);
            let before_end = e.not_after_ms.is_none_or(|a| at_ms < a);
            if after_start && before_end {
                return Ok(&e.key);
            }
            outside = Some(format!(
                "valid from {} until {}, used at {}",
                e.not_before_ms.map_or("-∞".into(), utc),
                e.not_after_ms.map_or("+∞".into(), utc),
                utc(at_ms)
            ));
        }
        match outside {
            Some(window) => Err(KeyProblem::OutsideWindow { window }),
            None => Err(KeyProblem::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> VerifyingKey {
        chain::seal::signing_key(&[seed; 32])
            .map(|k| k.verifying_key())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn windows_roles_and_unknown_keys() {
        let mut r = Registry::default();
        r.push(Entry {
            key: key(1),
            id: KeyId::of(&key(1)),
            role: Role::Archiver,
            not_before_ms: Some(100),
            not_after_ms: Some(200),
        });
        let id = KeyId::of(&key(1));
        assert!(r.lookup(&id, Role::Archiver, 100).is_ok());
        assert!(matches!(
            r.lookup(&id, Role::Archiver, 200),
            Err(KeyProblem::OutsideWindow { .. })
        ));
        assert!(matches!(
            r.lookup(&id, Role::Archiver, 99),
            Err(KeyProblem::OutsideWindow { .. })
        ));
        assert_eq!(r.lookup(&id, Role::Sealer, 150), Err(KeyProblem::Unknown));
        assert_eq!(
            r.lookup(&KeyId::of(&key(2)), Role::Archiver, 150),
            Err(KeyProblem::Unknown)
        );
    }

    #[test]
    fn loads_a_file_with_relative_key_files() {
        let dir = std::env::temp_dir().join(format!("verify-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let public = chain::keyfile::encode(KeyKind::Public, key(3).as_bytes());
        std::fs::write(dir.join("s.pub"), public).unwrap_or_else(|e| panic!("{e}"));
        let secret = chain::keyfile::encode(KeyKind::Secret, &[3; 32]);
        std::fs::write(dir.join("s.key"), secret).unwrap_or_else(|e| panic!("{e}"));
        let reg = dir.join("keys.toml");
        std::fs::write(
            &reg,
            format!(
                "[[keys]]\nfile = \"s.pub\"\nrole = \"sealer\"\n\n[[keys]]\npublic_key = \"{}\"\nrole = \"archiver\"\nnot_after = \"2026-01-01T00:00:00Z\"\n",
                chain::hex::encode(key(4).as_bytes())
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = Registry::load(&reg).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.lookup(&KeyId::of(&key(3)), Role::Sealer, 0).is_ok());
        assert!(r.lookup(&KeyId::of(&key(4)), Role::Archiver, 0).is_ok());
        assert!(
            r.lookup(&KeyId::of(&key(4)), Role::Archiver, 1_767_225_600_000)
                .is_err()
        );
        std::fs::write(&reg, "[[keys]]\nrole = \"sealer\"\n").unwrap_or_else(|e| panic!("{e}"));
        let err = Registry::load(&reg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("exactly one of public_key or file"), "{err}");
        std::fs::write(&reg, "[[keys]]\nfile = \"s.key\"\nrole = \"sealer\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = Registry::load(&reg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("s.key: holds a SECRET key"), "{err}");
    }
}
