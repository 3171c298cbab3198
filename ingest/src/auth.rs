//! Bearer-token authentication and per-tenant authorisation. Pure: the
//! gateway passes the `Authorization` header and the events' tenants.
//!
//! Tokens are configured by their SHA-256 only, and looked up by the hash
//! of what the client sent, so neither the config nor the logs ever hold a
//! token.

use std::collections::{HashMap, HashSet};

use auditlog_config::TokenGrant;
use sha2::{Digest, Sha256};

/// What a token may write.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The token's configured name.
    pub name: String,
    any: bool,
    tenants: HashSet<String>,
}

impl Grant {
    /// Whether events of `tenant` may be written with this token.
    pub fn allows(&self, tenant: &str) -> bool {
        self.any || self.tenants.contains(tenant)
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A token that is not configured.
    Invalid,
}

impl Denied {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Missing => "missing_token",
            Denied::Invalid => "invalid_token",
        }
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    by_hash: HashMap<[u8; 32], Grant>,
}

impl Auth {
    /// From the validated config.
    pub fn new(tokens: &[TokenGrant]) -> Self {
        Self {
            by_hash: tokens
                .iter()
                .map(|t| {
                    (
                        t.sha256,
                        Grant {
                            name: t.name.clone(),
                            any: t.tenants.iter().any(|x| x == "*"),
                            tenants: t.tenants.iter().cloned().collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Whether any token is configured (otherwise every request is allowed).
    pub fn enabled(&self) -> bool {
        !self.by_hash.is_empty()
    }

    /// The grant of the request's token; `Ok(None)` when authentication is
    /// off.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Option<&Grant>, Denied> {
        if !self.enabled() {
            return Ok(None);
        }
        let value = authorization.ok_or(Denied::Missing)?;
        let token = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
            .and_then(|_| value.get(7..))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Missing)?;
        let hash: [u8; 32] = Sha256::digest(token).into();
        self.by_hash.get(&hash).map(Some).ok_or(Denied::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(&[
            TokenGrant {
                name: "billing".into(),
                sha256: Sha256::digest(b"s3cret").into(),
                tenants: vec!["acme".into(), "globex".into()],
            },
            TokenGrant {
                name: "ops".into(),
                sha256: Sha256::digest(b"root-token").into(),
                tenants: vec!["*".into()],
            },
        ])
    }

    #[test]
    fn off_without_tokens() {
        assert!(Auth::default().check(None).is_ok_and(|g| g.is_none()));
    }

    #[test]
    fn bearer_tokens_map_to_their_tenants() {
        let a = auth();
        let g = a.check(Some(b"Bearer s3cret")).ok().flatten();
        assert_eq!(g.map(|g| g.name.as_str()), Some("billing"));
        assert!(g.is_some_and(|g| g.allows("acme") && !g.allows("initech")));
        let ops = a.check(Some(b"bearer root-token")).ok().flatten();
        assert!(ops.is_some_and(|g| g.allows("anyone")));
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_denied() {
        let a = auth();
        assert_eq!(a.check(None).err(), Some(Denied::Missing));
        assert_eq!(
            a.check(Some(b"Basic czNjcmV0")).err(),
            Some(Denied::Missing)
        );
        assert_eq!(a.check(Some(b"Bearer ")).err(), Some(Denied::Missing));
        assert_eq!(a.check(Some(b"Bearer wrong")).err(), Some(Denied::Invalid));
        assert_eq!(
            a.check(Some(b"Bearer s3cret2")).err(),
            Some(Denied::Invalid)
        );
    }
}
