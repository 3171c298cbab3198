//! # auditlog-config
//!
//! One TOML file configures every component, with a section each. Loading goes
//! from raw to validated:
//!
//! 1. [`raw::RawConfig`] is the file as serde sees it (`deny_unknown_fields`,
//!    a default for every field);
//! 2. `AUDITLOG_<SECTION>__<FIELD>` environment variables override it
//!    ([`env`]);
//! 3. [`Config::validate`] turns it into typed values and checks fields
//!    against each other.
//!
//! Connectivity (can the broker be reached?) is not checked here; the
//! Kafka adapter (`auditlog-kafka`) does that at start-up.
//!
//! Architecture Invariant: the librdkafka properties that delivery guarantees
//! depend on are set by [`kafka::producer_properties`] and
//! [`kafka::consumer_properties`] *after* the user's own properties.
#![deny(missing_docs)]

pub mod env;
pub mod kafka;
pub mod memory;
pub mod paths;
pub mod raw;
pub mod secrets;
mod tokens;
mod validated;
mod witness;

pub use validated::{
    ArchiverConfig, Config, IngestConfig, KafkaConfig, LogFormat, MAX_RETENTION_DAYS, S3Config,
    SealerConfig, TokenGrant, log_origin,
};
pub use witness::{Cosigner, Cosigning, WitnessConfig};

use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not match the expected shape.
    #[error("config {origin}: {message}")]
    Parse {
        /// The file name, or `environment` when an override broke the shape.
        origin: String,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// An `AUDITLOG_*` variable does not name a config field.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("config field {field}: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `ingest.listen`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl Config {
    /// Loads `path` (or only defaults when `None`), applies `AUDITLOG_*`
    /// overrides from `vars`, and validates. Relative file paths the file sets resolve against its
    /// directory ([`paths`]).
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Io {
                    path: p.to_owned(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => (String::new(), "defaults".to_owned()),
        };
        // Paths in the file mean the same from any working directory.
        let dir = path
            .and_then(Path::parent)
            .filter(|d| !d.as_os_str().is_empty());
        Config::from_toml_at(&text, &origin, dir, vars)
    }

    /// Like [`Config::load`] over TOML text already in memory, with no
    /// file directory to resolve paths against.
    pub fn from_toml(
        text: &str,
        origin: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::from_toml_at(text, origin, None, vars)
    }

    /// Like [`Config::from_toml`]; relative file paths the text sets
    /// resolve against `dir`, the file's directory ([`paths`]).
    pub fn from_toml_at(
        text: &str,
        origin: &str,
        dir: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(dir) = dir {
            paths::resolve_file_paths(&mut table, dir);
        }
        let overridden = env::apply_overrides(&mut table, vars)?;
        let raw: raw::RawConfig =
            table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: if overridden.is_empty() {
                        origin.to_owned()
                    } else {
                        format!("{origin} with overrides from {}", overridden.join(", "))
                    },
                    message: e.to_string(),
                })?;
        Config::validate(raw)
    }
}
