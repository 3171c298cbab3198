//! `AUDITLOG_*` environment overrides.
//!
//! `AUDITLOG_<SECTION>__<FIELD>` sets `[section] field`, e.g.
//! `AUDITLOG_KAFKA__BOOTSTRAP_SERVERS=broker:9092` or
//! `AUDITLOG_INGEST__LISTEN=0.0.0.0:8080`. Names are case-insensitive; the
//! double underscore separates levels. Under `[kafka.properties]` single
//! underscores become dots: `AUDITLOG_KAFKA__PROPERTIES__LINGER_MS=5` sets
//! `linger.ms`. Values that parse as TOML integers or booleans are typed so;
//! anything else is a string. `AUDITLOG_CONFIG` names the file and is not an
//! override.

use crate::ConfigError;

/// The prefix every override carries.
pub const PREFIX: &str = "AUDITLOG_";

/// Variables with the prefix that are not overrides.
const NOT_OVERRIDES: &[&str] = &["AUDITLOG_CONFIG", "AUDITLOG_LOG"];

/// Applies overrides in place and returns the names of the variables used.
pub fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && !NOT_OVERRIDES.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut used = Vec::new();
    for (var, value) in vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let (section, rest) = match path.as_slice() {
            [section, rest @ ..] if !rest.is_empty() && rest.iter().all(|p| !p.is_empty()) => {
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
