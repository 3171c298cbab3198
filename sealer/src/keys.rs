//! Signing keys on disk.
//!
//! A key pair is two text files in the self-describing encodings of
//! `chain::keyfile` (`docs/FORMAT.md` §10a): the secret key (the 32-byte
//! Ed25519 seed under the header `auditlog-ed25519-secret-key-v1`), created
//! with mode 0600, and beside it, with the extension `.pub`, the public key
//! (under `auditlog-ed25519-public-key-v1`). Each loader refuses the other
//! kind and files of earlier releases (64 hex digits, no header), naming the
//! file and, for the latter, the conversion command ([`convert`]). A secret
//! key file readable by group or others is refused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chain::keyfile::{self, KeyFile, KeyKind};
use chain::seal::{KeyId, signing_key, verifying_key};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::SealerError;

fn key_error(path: &Path, message: impl Into<String>) -> SealerError {
    SealerError::Key {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Where `keygen --out secret_path` puts the public key: `secret_path`
/// with its extension replaced by `.pub` (`sealer.key` → `sealer.pub`,
/// `sealer` → `sealer.pub`).
pub fn public_path(secret_path: &Path) -> PathBuf {
    secret_path.with_extension("pub")
}

/// Writes a new key pair to `secret_path` and [`public_path`]. Refuses to
/// overwrite, and refuses a `secret_path` whose public key path would be
/// the same file. Returns the public key file and the key id.
pub fn generate(secret_path: &Path) -> Result<(PathBuf, KeyId), SealerError> {
    let public_path = public_path(secret_path);
    if public_path == secret_path {
        return Err(key_error(
            secret_path,
            "the public key goes beside the secret key with the extension .pub, which is this \
             very file; name the secret key differently, e.g. --out sealer.key",
        ));
    }
    for p in [secret_path, public_path.as_path()] {
        if p.exists() {
            return Err(key_error(p, "already exists; refusing to overwrite a key"));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| key_error(secret_path, format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    write_private(secret_path, &keyfile::encode(KeyKind::Secret, &seed))?;
    write_new(&public_path, &keyfile::encode(KeyKind::Public, &public))?;
    Ok((public_path, KeyId::of(&key.verifying_key())))
}

fn write_new(path: &Path, text: &str) -> Result<(), SealerError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| key_error(path, e.to_string()))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<(), SealerError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| key_error(path, e.to_string()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| key_error(path, e.to_string()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<(), SealerError> {
    write_new(path, text)
}

fn read(path: &Path, want: KeyKind) -> Result<[u8; 32], SealerError> {
    let text = fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
    keyfile::expect(&text, want, &path.display().to_string())
        .map_err(|e| key_error(path, e.to_string()))
}

/// Refuses a secret key file readable by group or others.
fn check_private(path: &Path) -> Result<(), SealerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(
                path,
                format!("mode {mode:o} lets group or others read the secret key; run chmod 600"),
            ));
        }
    }
    Ok(())
}

/// Loads a secret key, refusing files readable by group or others and
/// files that are not a secret key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SealerError> {
    check_private(path)?;
    signing_key(&read(path, KeyKind::Secret)?).map_err(|e| key_error(path, e.to_string()))
}

/// Loads a public key, refusing files that are not one.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, SealerError> {
    verifying_key(&read(path, KeyKind::Public)?).map_err(|e| key_error(path, e.to_string()))
}

/// Rewrites an earlier release's key file (64 hex digits) at `path` in the
/// encoding of `kind`, in place (atomically; a secret key keeps mode 0600).
/// A secret key must be mode 0600 already, and if the public key file
/// beside it exists it must hold that key's public half, in either format
/// (and is converted too): so a public key cannot be converted into a
/// "secret" one by mistake. Returns the files written and the key id.
pub fn convert(path: &Path, kind: KeyKind) -> Result<(Vec<PathBuf>, KeyId), SealerError> {
    let text = fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
    let bytes = match keyfile::decode(&text).map_err(|e| key_error(path, e.to_string()))? {
        KeyFile::Legacy(b) => b,
        KeyFile::Key(k, _) => {
            return Err(key_error(
                path,
                format!("is already a {} key file; nothing to convert", k.name()),
            ));
        }
    };
    match kind {
        KeyKind::Public => {
            let key = verifying_key(&bytes).map_err(|e| key_error(path, e.to_string()))?;
            replace(path, &keyfile::encode(KeyKind::Public, &bytes))?;
            Ok((vec![path.to_owned()], KeyId::of(&key)))
        }
        KeyKind::Secret => {
            let public_path = public_path(path);
            if public_path == path {
                return Err(key_error(
                    path,
                    "a file named .pub is a public key: convert it with --kind public",
                ));
            }
            check_private(path)?;
            let key = SigningKey::from_bytes(&bytes).verifying_key();
            let mut written = vec![path.to_owned()];
            if public_path.exists() {
                let beside = fs::read_to_string(&public_path)
                    .map_err(|e| key_error(&public_path, e.to_string()))?;
                let (found, legacy) = match keyfile::decode(&beside) {
                    Ok(KeyFile::Legacy(b)) => (Some(b), true),
                    Ok(KeyFile::Key(KeyKind::Public, b)) => (Some(b), false),
                    _ => (None, false),
                };
                if found != Some(key.to_bytes()) {
                    return Err(key_error(
                        path,
                        format!(
                            "{} beside it does not hold this key's public half: is {} a public key? \
                             (convert public keys with --kind public)",
                            public_path.display(),
                            path.display()
                        ),
                    ));
                }
                if legacy {
                    replace(
                        &public_path,
                        &keyfile::encode(KeyKind::Public, &key.to_bytes()),
                    )?;
                    written.push(public_path);
                }
            }
            replace(path, &keyfile::encode(KeyKind::Secret, &bytes))?;
            Ok((written, KeyId::of(&key)))
        }
    }
}

/// Replaces `path` atomically, keeping its permissions.
fn replace(path: &Path, text: &str) -> Result<(), SealerError> {
    let tmp = path.with_extension("converting");
    let perms = fs::metadata(path)
        .map_err(|e| key_error(path, e.to_string()))?
        .permissions();
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    let written = {
        use std::os::unix::fs::PermissionsExt;
        if perms.mode() & 0o077 == 0 {
            write_private(&tmp, text)
        } else {
            write_new(&tmp, text)
        }
    };
    #[cfg(not(unix))]
    let written = write_new(&tmp, text);
    written
        .and_then(|()| fs::set_permissions(&tmp, perms).map_err(|e| key_error(&tmp, e.to_string())))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| key_error(path, e.to_string())))
}

#[cfg(test)]
mod tests;
