//! File paths written in the configuration file resolve against that
//! file's directory, not the working directory, so a command works the
//! same from wherever it is run (`docs/OPERATIONS.md`, "Paths").
//!
//! The fields: `ingest.tls_cert_file`, `ingest.tls_key_file`,
//! `sealer.key_file`, `sealer.trusted_keys`, `archiver.key_file`,
//! `archiver.seal_keys`, `witness.key_file`, `witness.state_dir`. Only what the file says is resolved, before the
//! `AUDITLOG_*` overrides apply: a default (`sealer.key` for
//! `sealer.key_file`) and a value from the environment stay relative to the
//! working directory, where `auditlog keygen --out sealer.key` wrote it.
//! Absolute paths are unchanged. librdkafka's own file properties under
//! `[kafka.properties]` are passed as they are.

use std::path::Path;

/// `(section, field)` of every file path, one path or a list of them.
pub const PATH_FIELDS: &[(&str, &str)] = &[
    ("ingest", "tls_cert_file"),
    ("ingest", "tls_key_file"),
    ("sealer", "key_file"),
    ("sealer", "trusted_keys"),
    ("archiver", "key_file"),
    ("archiver", "seal_keys"),
    ("witness", "key_file"),
    ("witness", "state_dir"),
];

fn resolve(base: &Path, value: &mut toml::Value) {
    match value {
        toml::Value::String(s) if !s.is_empty() && Path::new(s.as_str()).is_relative() => {
            *s = base.join(s.as_str()).display().to_string();
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| resolve(base, v)),
        _ => {}
    }
}

/// Resolves the file paths the configuration file itself sets against
/// `base`, its directory. Values of the wrong type are left for the
/// loader to refuse with the field named.
pub fn resolve_file_paths(table: &mut toml::Table, base: &Path) {
    for (section, field) in PATH_FIELDS {
        if let Some(v) = table
            .get_mut(*section)
            .and_then(toml::Value::as_table_mut)
            .and_then(|t| t.get_mut(*field))
        {
            resolve(base, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::Config;

    fn load(text: &str, vars: &[(&str, &str)]) -> Config {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml_at(
            text,
            "t.toml",
            Some(std::path::Path::new("/etc/auditlog")),
            vars,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn paths_in_the_file_follow_it_and_absolute_ones_stay() {
        let c = load(
            "[sealer]\nkey_file = \"keys/sealer.key\"\ntrusted_keys = [\"/etc/old.pub\", \"old2.pub\"]\n\
             [archiver]\nseal_keys = [\"sealer.pub\"]\n\
             [ingest]\ntls_cert_file = \"tls/c.pem\"\ntls_key_file = \"/abs/k.pem\"\n",
            &[],
        );
        assert_eq!(
            c.sealer.key_file,
            PathBuf::from("/etc/auditlog/keys/sealer.key")
        );
        assert_eq!(
            c.sealer.trusted_keys,
            vec![
                PathBuf::from("/etc/old.pub"),
                PathBuf::from("/etc/auditlog/old2.pub")
            ]
        );
        assert_eq!(
            c.archiver.seal_keys,
            vec![PathBuf::from("/etc/auditlog/sealer.pub")]
        );
        assert_eq!(
            c.ingest.tls,
            Some((
                PathBuf::from("/etc/auditlog/tls/c.pem"),
                PathBuf::from("/abs/k.pem")
            ))
        );
        assert_eq!(c.raw.sealer.key_file, "/etc/auditlog/keys/sealer.key");
    }

    #[test]
    fn defaults_and_environment_values_stay_relative_to_the_working_directory() {
        let c = load(
            "[sealer]\nkey_file = \"in-file.key\"\n",
            &[("AUDITLOG_SEALER__KEY_FILE", "from-env.key")],
        );
        assert_eq!(c.sealer.key_file, PathBuf::from("from-env.key"));
        assert_eq!(c.archiver.key_file, PathBuf::from("archiver.key"));
        assert_eq!(c.ingest.tls, None);
    }
}
