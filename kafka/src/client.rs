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
use rdkafka::ClientConfig;

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

    use super::with_defaults;

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
