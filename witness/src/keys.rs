//! The witness's secret key: a key file of `auditlog keygen`
//! (`chain::keyfile`, docs/FORMAT.md §10a), mode 0600.

use std::path::Path;

use chain::keyfile::{self, KeyKind};
use ed25519_dalek::SigningKey;

use crate::WitnessError;

fn key_error(path: &Path, message: impl Into<String>) -> WitnessError {
    WitnessError::Key {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Loads the witness's secret key, refusing a file readable by group or
/// others and a file that is not a secret key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, WitnessError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(
                path,
                format!("mode {mode:o} lets group or others read the secret key; run chmod 600"),
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
    let seed = keyfile::expect(&text, KeyKind::Secret, &path.display().to_string())
        .map_err(|e| key_error(path, e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}
