//! `[[ingest.tokens]]`, validated: bearer tokens by SHA-256 and the
//! tenants each may write.

use crate::ConfigError;
use crate::validated::{TokenGrant, invalid};

/// Validates the configured tokens: hex SHA-256 digests, unique, named, with
/// at least one tenant each.
pub(crate) fn tokens(raw: &[crate::raw::RawToken]) -> Result<Vec<TokenGrant>, ConfigError> {
    let mut out: Vec<TokenGrant> = Vec::new();
    for (n, t) in raw.iter().enumerate() {
        let field = |f: &str| format!("ingest.tokens[{n}].{f}");
        let hex = t.sha256.as_bytes();
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut sha256 = [0u8; 32];
        let ok = hex.len() == 64
            && sha256.iter_mut().enumerate().all(|(i, b)| {
                match (nib(hex[2 * i]), nib(hex[2 * i + 1])) {
                    (Some(h), Some(l)) => {
                        *b = (h << 4) | l;
                        true
                    }
                    _ => false,
                }
            });
        if !ok {
            return Err(invalid(
                &field("sha256"),
                "must be the SHA-256 of the token as 64 lowercase hex digits (printf %s \"$TOKEN\" | sha256sum)",
            ));
        }
        if t.name.trim().is_empty() {
            return Err(invalid(&field("name"), "must not be empty"));
        }
        if t.tenants.is_empty() || t.tenants.iter().any(|x| x.trim().is_empty()) {
            return Err(invalid(
                &field("tenants"),
                "list the tenants this token may write (\"*\" for any)",
            ));
        }
        if out.iter().any(|g| g.sha256 == sha256 || g.name == t.name) {
            return Err(invalid(
                &field("name"),
                "a token name and hash may appear only once",
            ));
        }
        out.push(TokenGrant {
            name: t.name.clone(),
            sha256,
            tenants: t.tenants.clone(),
        });
    }
    Ok(out)
}
