//! `[witness]`, validated: the c2sp.org/tlog-witness service's listen
//! address, key, state directory and the logs it witnesses (each log's
//! verifier key parsed here, so a bad one is a configuration error).

use std::net::SocketAddr;

use crate::ConfigError;
use crate::validated::{invalid, optional_listen};

/// `[witness]`, validated.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Listen address of `POST /add-checkpoint`.
    pub listen: SocketAddr,
    /// The witness's key name; `None` when not configured.
    pub name: Option<String>,
    /// The witness's secret key file.
    pub key_file: std::path::PathBuf,
    /// Directory of the per-log state files.
    pub state_dir: std::path::PathBuf,
    /// Metrics listen address, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// The logs witnessed, each with its verifier key.
    pub logs: Vec<tlog::WitnessedLog>,
}

impl WitnessConfig {
    /// The key name, or the error to show when `auditlog witness` runs
    /// without one or without any log.
    pub fn require_name(&self) -> Result<&str, ConfigError> {
        let name = self.name.as_deref().ok_or_else(|| {
            invalid(
                "witness.name",
                "the witness needs a key name, e.g. \"witness.example.com/w1\"",
            )
        })?;
        if self.logs.is_empty() {
            return Err(invalid(
                "witness.logs",
                "list the logs to witness as [[witness.logs]] with origin and public_key",
            ));
        }
        Ok(name)
    }
}

/// A witness the archiver asks to cosign its logs' checkpoints.
#[derive(Debug, Clone)]
pub struct Cosigner {
    /// Base URL; requests go to `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature/v1 key (its name is the witness's name).
    pub key: tlog::CosignatureVerifier,
}

/// The witnesses the archiver collects cosignatures from, and the quorum.
#[derive(Debug, Clone, Default)]
pub struct Cosigning {
    /// The witnesses, in the order listed.
    pub witnesses: Vec<Cosigner>,
    /// How many must cosign a checkpoint before it is stored cosigned
    /// (1..=witnesses.len(); 0 when there are none).
    pub quorum: usize,
}

/// Validates `[[archiver.witnesses]]` and `archiver.witness_quorum`.
pub(crate) fn validate_cosigning(raw: &crate::raw::RawArchiver) -> Result<Cosigning, ConfigError> {
    let mut witnesses: Vec<Cosigner> = Vec::new();
    for (n, w) in raw.witnesses.iter().enumerate() {
        let field = |f: &str| format!("archiver.witnesses[{n}].{f}");
        let url = w.url.trim_end_matches('/');
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            return Err(invalid(
                &field("url"),
                format!(
                    "{:?} is not an http:// or https:// base URL such as http://127.0.0.1:8090",
                    w.url
                ),
            ));
        }
        let key = tlog::CosignatureVerifier::from_vkey(&w.public_key).map_err(|e| {
            invalid(
                &field("public_key"),
                format!(
                    "{e}; expected the witness's cosignature/v1 verifier key (`auditlog witness --print-vkey`), <name>+<8 hex digits>+<base64 of 0x04 and the 32-byte public key>"
                ),
            )
        })?;
        if witnesses
            .iter()
            .any(|x| tlog::NoteVerifier::name(&x.key) == tlog::NoteVerifier::name(&key))
        {
            return Err(invalid(
                &field("public_key"),
                format!(
                    "witness {:?} is listed twice",
                    tlog::NoteVerifier::name(&key)
                ),
            ));
        }
        witnesses.push(Cosigner {
            url: url.to_owned(),
            key,
        });
    }
    if !witnesses.is_empty() && !raw.transparency_log {
        return Err(invalid(
            "archiver.witnesses",
            "witnesses cosign the transparency logs' checkpoints: set archiver.transparency_log = true",
        ));
    }
    let quorum = match raw.witness_quorum as usize {
        0 => witnesses.len(),
        k if k <= witnesses.len() => k,
        k => {
            return Err(invalid(
                "archiver.witness_quorum",
                format!(
                    "{k} is more than the {} witnesses listed in [[archiver.witnesses]]",
                    witnesses.len()
                ),
            ));
        }
    };
    Ok(Cosigning { witnesses, quorum })
}

