//! librdkafka properties: the user's, then the ones safety depends on.

use std::collections::BTreeMap;

use crate::KafkaConfig;

/// A property the user set that was replaced because delivery guarantees
/// depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedOverride {
    /// The property as the user wrote it.
    pub key: String,
    /// The user's value.
    pub user_value: String,
    /// The value in effect.
    pub forced_value: String,
}

/// A forced property: its canonical name, its aliases, its value, and the
/// user values that mean the same thing (which are not reported).
struct Forced {
    key: &'static str,
    aliases: &'static [&'static str],
    value: &'static str,
    equivalent: &'static [&'static str],
}

const PRODUCER_FORCED: &[Forced] = &[
    Forced {
        key: "acks",
        aliases: &["request.required.acks"],
        value: "all",
        equivalent: &["all", "-1"],
    },
    Forced {
        key: "enable.idempotence",
        aliases: &[],
        value: "true",
        equivalent: &["true"],
    },
];

const CONSUMER_FORCED: &[Forced] = &[
    Forced {
        key: "enable.auto.commit",
        aliases: &[],
        value: "false",
        equivalent: &["false"],
    },
    Forced {
        key: "enable.auto.offset.store",
        aliases: &[],
        value: "false",
        equivalent: &["false"],
    },
    Forced {
        key: "partition.assignment.strategy",
        aliases: &[],
        value: "cooperative-sticky",
        equivalent: &["cooperative-sticky"],
    },
];

fn base(cfg: &KafkaConfig) -> BTreeMap<String, String> {
    let mut props = cfg.properties.clone();
    props.insert("bootstrap.servers".into(), cfg.bootstrap_servers.clone());
    props
        .entry("socket.connection.setup.timeout.ms".into())
        .or_insert_with(|| cfg.request_timeout.as_millis().to_string());
    props
}

fn force(props: &mut BTreeMap<String, String>, forced: &[Forced]) -> Vec<ForcedOverride> {
    let mut overrides = Vec::new();
    for f in forced {
        for key in std::iter::once(f.key).chain(f.aliases.iter().copied()) {
            if let Some(user) = props.remove(key) {
                if !f
                    .equivalent
                    .contains(&user.trim().to_ascii_lowercase().as_str())
                {
                    overrides.push(ForcedOverride {
                        key: key.to_owned(),
                        user_value: user,
                        forced_value: f.value.to_owned(),
                    });
                }
            }
        }
        props.insert(f.key.to_owned(), f.value.to_owned());
    }
    overrides
}

/// Producer properties: acks=all and idempotence are forced; the delivery
/// bound defaults to `kafka.message_timeout_ms`.
pub fn producer_properties(cfg: &KafkaConfig) -> (BTreeMap<String, String>, Vec<ForcedOverride>) {
    let mut props = base(cfg);
    props
        .entry("message.timeout.ms".into())
        .or_insert_with(|| cfg.message_timeout.as_millis().to_string());
    let overrides = force(&mut props, PRODUCER_FORCED);
    (props, overrides)
}

/// Consumer properties: manual offset storage and commits, cooperative-sticky
/// assignment.
pub fn consumer_properties(
    cfg: &KafkaConfig,
    group_id: &str,
) -> (BTreeMap<String, String>, Vec<ForcedOverride>) {
    let mut props = base(cfg);
    props.insert("group.id".into(), group_id.to_owned());
    props
        .entry("auto.offset.reset".into())
        .or_insert_with(|| "earliest".into());
    let overrides = force(&mut props, CONSUMER_FORCED);
    (props, overrides)
}

/// Properties for admin and metadata clients.
pub fn admin_properties(cfg: &KafkaConfig) -> BTreeMap<String, String> {
    base(cfg)
}
