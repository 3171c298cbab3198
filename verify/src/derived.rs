//! The derived columns of an events object, re-derived from `kafka_value`.
//!
//! The chain covers `kafka_offset`, `kafka_timestamp`, `kafka_key` and
//! `kafka_value` (`docs/FORMAT.md` §3); the columns analysts query
//! (`tenant`, `action`, `event_time`, …) are a function of `kafka_value`
//! (§2). The manifest's signed SHA-256 pins the object's bytes, but not that
//! the archiver derived them correctly: a buggy or dishonest archiver could
//! write rows whose chained columns check out while `tenant` says something
//! else. This check parses each row's `kafka_value` again and requires the
//! same event.
//!
//! It parses without size bounds: whether an event was valid under the
//! archiver's `[limits]` is not something the verifier can know, and the
//! columns of an accepted event do not depend on them.

use archiver::encode::derived_event_id;
use schemas::archive::ArchivedRecord;
use schemas::{AuditEvent, Limits};

/// Bounds no event reaches: the verifier re-derives, it does not re-judge.
fn unbounded() -> Limits {
    Limits {
        max_event_bytes: usize::MAX,
        max_attributes: usize::MAX,
        max_string_len: usize::MAX,
        max_text_len: usize::MAX,
        max_attribute_key_len: usize::MAX,
        max_attribute_value_len: usize::MAX,
    }
}

/// The first column in which `row` differs from `expected`.
fn first_difference(row: &AuditEvent, expected: &AuditEvent) -> Option<&'static str> {
    let trace = |e: &AuditEvent| e.trace.clone();
    let checks: [(&'static str, bool); 16] = [
        (
            "schema_version",
            row.schema_version == expected.schema_version,
        ),
        ("event_id", row.event_id == expected.event_id),
        ("event_time", row.event_time == expected.event_time),
        ("tenant", row.tenant == expected.tenant),
        ("source", row.source == expected.source),
        ("action", row.action == expected.action),
        ("actor_type", row.actor.kind == expected.actor.kind),
        ("actor_id", row.actor.id == expected.actor.id),
        ("actor_ip", row.actor.ip == expected.actor.ip),
        (
            "actor_user_agent",
            row.actor.user_agent == expected.actor.user_agent,
        ),
        ("resource_type", row.resource.kind == expected.resource.kind),
        ("resource_id", row.resource.id == expected.resource.id),
        ("outcome", row.outcome == expected.outcome),
        ("reason", row.reason == expected.reason),
        (
            "trace_id, span_id, trace_flags",
            trace(row) == trace(expected),
        ),
        ("attributes", row.attributes == expected.attributes),
    ];
    checks.into_iter().find(|(_, same)| !same).map(|(c, _)| c)
}

/// Why one row's columns are not what its `kafka_value` gives, if they are not.
fn check_row(topic: &str, partition: i32, r: &ArchivedRecord) -> Option<String> {
    let k = &r.kafka;
    if k.topic != topic || k.partition != partition {
        return Some(format!(
            "kafka_topic/kafka_partition say {}/{}, the manifest {topic}/{partition}",
            k.topic, k.partition
        ));
    }
    let Some(value) = k.value.as_deref() else {
        return Some("an events row without kafka_value".into());
    };
    let expected = schemas::parse_event_with(value, &unbounded(), || {
        derived_event_id(topic, partition, k.offset)
    });
    match expected {
        Err(errors) => Some(format!(
            "kafka_value is not a valid event ({}), yet the row is in the events table",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Ok(e) => first_difference(&r.event, &e)
            .map(|column| format!("column {column} is not what kafka_value gives")),
    }
}

/// Checks every row of an events object of `topic`/`partition`. `None` when
/// all agree; otherwise the first disagreement (offset and what) and how
/// many rows disagree.
pub fn check_derived(
    topic: &str,
    partition: i32,
    rows: &[ArchivedRecord],
) -> Option<(i64, String, usize)> {
    let mut first = None;
    let mut count = 0;
    for r in rows {
        if let Some(what) = check_row(topic, partition, r) {
            count += 1;
            first.get_or_insert((r.kafka.offset, what));
        }
    }
    first.map(|(offset, what)| (offset, what, count))
}

#[cfg(test)]
mod tests {
    use schemas::archive::KafkaRecord;
    use schemas::sample::sample_events;

    use super::*;

    fn rows(n: usize) -> Vec<ArchivedRecord> {
        sample_events(n, 7, 3)
            .enumerate()
            .map(|(i, event)| ArchivedRecord {
                kafka: KafkaRecord {
                    topic: "t".into(),
                    partition: 3,
                    offset: i as i64,
                    timestamp_ms: Some(1_000),
                    key: Some(event.tenant.clone().into_bytes()),
                    value: Some(event.to_canonical_json()),
                    headers: Vec::new(),
                },
                event,
            })
            .collect()
    }

    #[test]
    fn rows_as_the_archiver_derives_them_pass() {
        assert_eq!(check_derived("t", 3, &rows(50)), None);
    }

    #[test]
    fn an_altered_column_is_named_with_its_offset_and_counted() {
        let mut rs = rows(50);
        rs[7].event.tenant.push('x');
        rs[9].event.event_time.0 += 1;
        rs[11].event.attributes.insert("k".into(), "v".into());
        let (offset, what, count) = check_derived("t", 3, &rs).expect("found");
        assert_eq!((offset, count), (7, 3));
        assert!(what.contains("tenant"), "{what}");
        let mut rs = rows(5);
        rs[2].event.actor.ip = Some("10.9.9.9".into());
        let (_, what, _) = check_derived("t", 3, &rs).expect("found");
        assert!(what.contains("actor_ip"), "{what}");
    }

    #[test]
    fn a_row_of_another_partition_or_an_invalid_value_is_refused() {
        let mut rs = rows(3);
        rs[1].kafka.partition = 4;
        assert!(
            check_derived("t", 3, &rs)
                .is_some_and(|(o, w, _)| o == 1 && w.contains("kafka_partition"))
        );
        let mut rs = rows(3);
        rs[2].kafka.value = Some(b"{\"tenant\":1}".to_vec());
        assert!(
            check_derived("t", 3, &rs)
                .is_some_and(|(o, w, _)| o == 2 && w.contains("not a valid event"))
        );
    }

    #[test]
    fn an_event_without_an_id_gets_the_derived_one() {
        let mut rs = rows(2);
        let mut v: serde_json::Value =
            serde_json::from_slice(rs[1].kafka.value.as_deref().unwrap_or_default()).expect("json");
        v.as_object_mut().map(|o| o.remove("event_id"));
        rs[1].kafka.value = Some(serde_json::to_vec(&v).expect("json"));
        rs[1].event.event_id = derived_event_id("t", 3, 1);
        assert_eq!(check_derived("t", 3, &rs), None);
        rs[1].event.event_id = uuid::Uuid::nil();
        assert!(check_derived("t", 3, &rs).is_some_and(|(_, w, _)| w.contains("event_id")));
    }
}
