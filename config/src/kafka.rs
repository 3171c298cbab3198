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

/// Topic settings `auditlog topics create` sets, because no acknowledged
/// record may be lost on a leader failover (docs/OPERATIONS.md, "Broker and
/// topic settings"): no unclean leader election; with replication factor 3
/// or more, at least two in-sync replicas for a write (acks=all is forced on
/// every producer); and on the seals topic, unlimited time and size
/// retention and no compaction (seals share a key per partition, so
/// compaction would keep only the last; they are the chain's evidence until
/// the archiver has stored them, and the arbiter of forks).
pub fn durable_topic_configs(replication_factor: i32, seals: bool) -> Vec<(&'static str, String)> {
    let min_isr = if replication_factor >= 3 { 2 } else { 1 };
    let mut configs = vec![
        ("unclean.leader.election.enable", "false".to_owned()),
        ("min.insync.replicas", min_isr.to_string()),
    ];
    if seals {
        configs.extend([
            ("retention.ms", "-1".to_owned()),
            ("retention.bytes", "-1".to_owned()),
            ("cleanup.policy", "delete".to_owned()),
        ]);
    }
    configs
}

/// Properties for admin and metadata clients.
pub fn admin_properties(cfg: &KafkaConfig) -> BTreeMap<String, String> {
    base(cfg)
}

#[cfg(test)]
mod durable_tests {
    use super::durable_topic_configs;

    fn get(configs: &[(&'static str, String)], key: &str) -> Option<String> {
        configs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn replicated_topics_need_two_in_sync_replicas_and_no_unclean_election() {
        let events = durable_topic_configs(3, false);
        assert_eq!(get(&events, "min.insync.replicas").as_deref(), Some("2"));
        assert_eq!(
            get(&events, "unclean.leader.election.enable").as_deref(),
            Some("false")
        );
        assert_eq!(
            get(&events, "retention.ms"),
            None,
            "events keep the broker's retention"
        );
        // One replica cannot have two in sync: a single-node stack stays writable.
        assert_eq!(
            get(&durable_topic_configs(1, false), "min.insync.replicas").as_deref(),
            Some("1")
        );
    }

    #[test]
    fn the_seals_topic_keeps_every_seal() {
        let seals = durable_topic_configs(3, true);
        assert_eq!(get(&seals, "retention.ms").as_deref(), Some("-1"));
        assert_eq!(get(&seals, "retention.bytes").as_deref(), Some("-1"));
        assert_eq!(get(&seals, "cleanup.policy").as_deref(), Some("delete"));
    }
}