pub(crate) fn validate(raw: &crate::raw::RawWitness) -> Result<WitnessConfig, ConfigError> {
    let listen = raw.listen.parse::<SocketAddr>().map_err(|_| {
        invalid(
            "witness.listen",
            format!("{:?} is not an address such as 127.0.0.1:8090", raw.listen),
        )
    })?;
    let name = if raw.name.is_empty() {
        None
    } else if tlog::note::is_valid_key_name(&raw.name) {
        Some(raw.name.clone())
    } else {
        return Err(invalid(
            "witness.name",
            format!(
                "{:?} is not a key name (non-empty, no spaces, no +)",
                raw.name
            ),
        ));
    };
    if raw.state_dir.is_empty() {
        return Err(invalid("witness.state_dir", "must not be empty"));
    }
    let mut logs: Vec<tlog::WitnessedLog> = Vec::new();
    for (n, l) in raw.logs.iter().enumerate() {
        let field = |f: &str| format!("witness.logs[{n}].{f}");
        if l.origin.is_empty() || l.origin.contains(['\n', '\r']) {
            return Err(invalid(
                &field("origin"),
                "must be a checkpoint origin line (non-empty, one line)",
            ));
        }
        if logs.iter().any(|x| x.origin == l.origin) {
            return Err(invalid(
                &field("origin"),
                format!("{:?} is listed twice", l.origin),
            ));
        }
        let key = tlog::Ed25519Verifier::from_vkey(&l.public_key).map_err(|e| {
            invalid(
                &field("public_key"),
                format!(
                    "{e}; expected a signed-note Ed25519 verifier key, <name>+<8 hex digits>+<base64 of 0x01 and the 32-byte public key>"
                ),
            )
        })?;
        logs.push(tlog::WitnessedLog {
            origin: l.origin.clone(),
            keys: vec![key],
        });
    }
    Ok(WitnessConfig {
        listen,
        name,
        key_file: raw.key_file.clone().into(),
        state_dir: raw.state_dir.clone().into(),
        metrics_listen: optional_listen("witness.metrics_listen", &raw.metrics_listen)?,
        logs,
    })
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const LOG_VKEY: &str =
        "example.com/auditlog/vectors+0fb3b5d1+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";

    fn load(text: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml(text, "test.toml", Vec::new())
    }

    #[test]
    fn a_witnessed_log_is_parsed_with_its_key() {
        let c = load(&format!(
            "[witness]\nname = \"w.example/w1\"\n[[witness.logs]]\norigin = \"example.com/log\"\npublic_key = \"{LOG_VKEY}\"\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.witness.require_name().ok(), Some("w.example/w1"));
        assert_eq!(c.witness.logs.len(), 1);
        assert_eq!(c.witness.logs[0].keys[0].vkey(), LOG_VKEY);
    }

    #[test]
    fn defaults_load_but_the_service_needs_a_name_and_logs() {
        let c = load("").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.witness.name.is_none());
        let e = c.witness.require_name().map(str::to_owned);
        assert!(e.is_err_and(|e| e.to_string().contains("witness.name")));
        let c = load("[witness]\nname = \"w\"\n").unwrap_or_else(|e| panic!("{e}"));
        let e = c.witness.require_name().map(str::to_owned);
        assert!(e.is_err_and(|e| e.to_string().contains("witness.logs")));
    }

    #[test]
    fn bad_fields_are_refused_with_the_field_named() {
        for (text, field) in [
            ("[witness]\nname = \"a b\"\n", "witness.name"),
            ("[witness]\nlisten = \"nowhere\"\n", "witness.listen"),
            (
                "[witness]\nmetrics_listen = \"x\"\n",
                "witness.metrics_listen",
            ),
            (
                "[[witness.logs]]\norigin = \"o\"\npublic_key = \"o+00000000+AQ==\"\n",
                "witness.logs[0].public_key",
            ),
            (
                &format!("[[witness.logs]]\norigin = \"\"\npublic_key = \"{LOG_VKEY}\"\n"),
                "witness.logs[0].origin",
            ),
            (
                &format!(
                    "[[witness.logs]]\norigin = \"o\"\npublic_key = \"{LOG_VKEY}\"\n[[witness.logs]]\norigin = \"o\"\npublic_key = \"{LOG_VKEY}\"\n"
                ),
                "witness.logs[1].origin",
            ),
            ("[witness]\nstray = 1\n", "stray"),
        ] {
            let e = load(text)
                .map(|_| ())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(field), "{text}: {e}");
        }
    }

    const BAD_ID_WITNESS_VKEY: &str =
        "w.example/w1+5a8b7c44+BCeY2O0LkZBqnfG4UvyGrvw0YJ+ubEqCfW8YAWeWVDu6";

    #[test]
    fn archiver_witnesses_and_quorum_are_validated() {
        let key = tlog::CosignatureSigner::new(
            "w.example/w1",
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        )
        .map(|s| s.verifier().vkey())
        .unwrap_or_else(|e| panic!("{e}"));
        let entry = |url: &str, k: &str| {
            format!("[[archiver.witnesses]]\nurl = \"{url}\"\npublic_key = \"{k}\"\n")
        };
        let on = "[s3]\nbucket = \"b\"\n[archiver]\ntransparency_log = true\n";
        let c = load(&format!("{on}{}", entry("http://127.0.0.1:8090/", &key)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.archiver.cosigning.quorum, 1);
        assert_eq!(
            c.archiver.cosigning.witnesses[0].url,
            "http://127.0.0.1:8090"
        );
        assert_eq!(load("").map(|c| c.archiver.cosigning.quorum).ok(), Some(0));
        for (text, field) in [
            (entry("http://w", &key), "archiver.witnesses"),
            (
                format!("{on}{}", entry("ftp://w", &key)),
                "archiver.witnesses[0].url",
            ),
            (
                format!("{on}{}", entry("http://w", LOG_VKEY)),
                "archiver.witnesses[0].public_key",
            ),
            (
                format!("{on}{}", entry("http://w", BAD_ID_WITNESS_VKEY)),
                "archiver.witnesses[0].public_key",
            ),
            (
                format!("{on}{}{}", entry("http://a", &key), entry("http://b", &key)),
                "archiver.witnesses[1].public_key",
            ),
            (
                format!("{on}witness_quorum = 2\n{}", entry("http://a", &key)),
                "archiver.witness_quorum",
            ),
        ] {
            let e = load(&text)
                .map(|_| ())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
