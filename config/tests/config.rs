//! Loading, overriding, validating and forcing.

use auditlog_config::kafka::{consumer_properties, producer_properties};
use auditlog_config::{Config, ConfigError};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_valid() {
    let c = Config::from_toml("", "test", vars(&[])).expect("defaults");
    assert_eq!(c.kafka.events_topic, "audit.events");
    assert_eq!(c.limits.max_event_bytes, 65536);
    assert!(c.s3.is_none());
}

#[test]
fn unknown_field_is_named() {
    let err = Config::from_toml("[ingest]\nlisten_on = \"x\"\n", "f.toml", vars(&[]))
        .expect_err("unknown");
    let msg = err.to_string();
    assert!(msg.contains("f.toml") && msg.contains("listen_on"), "{msg}");
}

#[test]
fn invalid_value_names_the_field() {
    let err = Config::from_toml("[ingest]\nlisten = \"nowhere\"\n", "f.toml", vars(&[]))
        .expect_err("bad");
    assert!(
        matches!(err, ConfigError::Invalid { ref field, .. } if field == "ingest.listen"),
        "{err}"
    );
    let err = Config::from_toml("[kafka]\nevents_topic = \"a b\"\n", "f.toml", vars(&[]))
        .expect_err("bad");
    assert!(
        matches!(err, ConfigError::Invalid { ref field, .. } if field == "kafka.events_topic"),
        "{err}"
    );
}

#[test]
fn environment_overrides_the_file() {
    let toml = "[kafka]\nbootstrap_servers = \"file:1\"\n[ingest]\nmax_in_flight_events = 10\nmax_batch_events = 5\n";
    let c = Config::from_toml(
        toml,
        "f.toml",
        vars(&[
            ("AUDITLOG_KAFKA__BOOTSTRAP_SERVERS", "env:2"),
            ("AUDITLOG_INGEST__MAX_IN_FLIGHT_EVENTS", "20"),
            ("AUDITLOG_KAFKA__PROPERTIES__LINGER_MS", "7"),
            ("AUDITLOG_CONFIG", "ignored.toml"),
            ("UNRELATED", "x"),
        ]),
    )
    .expect("valid");
    assert_eq!(c.kafka.bootstrap_servers, "env:2");
    assert_eq!(c.ingest.max_in_flight_events.get(), 20);
    assert_eq!(
        c.kafka.properties.get("linger.ms").map(String::as_str),
        Some("7")
    );
}

#[test]
fn bad_environment_override_is_named() {
    let err =
        Config::from_toml("", "f.toml", vars(&[("AUDITLOG_INGEST__NOPE", "1")])).expect_err("bad");
    assert!(err.to_string().contains("AUDITLOG_INGEST__NOPE"), "{err}");
    for typo in [
        "AUDITLOG_KAFKA",
        "AUDITLOG_KAFKA_BOOTSTRAP_SERVERS",
        "AUDITLOG___X",
    ] {
        let err = Config::from_toml("", "f.toml", vars(&[(typo, "x:1")])).expect_err("bad");
        assert!(
            matches!(err, ConfigError::Env { ref var, .. } if var == typo),
            "{err}"
        );
    }
}

#[test]
fn other_auditlog_variables_are_not_overrides() {
    let c = Config::from_toml(
        "",
        "f.toml",
        vars(&[("AUDITLOG_BIN", "/x"), ("AUDITLOG_STACK_KAFKA_PORT", "1")]),
    );
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn producer_safety_properties_are_forced_and_reported() {
    let toml = "[kafka.properties]\nacks = \"1\"\n\"enable.idempotence\" = \"false\"\n\"linger.ms\" = \"3\"\n";
    let c = Config::from_toml(toml, "f.toml", vars(&[])).expect("valid");
    let (props, overrides) = producer_properties(&c.kafka);
    assert_eq!(props.get("acks").map(String::as_str), Some("all"));
    assert_eq!(
        props.get("enable.idempotence").map(String::as_str),
        Some("true")
    );
    assert_eq!(props.get("linger.ms").map(String::as_str), Some("3"));
    let keys: Vec<&str> = overrides.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["acks", "enable.idempotence"]);
}

