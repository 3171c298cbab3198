//! `auditlog config`: the configuration as in effect, as JSON in the
//! file's shape, with secret librdkafka properties redacted (whether they
//! came from the file or the environment), and a property the program
//! forces shown with the value in effect where the user set another; a
//! note for each such override goes to stderr.

use auditlog_config::Config;
use auditlog_config::kafka::{consumer_properties, producer_properties};
use auditlog_config::secrets::{REDACTED, is_secret_property};
use serde_json::Value;

/// The JSON `auditlog config` prints, and one note per property the
/// program forced over the user's value.
pub fn render(config: &Config) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut out = serde_json::to_value(&config.raw)?;
    let (_, producer) = producer_properties(&config.kafka);
    let (_, consumer) = consumer_properties(&config.kafka, "-");
    let overrides: Vec<_> = producer
        .into_iter()
        .map(|o| (o, "producers"))
        .chain(consumer.into_iter().map(|o| (o, "consumers")))
        .collect();
    let mut notes = Vec::new();
    if let Some(props) = out
        .pointer_mut("/kafka/properties")
        .and_then(Value::as_object_mut)
    {
        for (o, clients) in &overrides {
            props.remove(&o.key);
            notes.push(format!(
                "note: kafka.properties {:?} = {:?} is overridden for the {clients}: {:?} is in effect (forced after [kafka.properties]; delivery guarantees depend on it)",
                o.key, o.user_value, o.forced_value
            ));
        }
        for (o, _) in &overrides {
            // librdkafka's alias of acks is shown under its canonical name.
            let key = match o.key.as_str() {
                "request.required.acks" => "acks",
                k => k,
            };
            props.insert(key.to_owned(), Value::from(o.forced_value.clone()));
        }
        for (k, v) in props.iter_mut() {
            if is_secret_property(k) {
                *v = Value::from(REDACTED);
            }
        }
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, vars: &[(&str, &str)]) -> Config {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml(text, "test.toml", vars).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn secrets_from_the_file_and_the_environment_are_redacted() {
        let c = config(
            "[kafka.properties]\n\"sasl.username\" = \"auditlog\"\n\"sasl.password\" = \"hunter2\"\n\"sasl.jaas.config\" = \"x password=hunter3\"\n",
            &[
                ("AUDITLOG_KAFKA__PROPERTIES__SSL_KEY_PASSWORD", "hunter4"),
                (
                    "AUDITLOG_KAFKA__PROPERTIES__SASL_OAUTHBEARER_CLIENT_SECRET",
                    "hunter5",
                ),
            ],
        );
        let text = render(&c).map(|(v, _)| v.to_string()).unwrap_or_default();
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let (v, _) = render(&c).unwrap_or_default();
        assert_eq!(v["kafka"]["properties"]["sasl.password"], REDACTED);
        assert_eq!(v["kafka"]["properties"]["ssl.key.password"], REDACTED);
        assert_eq!(v["kafka"]["properties"]["sasl.username"], "auditlog");
    }

    #[test]
    fn forced_properties_show_the_value_in_effect_and_say_they_were_overridden() {
        let c = config(
            "[kafka.properties]\n\"acks\" = \"1\"\n\"enable.idempotence\" = \"false\"\n\"linger.ms\" = \"5\"\n",
            &[],
        );
        let (v, notes) = render(&c).unwrap_or_default();
        assert_eq!(v["kafka"]["properties"]["acks"], "all");
        assert_eq!(v["kafka"]["properties"]["enable.idempotence"], "true");
        assert_eq!(v["kafka"]["properties"]["linger.ms"], "5");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0]
                .contains(r#""acks" = "1" is overridden for the producers: "all" is in effect"#),
            "{notes:?}"
        );
        let alias = config(
            "[kafka.properties]\n\"request.required.acks\" = \"0\"\n",
            &[],
        );
        let (v, _) = render(&alias).unwrap_or_default();
        assert_eq!(v["kafka"]["properties"]["acks"], "all");
        assert!(
            v["kafka"]["properties"]
                .get("request.required.acks")
                .is_none()
        );
        let (plain, notes) = render(&config("", &[])).unwrap_or_default();
        assert_eq!(plain["kafka"]["properties"], serde_json::json!({}));
        assert!(notes.is_empty());
    }
}
