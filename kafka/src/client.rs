//! rdkafka client configurations from the validated config.
//!
//! The property maps come from `auditlog_config::kafka` (pure, unit-tested
//! there); this module turns them into `ClientConfig`s and logs every user
//! property that was replaced because a guarantee depends on it.

use std::collections::BTreeMap;

use auditlog_config::KafkaConfig;
use auditlog_config::kafka::{
    ForcedOverride, admin_properties, consumer_properties, producer_properties,
};
use auditlog_config::secrets::is_secret_property;
use rdkafka::ClientConfig;

use crate::KafkaError;

/// A `ClientConfig` holding exactly `props`.
pub fn client_config<K: AsRef<str>, V: AsRef<str>>(
    props: impl IntoIterator<Item = (K, V)>,
) -> ClientConfig {
    let mut cc = ClientConfig::new();
    for (k, v) in props {
        cc.set(k.as_ref(), v.as_ref());
    }
    cc
}

fn warn_overrides(overrides: &[ForcedOverride]) {
    for o in overrides {
        tracing::warn!(property = %o.key, configured = %o.user_value, in_effect = %o.forced_value,
            "kafka property overridden: delivery guarantees depend on it");
    }
}

/// Producer properties (acks=all and idempotence forced), with `extra`
/// defaults the caller's component prefers unless the user set them.
/// Overrides of the user's properties are logged.
pub fn producer(cfg: &KafkaConfig, defaults: &[(&str, &str)]) -> BTreeMap<String, String> {
    let (mut props, overrides) = producer_properties(cfg);
    warn_overrides(&overrides);
    with_defaults(&mut props, defaults);
    props
}

/// Group consumer properties (manual commits, cooperative-sticky), with
/// the component's `defaults` unless the user set them. Overrides logged.
pub fn consumer(
    cfg: &KafkaConfig,
    group_id: &str,
    defaults: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let (mut props, overrides) = consumer_properties(cfg, group_id);
    warn_overrides(&overrides);
    with_defaults(&mut props, defaults);
    props
}

/// Properties for a reader that assigns partitions itself and commits (if
/// at all) only explicitly, under `group_id`: it waits at most 10 ms for
/// a fetch, because it re-assigns per read and would otherwise sit out a
/// long poll on every read.
pub fn reader(cfg: &KafkaConfig, group_id: &str) -> BTreeMap<String, String> {
    let mut props = admin_properties(cfg);
    for (k, v) in [
        ("group.id", group_id),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("fetch.wait.max.ms", "10"),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
    props
}

/// Checks every property a producer and a consumer of this config would
/// get with librdkafka's own parser (no client is created, nothing
/// connects), so a misspelt name or a refused value is a config error that
/// names the property, not a failure of whichever component starts first.
pub fn validate(cfg: &KafkaConfig) -> Result<(), KafkaError> {
    let (producer, _) = producer_properties(cfg);
    let (consumer, _) = consumer_properties(cfg, "validate");
    for props in [producer, consumer] {
        if let Err(e) = client_config(&props).create_native_config() {
            return Err(refused(e));
        }
    }
    Ok(())
}

fn refused(e: rdkafka::error::KafkaError) -> KafkaError {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, message, key, value) => KafkaError::Property {
            value: if is_secret_property(&key) {
                "<redacted>".to_owned()
            } else {
                format!("{value:?}")
            },
            key,
            message,
        },
        other => KafkaError::Client(other),
    }
}

fn with_defaults(props: &mut BTreeMap<String, String>, defaults: &[(&str, &str)]) {
    for (k, v) in defaults {
        props
            .entry((*k).to_owned())
            .or_insert_with(|| (*v).to_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{validate, with_defaults};
    use crate::KafkaError;

    fn kafka_with(props: &[(&str, &str)]) -> auditlog_config::KafkaConfig {
        auditlog_config::KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            events_topic: "audit.events".into(),
            partitions: 1,
            replication_factor: 1,
            message_timeout: std::time::Duration::from_secs(30),
            request_timeout: std::time::Duration::from_secs(10),
            properties: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn librdkafka_names_a_misspelt_or_refused_property() {
        assert!(validate(&kafka_with(&[("linger.ms", "5")])).is_ok());
        match validate(&kafka_with(&[("linger.msx", "5")])) {
            Err(KafkaError::Property { key, .. }) => assert_eq!(key, "linger.msx"),
            other => panic!("{other:?}"),
        }
        let said = validate(&kafka_with(&[("queue.buffering.max.ms", "soon")]))
            .expect_err("refused")
            .to_string();
        assert!(
            said.starts_with("config field kafka.properties.queue.buffering.max.ms = \"soon\""),
            "{said}"
        );
    }

    #[test]
    fn a_refused_secret_is_not_echoed() {
        let e = super::refused(rdkafka::error::KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "bad".into(),
            "ssl.key.password".into(),
            "hunter2".into(),
        ));
        let said = e.to_string();
        assert!(
            !said.contains("hunter2") && said.contains("<redacted>"),
            "{said}"
        );
    }

    #[test]
    fn a_component_default_never_replaces_the_users_value() {
        let mut props = BTreeMap::from([("linger.ms".to_owned(), "20".to_owned())]);
        with_defaults(
            &mut props,
            &[("linger.ms", "0"), ("statistics.interval.ms", "1000")],
        );
        assert_eq!(props["linger.ms"], "20");
        assert_eq!(props["statistics.interval.ms"], "1000");
    }
}
