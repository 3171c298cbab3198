//! `AUDITLOG_*` environment overrides.
//!
//! `AUDITLOG_<SECTION>__<FIELD>` sets `[section] field`, e.g.
//! `AUDITLOG_KAFKA__BOOTSTRAP_SERVERS=broker:9092` or
//! `AUDITLOG_INGEST__LISTEN=0.0.0.0:8080`. Names are case-insensitive; the
//! double underscore separates levels. Under `[kafka.properties]` single
//! underscores become dots: `AUDITLOG_KAFKA__PROPERTIES__LINGER_MS=5` sets
//! `linger.ms`. Values that parse as TOML integers or booleans are typed so;
//! anything else is a string.
//!
//! Only names containing `__` are overrides; other `AUDITLOG_*` variables
//! (`AUDITLOG_CONFIG`, `AUDITLOG_LOG`, the scripts' `AUDITLOG_STACK_*`) are
//! left alone. A name like `AUDITLOG_KAFKA_BOOTSTRAP_SERVERS`, which starts
//! with a section but has no `__`, is refused as a likely typo.

use crate::ConfigError;

/// The prefix every override carries.
pub const PREFIX: &str = "AUDITLOG_";

/// The sections of the file, for the single-underscore typo check.
const SECTIONS: &[&str] = &[
    "KAFKA",
    "LIMITS",
    "INGEST",
    "S3",
    "SEALER",
    "ARCHIVER",
    "TELEMETRY",
    "WITNESS",
];

/// Applies overrides in place and returns the names of the variables used.
pub fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .collect();
    vars.sort();
    if let Some((var, _)) = vars.iter().find(|(k, _)| {
        let rest = &k[PREFIX.len()..];
        !rest.contains("__")
            && SECTIONS.iter().any(|s| {
                rest.strip_prefix(s)
                    .is_some_and(|r| r.is_empty() || r.starts_with('_'))
            })
    }) {
        return Err(ConfigError::Env {
            var: var.clone(),
            message: "looks like an override but lacks the double underscore, e.g. AUDITLOG_KAFKA__BOOTSTRAP_SERVERS".into(),
        });
    }
    vars.retain(|(k, _)| k.contains("__"));
    let mut used = Vec::new();
    for (var, value) in vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let (section, rest) = match path.as_slice() {
            [section, rest @ ..]
                if !section.is_empty()
                    && !rest.is_empty()
                    && rest.iter().all(|p| !p.is_empty()) =>
            {
                (section, rest)
            }
            _ => {
                return Err(ConfigError::Env {
                    var,
                    message: "expected AUDITLOG_<SECTION>__<FIELD>, e.g. AUDITLOG_KAFKA__BOOTSTRAP_SERVERS".into(),
                });
            }
        };
        let mut cur = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let mut keys: Vec<String> = rest.to_vec();
        if section == "kafka" && keys.len() == 2 && keys[0] == "properties" {
            keys[1] = keys[1].replace('_', ".");
        }
        let last = keys.pop().unwrap_or_default();
        for k in keys {
            cur = match cur {
                toml::Value::Table(t) => t
                    .entry(k)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new())),
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        message: "names a field inside a non-table value".into(),
                    });
                }
            };
        }
        let toml::Value::Table(t) = cur else {
            return Err(ConfigError::Env {
                var,
                message: "names a field inside a non-table value".into(),
            });
        };
        let in_properties =
            section == "kafka" && rest.first().map(String::as_str) == Some("properties");
        t.insert(last, typed(&value, in_properties));
        used.push(var);
    }
    Ok(used)
}

fn typed(value: &str, always_string: bool) -> toml::Value {
    if !always_string {
        if let Ok(i) = value.parse::<i64>() {
            return toml::Value::Integer(i);
        }
        if let Ok(b) = value.parse::<bool>() {
            return toml::Value::Boolean(b);
        }
    }
    toml::Value::String(value.to_owned())
}
