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
//! A row whose value is rebuilt from its columns (`kafka_value_canonical`,
//! §1a) needs no such check: its columns *are* the value the chain hashes.
//!
//! It parses without size bounds: whether an event was valid under the
//! archiver's `[limits]` is not something the verifier can know, and the
//! columns of an accepted event do not depend on them.

use archive::derived_event_id;
use arrow_array::{Array, RecordBatch};
use schemas::canonical::{MARKER_COLUMN, Values};
use schemas::columns::{EventColumns, Text};
use schemas::kafka_columns::KafkaColumns;
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

/// The first column in which row `row` differs from `e`, compared without
/// copying the row.
fn first_difference(c: &EventColumns<'_>, row: usize, e: &AuditEvent) -> Option<&'static str> {
    let t = |column| c.text(column, row);
    let mut id = uuid::Uuid::encode_buffer();
    let id: &str = e.event_id.hyphenated().encode_lower(&mut id);
    let trace = e.trace.as_ref();
    let same_attributes = c
        .attributes(row)
        .eq(e.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let checks: [(&'static str, bool); 18] = [
        (
            "schema_version",
            c.schema_version(row) == i32::from(e.schema_version),
        ),
        ("event_id", t(Text::EventId) == Some(id)),
        ("event_time", c.event_time(row) == e.event_time.0),
        ("tenant", t(Text::Tenant) == Some(&e.tenant)),
        ("source", t(Text::Source) == Some(&e.source)),
        ("action", t(Text::Action) == Some(&e.action)),
        ("actor_type", t(Text::ActorType) == Some(&e.actor.kind)),
        ("actor_id", t(Text::ActorId) == Some(&e.actor.id)),
        ("actor_ip", t(Text::ActorIp) == e.actor.ip.as_deref()),
        (
            "actor_user_agent",
            t(Text::ActorUserAgent) == e.actor.user_agent.as_deref(),
        ),
        (
            "resource_type",
            t(Text::ResourceType) == Some(&e.resource.kind),
        ),
        ("resource_id", t(Text::ResourceId) == Some(&e.resource.id)),
        ("outcome", t(Text::Outcome) == Some(e.outcome.as_str())),
        ("reason", t(Text::Reason) == e.reason.as_deref()),
        (
            "trace_id",
            t(Text::TraceId) == trace.map(|x| x.trace_id.as_str()),
        ),
        (
            "span_id",
            t(Text::SpanId) == trace.map(|x| x.span_id.as_str()),
        ),
        (
            "trace_flags",
            c.trace_flags(row) == trace.map(|x| i32::from(x.flags)),
        ),
        ("attributes", same_attributes),
    ];
    checks.into_iter().find(|(_, same)| !same).map(|(c, _)| c)
}

/// Checks every row of one batch of an events object of
/// `topic`/`partition`. `None` when all agree; otherwise the first
/// disagreement (offset and what) and how many rows disagree. Columns that
/// are missing or of the wrong type are one disagreement for the batch.
pub fn check_derived(
    topic: &str,
    partition: i32,
    batch: &RecordBatch,
) -> Option<(i64, String, usize)> {
    let kafka = KafkaColumns::new(batch);
    let offsets = kafka.offset().ok();
    let first_offset = offsets.filter(|o| !o.is_empty()).map_or(-1, |o| o.value(0));
    let unreadable = |what: String| Some((first_offset, what, batch.num_rows()));
    let (Some(offsets), Ok(topics), Ok(partitions), Ok(values)) =
        (offsets, kafka.topic(), kafka.partition(), kafka.value())
    else {
        return unreadable("the kafka_* columns do not decode".into());
    };
    let columns = match EventColumns::new(batch) {
        Ok(c) => c,
        Err(e) => return unreadable(format!("the derived columns do not decode: {e}")),
    };
    let rebuilt = match Values::new(batch) {
        Ok(v) => v,
        Err(e) => return unreadable(format!("{MARKER_COLUMN} does not decode: {e}")),
    };
    let limits = unbounded();
    let mut first = None;
    let mut count = 0;
    for row in 0..batch.num_rows() {
        let offset = offsets.value(row);
        let what = if topics.value(row) != topic || partitions.value(row) != partition {
            Some(format!(
                "kafka_topic/kafka_partition say {}/{}, the manifest {topic}/{partition}",
                topics.value(row),
                partitions.value(row)
            ))
        } else if rebuilt.is_canonical(row) {
            // The value is these columns, rebuilt (docs/FORMAT.md §1a):
            // they hash to the chain or the chain check fails.
            None
        } else if values.is_null(row) {
            Some("an events row without kafka_value".into())
        } else {
            match schemas::parse_event_with(values.value(row), &limits, || {
                derived_event_id(topic, partition, offset)
            }) {
                Err(errors) => Some(format!(
                    "kafka_value is not a valid event ({}), yet the row is in the events table",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                Ok(e) => first_difference(&columns, row, &e)
                    .map(|column| format!("column {column} is not what kafka_value gives")),
            }
        };
        if let Some(what) = what {
            count += 1;
            first.get_or_insert((offset, what));
        }
    }
    first.map(|(offset, what)| (offset, what, count))
}

#[cfg(test)]
mod tests {
    use schemas::archive::{ArchivedRecord, KafkaRecord, to_record_batch};
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

    fn check(topic: &str, partition: i32, rows: &[ArchivedRecord]) -> Option<(i64, String, usize)> {
        let batch = to_record_batch(rows).expect("batch");
        check_derived(topic, partition, &batch)
    }

    #[test]
    fn rows_as_the_archiver_derives_them_pass() {
        assert_eq!(check("t", 3, &rows(50)), None);
    }

    #[test]
    fn an_altered_column_is_named_with_its_offset_and_counted() {
        let mut rs = rows(50);
        rs[7].event.tenant.push('x');
        rs[9].event.event_time.0 += 1;
        rs[11].event.attributes.insert("k".into(), "v".into());
        let (offset, what, count) = check("t", 3, &rs).expect("found");
        assert_eq!((offset, count), (7, 3));
        assert!(what.contains("tenant"), "{what}");
        let mut rs = rows(5);
        rs[2].event.actor.ip = Some("10.9.9.9".into());
        let (_, what, _) = check("t", 3, &rs).expect("found");
        assert!(what.contains("actor_ip"), "{what}");
    }

    #[test]
    fn a_batch_without_an_event_column_is_one_disagreement_for_all_its_rows() {
        let batch = to_record_batch(&rows(4)).expect("batch");
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| batch.schema().field(i).name() != "tenant")
            .collect();
        let found = check_derived("t", 3, &batch.project(&keep).expect("project"));
        assert!(
            found
                .as_ref()
                .is_some_and(|(o, w, n)| *o == 0 && *n == 4 && w.contains("tenant")),
            "{found:?}"
        );
    }

    #[test]
    fn altered_trace_flags_are_a_disagreement() {
        let mut rs = rows(6);
        let i = rs
            .iter()
            .position(|r| r.event.trace.is_some())
            .expect("a traced sample");
        let flags = rs[i].event.trace.as_ref().map_or(0, |t| t.flags);
        rs[i].event.trace = rs[i].event.trace.take().map(|mut t| {
            t.flags = flags ^ 1;
            t
        });
        assert!(check("t", 3, &rs).is_some_and(|(_, w, _)| w.contains("trace_flags")));
    }

    #[test]
    fn a_row_of_another_partition_or_an_invalid_value_is_refused() {
        let mut rs = rows(3);
        rs[1].kafka.partition = 4;
        assert!(
            check("t", 3, &rs).is_some_and(|(o, w, _)| o == 1 && w.contains("kafka_partition"))
        );
        let mut rs = rows(3);
        rs[2].kafka.value = Some(b"{\"tenant\":1}".to_vec());
        assert!(
            check("t", 3, &rs).is_some_and(|(o, w, _)| o == 2 && w.contains("not a valid event"))
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
        assert_eq!(check("t", 3, &rs), None);
        rs[1].event.event_id = uuid::Uuid::nil();
        assert!(check("t", 3, &rs).is_some_and(|(_, w, _)| w.contains("event_id")));
    }
}