#[test]
fn equivalent_and_aliased_values_are_handled() {
    let toml = "[kafka.properties]\n\"request.required.acks\" = \"-1\"\n";
    let c = Config::from_toml(toml, "f.toml", vars(&[])).expect("valid");
    let (props, overrides) = producer_properties(&c.kafka);
    assert!(overrides.is_empty(), "{overrides:?}");
    assert!(!props.contains_key("request.required.acks"));
    assert_eq!(props.get("acks").map(String::as_str), Some("all"));
}

#[test]
fn consumer_commits_are_manual() {
    let toml = "[kafka.properties]\n\"enable.auto.commit\" = \"true\"\n";
    let c = Config::from_toml(toml, "f.toml", vars(&[])).expect("valid");
    let (props, overrides) = consumer_properties(&c.kafka, "g");
    assert_eq!(
        props.get("enable.auto.commit").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        props.get("enable.auto.offset.store").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        props
            .get("partition.assignment.strategy")
            .map(String::as_str),
        Some("cooperative-sticky")
    );
    assert_eq!(overrides.len(), 1);
}

#[test]
fn batch_bound_must_fit_in_flight_bound() {
    let toml = "[ingest]\nmax_in_flight_events = 10\nmax_batch_events = 11\n";
    let err = Config::from_toml(toml, "f.toml", vars(&[])).expect_err("bad");
    assert!(
        matches!(err, ConfigError::Invalid { ref field, .. } if field == "ingest.max_batch_events"),
        "{err}"
    );
}

#[test]
fn a_memory_budget_too_small_for_its_ranges_is_refused_by_name() {
    let toml =
        "[sealer]\nmax_bytes = 33554432\n[archiver]\nmemory_budget_mib = 64\ngroup_max_seals = 8\n";
    let err = Config::from_toml(toml, "f.toml", vars(&[])).expect_err("too small");
    assert!(
        matches!(err, ConfigError::Invalid { ref field, .. } if field == "archiver.memory_budget_mib"),
        "{err}"
    );
    assert!(err.to_string().contains("sealer.max_bytes"), "{err}");
    // Ranges of 8 seals of 32 MiB: 104 MiB fixed + 4.7 × 256 MiB.
    assert!(err.to_string().contains("at least 1308 MiB"), "{err}");
    let ok =
        "[sealer]\nmax_bytes = 1048576\n[archiver]\nmemory_budget_mib = 144\ngroup_max_seals = 8\n";
    let c = Config::from_toml(ok, "f.toml", vars(&[])).expect("144 MiB holds ranges of 8 MiB");
    assert_eq!(c.archiver.memory_budget, 144 << 20);
    assert_eq!(c.archiver.max_run_bytes(c.sealer.max_bytes), 8 << 20);
    // Runs of 30 seals of 1 MiB need 104 + 4.7 × 30 = 245 MiB.
    let long = "[sealer]\nmax_bytes = 1048576\n[archiver]\nmemory_budget_mib = 128\ngroup_max_seals = 30\n";
    let err = Config::from_toml(long, "f.toml", vars(&[])).expect_err("too small");
    assert!(
        err.to_string().contains("archiver.group_max_seals"),
        "{err}"
    );
    for field in ["group_max_seals", "group_max_records"] {
        let zero = format!("[archiver]\n{field} = 0\n");
        let err = Config::from_toml(&zero, "f.toml", vars(&[])).expect_err("zero");
        assert!(
            matches!(err, ConfigError::Invalid { field: ref f, .. } if *f == format!("archiver.{field}")),
            "{err}"
        );
    }
}

#[test]
fn retention_per_event_class_is_read_and_an_empty_class_is_refused() {
    let toml =
        "[archiver]\nretention_days = 30\nretention_days_by_action = { \"admin.\" = 2555 }\n";
    let c = Config::from_toml(toml, "f.toml", vars(&[])).expect("valid");
    assert_eq!(
        c.archiver.retention_by_action.get("admin."),
        Some(&std::time::Duration::from_secs(2555 * 86_400))
    );
    for bad in ["{ \"\" = 10 }", "{ \"admin.\" = 0 }"] {
        let toml = format!("[archiver]\nretention_days_by_action = {bad}\n");
        let err = Config::from_toml(&toml, "f.toml", vars(&[])).expect_err("refused");
        assert!(
            matches!(err, ConfigError::Invalid { ref field, .. } if field == "archiver.retention_days_by_action"),
            "{err}"
        );
    }
}
