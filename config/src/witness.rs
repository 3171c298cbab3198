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
}
