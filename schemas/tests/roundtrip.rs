//! Property: every valid event survives JSON and Arrow unchanged.

mod common;

use arrow_array::Array;

use common::event;
use proptest::prelude::*;
use schemas::archive::{ArchivedRecord, KafkaRecord, from_record_batch, to_record_batch};
use schemas::{Limits, parse_event};

fn kafka(offset: i64, value: Vec<u8>) -> KafkaRecord {
    KafkaRecord {
        topic: "audit.events".into(),
        partition: 3,
        offset,
        timestamp_ms: Some(1_764_000_000_000 + offset),
        key: Some(b"tenant".to_vec()),
        value: Some(value),
        headers: vec![("h".into(), Some(vec![0, 1, 2])), ("empty".into(), None)],
    }
}

proptest! {
    #[test]
    fn valid_events_round_trip_through_json(e in event()) {
        let bytes = e.to_canonical_json();
        let back = parse_event(&bytes, &Limits::default()).map_err(|errs| TestCaseError::fail(format!("{errs:?}")))?;
        prop_assert_eq!(&back, &e);
        // Canonical JSON is a fixed point.
        prop_assert_eq!(back.to_canonical_json(), bytes);
    }

    #[test]
    fn valid_events_round_trip_through_arrow(events in proptest::collection::vec(event(), 0..20)) {
        let rows: Vec<ArchivedRecord> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let value = event.to_canonical_json();
                ArchivedRecord { event, kafka: kafka(i64::try_from(i).unwrap_or_default(), value) }
            })
            .collect();
        let batch = to_record_batch(&rows).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(batch.num_rows(), rows.len());
        // Every value is the canonical JSON of its row: none is stored, each is rebuilt.
        let values = schemas::canonical::Values::new(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored = schemas::kafka_columns::KafkaColumns::new(&batch).value().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stored.null_count(), rows.len());
        prop_assert!((0..rows.len()).all(|i| values.is_canonical(i)));
        let back = from_record_batch(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, rows);
    }

    #[test]
    fn values_that_are_not_canonical_are_stored_and_come_back_byte_for_byte(
        events in proptest::collection::vec((event(), 0..4u8), 1..20),
    ) {
        use schemas::canonical::Values;
        // The same events as a foreign producer might write them: other
        // spacing, another key order, a trailing newline, or canonical.
        let rows: Vec<ArchivedRecord> = events
            .into_iter()
            .enumerate()
            .map(|(i, (event, form))| {
                let canonical = event.to_canonical_json();
                let value = match form {
                    0 => serde_json::to_vec_pretty(&event).unwrap_or_default(),
                    1 => {
                        let v: serde_json::Value = serde_json::from_slice(&canonical).unwrap_or_default();
                        serde_json::to_vec(&v).unwrap_or_default()
                    }
                    2 => [canonical.as_slice(), b"\n"].concat(),
                    _ => canonical,
                };
                ArchivedRecord { event, kafka: kafka(i64::try_from(i).unwrap_or_default(), value) }
            })
            .collect();
        let batch = to_record_batch(&rows).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let values = Values::new(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored = schemas::kafka_columns::KafkaColumns::new(&batch).value().map_err(|e| TestCaseError::fail(e.to_string()))?;
        // One buffer for every row, as the verifier reads them: a rebuilt value never keeps
        // bytes of the row before it, and a stored one is the stored bytes.
        let mut buf = b"left over from an earlier row".to_vec();
        for (i, r) in rows.iter().enumerate() {
            let canonical = r.kafka.value == Some(r.event.to_canonical_json());
            prop_assert_eq!(values.is_canonical(i), canonical);
            prop_assert_eq!(stored.is_null(i), canonical);
            let got = values.get(i).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got.as_deref(), r.kafka.value.as_deref());
            let got_in = values.get_in(i, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got_in, r.kafka.value.as_deref());
        }
        prop_assert_eq!(from_record_batch(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?, rows);
    }

    #[test]
    fn a_builder_storing_every_value_writes_the_format_1_table(events in proptest::collection::vec(event(), 1..10)) {
        use schemas::archive::{EventsBuilder, archive_schema_raw};
        let mut b = EventsBuilder::with_capacity(events.len()).storing_every_value();
        let mut rows = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            let k = kafka(i64::try_from(i).unwrap_or_default(), event.to_canonical_json());
            b.append(&event, &k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            rows.push(ArchivedRecord { event, kafka: k });
        }
        let batch = b.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(batch.schema(), archive_schema_raw());
        let stored = schemas::kafka_columns::KafkaColumns::new(&batch).value().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stored.null_count(), 0);
        prop_assert_eq!(from_record_batch(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?, rows);
    }

    #[test]
    fn borrowed_events_build_the_same_rows_as_owned_ones(events in proptest::collection::vec(event(), 0..20)) {
        use schemas::archive::EventsBuilder;
        let limits = Limits::default();
        let mut owned = EventsBuilder::with_capacity(events.len());
        let mut borrowed = EventsBuilder::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let k = kafka(i64::try_from(i).unwrap_or_default(), event.to_canonical_json());
            let value = k.value.as_deref().unwrap_or_default();
            let e = schemas::parse_event_ref(value, &limits)
                .ok_or_else(|| TestCaseError::fail("the fast path refused a valid event"))?;
            prop_assert_eq!(e.event_id, Some(event.event_id));
            borrowed.append_ref(&e, &event.event_id, &k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            owned.append(event, &k).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(owned.len(), borrowed.len());
        let (a, b) = (owned.finish(), borrowed.finish());
        let (a, b) = (a.map_err(|e| TestCaseError::fail(e.to_string()))?, b.map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn dead_letters_round_trip_through_arrow(values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)), 0..20)) {
        use schemas::archive::{DeadLetter, dead_letters_from_batch, to_dead_letter_batch};
        let rows: Vec<DeadLetter> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let mut k = kafka(i64::try_from(i).unwrap_or_default(), Vec::new());
                k.value = v;
                DeadLetter { reason: format!("json_syntax at {i}"), kafka: k }
            })
            .collect();
        let batch = to_dead_letter_batch(&rows).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = dead_letters_from_batch(&batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, rows);
    }
}

#[test]
fn archive_timestamps_are_utc_micros() {
    use arrow_schema::{DataType, TimeUnit};
    let schema = schemas::archive::archive_schema();
    for name in ["event_time", "kafka_timestamp"] {
        let f = schema.field_with_name(name).expect("column");
        assert_eq!(
            f.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }
}
