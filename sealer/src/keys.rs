//! Signing keys on disk.
//!
//! A key pair is two text files: `NAME.key` holds the 32-byte Ed25519 secret
//! seed as 64 lowercase hex digits and is created with mode 0600; `NAME.pub`
//! holds the 32-byte public key the same way. A secret key file readable by
//! group or others is refused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chain::seal::{KeyId, signing_key, verifying_key};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::SealerError;

fn key_error(path: &Path, message: impl Into<String>) -> SealerError {
    SealerError::Key {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Writes a new key pair to `secret_path` and `secret_path` with `.pub`.
/// Refuses to overwrite. Returns the public key file and the key id.
pub fn generate(secret_path: &Path) -> Result<(PathBuf, KeyId), SealerError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| key_error(secret_path, format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let public_path = secret_path.with_extension("pub");
    for p in [secret_path, public_path.as_path()] {
        if p.exists() {
            return Err(key_error(p, "already exists; refusing to overwrite a key"));
        }
    }
    write_private(secret_path, &format!("{}\n", chain::hex::encode(&seed)))?;
    fs::write(
        &public_path,
        format!("{}\n", chain::hex::encode(key.verifying_key().as_bytes())),
    )
    .map_err(|e| key_error(&public_path, e.to_string()))?;
    Ok((public_path, KeyId::of(&key.verifying_key())))
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
    fs::write(path, text).map_err(|e| key_error(path, e.to_string()))
}

fn read_hex32(path: &Path) -> Result<[u8; 32], SealerError> {
    let text = fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
    chain::hex::decode_array::<32>(text.trim())
        .ok_or_else(|| key_error(path, "expected 64 lowercase hex digits"))
}

/// Loads a secret key, refusing files readable by group or others.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SealerError> {
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
    signing_key(&read_hex32(path)?).map_err(|e| key_error(path, e.to_string()))
}

/// Loads a public key.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, SealerError> {
    verifying_key(&read_hex32(path)?).map_err(|e| key_error(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_and_refuse_loose_permissions() {
        let dir = std::env::temp_dir().join(format!("auditlog-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let secret = dir.join("sealer.key");
        let (public, id) = generate(&secret).expect("generate");
        let sk = load_signing_key(&secret).expect("load secret");
        let pk = load_verifying_key(&public).expect("load public");
        assert_eq!(sk.verifying_key(), pk);
        assert_eq!(KeyId::of(&pk), id);
        assert!(generate(&secret).is_err(), "must not overwrite");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = load_signing_key(&secret).expect_err("loose");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
