//! The one-pass reader of canonical values (`parse_canonical_ref`), held to
//! the general path: whatever it accepts, the borrowing parse builds the same
//! event from, and the row written from that event rebuilds the same bytes;
//! and it is not a stub: every valid event's canonical JSON takes it.

mod common;

use common::event;
use proptest::prelude::*;
use schemas::archive::{EventsBuilder, KafkaRecord};
use schemas::canonical::Values;
use schemas::{EventTime, Limits, parse_canonical_ref, parse_event_ref};

fn record(value: &[u8]) -> KafkaRecord {
    KafkaRecord {
        topic: "audit.events".into(),
        partition: 0,
        offset: 7,
        timestamp_ms: Some(1_764_000_000_000),
        key: None,
        value: Some(value.to_vec()),
        headers: Vec::new(),
    }
}

/// The row the archiver writes for `value` through the one-pass reader and
/// through the general path: (marker, rebuilt or stored value) of each.
fn rows(value: &[u8]) -> Result<[(bool, Vec<u8>); 2], TestCaseError> {
    let limits = Limits::default();
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let r = record(value);
    let stored = r.value.as_deref().unwrap_or_default();
    let mut one_pass = EventsBuilder::with_capacity(1);
    let c = parse_canonical_ref(stored, &limits).ok_or_else(|| fail(&"refused"))?;
    one_pass.append_canonical(&c, &r).map_err(|e| fail(&e))?;
    let mut general = EventsBuilder::with_capacity(1);
    let e = parse_event_ref(stored, &limits).ok_or_else(|| fail(&"general path refused"))?;
    let id = e.event_id.ok_or_else(|| fail(&"no event_id"))?;
    general.append_ref(&e, &id, &r).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    for b in [one_pass, general] {
        let batch = b.finish().map_err(|e| fail(&e))?;
        let values = Values::new(&batch).map_err(|e| fail(&e))?;
        let v = values.get(0).map_err(|e| fail(&e))?.unwrap_or_default();
        out.push((values.is_canonical(0), v.into_owned()));
    }
    let [a, b]: [(bool, Vec<u8>); 2] = out.try_into().map_err(|_| fail(&"two rows"))?;
    Ok([a, b])
}

/// A byte edit: replace, delete or insert at a position (taken modulo the
/// length), with bytes that matter to JSON and to the canonical form.
fn edit() -> impl Strategy<Value = (usize, u8, u8)> {
    let byte = prop_oneof![
        Just(b'"'),
        Just(b'\\'),
        Just(b' '),
        Just(b','),
        Just(b':'),
        Just(b'}'),
        Just(b'0'),
        Just(b'9'),
        Just(b'a'),
        Just(b'F'),
        Just(b'-'),
        Just(b'Z'),
        Just(0x1f),
        Just(0x7f),
        Just(0xc3),
        any::<u8>(),
    ];
    (any::<usize>(), 0u8..3, byte)
}

fn apply(bytes: &mut Vec<u8>, (at, op, b): (usize, u8, u8)) {
    if bytes.is_empty() {
        return;
    }
    let i = at % bytes.len();
    match op {
        0 => bytes[i] = b,
        1 => {
            bytes.remove(i);
        }
        _ => bytes.insert(i, b),
    }
}

/// Microseconds of years 0001 to 9999, the canonical range.
const MIN_TIME: i64 = -62_135_596_800_000_000;
const MAX_TIME: i64 = 253_402_300_799_999_999;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_event_s_canonical_json_takes_the_one_pass_reader(
        mut e in event(),
        t in prop_oneof![Just(MIN_TIME), Just(MAX_TIME), Just(-1i64), MIN_TIME..=MAX_TIME],
    ) {
        e.event_time = EventTime(t);
        let bytes = e.to_canonical_json();
        let limits = Limits::default();
        let c = parse_canonical_ref(&bytes, &limits);
        prop_assert!(c.is_some(), "refused {}", String::from_utf8_lossy(&bytes));
        let c = c.unwrap_or_else(|| unreachable!());
        prop_assert_eq!(Some(c.event().clone()), parse_event_ref(&bytes, &limits));
        prop_assert_eq!(c.id(), e.event_id);
        prop_assert_eq!(c.event().event_time, e.event_time);
        let [one_pass, general] = rows(&bytes)?;
        prop_assert_eq!(&one_pass, &(true, bytes.clone()));
        prop_assert_eq!(&general, &(true, bytes));
    }

    #[test]
    fn whatever_it_accepts_the_general_path_reads_alike_and_rebuilds_byte_for_byte(
        e in event(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = e.to_canonical_json();
        for ed in edits {
            apply(&mut bytes, ed);
        }
        let limits = Limits::default();
        if let Some(c) = parse_canonical_ref(&bytes, &limits) {
            prop_assert_eq!(Some(c.event().clone()), parse_event_ref(&bytes, &limits));
            let [one_pass, general] = rows(&bytes)?;
            prop_assert_eq!(&one_pass, &(true, bytes.clone()));
            prop_assert_eq!(&general, &(true, bytes));
        }
    }
}

/// A valid canonical event with every optional part.
const BASE: &str = concat!(
    r#"{"schema_version":1,"event_id":"0192f0c4-5e6a-7b1c-8d2e-3f4a5b6c7d8e","#,
    r#""event_time":"2024-02-29T16:00:00.123456Z","tenant":"acme","source":"billing","#,
    r#""action":"invoice.delete","actor":{"type":"user","id":"u-42","ip":"2001:db8::1","#,
    r#""user_agent":"curl/8.5"},"resource":{"type":"invoice","id":"inv-7"},"#,
    r#""outcome":"failure","reason":"say \"no\" \\ café","#,
    r#""trace":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","#,
    r#""attributes":{"ip.country":"DE","z":""}}"#
);

#[test]
fn the_base_event_with_escapes_takes_it_and_borrows_what_has_none() {
    let limits = Limits::default();
    let c = parse_canonical_ref(BASE.as_bytes(), &limits).expect("canonical");
    let e = c.event();
    assert_eq!(e.reason.as_deref(), Some(r#"say "no" \ café"#));
    assert!(matches!(e.tenant, std::borrow::Cow::Borrowed("acme")));
    assert_eq!(Some(e), parse_event_ref(BASE.as_bytes(), &limits).as_ref());
    let [one_pass, general] = rows(BASE.as_bytes()).expect("rows");
    assert_eq!(one_pass, (true, BASE.as_bytes().to_vec()));
    assert_eq!(general, one_pass);
}

#[test]
fn valid_but_not_canonical_spellings_go_to_the_general_path() {
    let limits = Limits::default();
    let cases = [
        ("\"tenant\":\"acme\"", "\"tenant\": \"acme\""),
        ("0192f0c4-5e6a", "0192F0C4-5E6A"),
        ("16:00:00.123456Z", "16:00:00.123456+00:00"),
        ("16:00:00.123456Z", "16:00:00.123456789Z"),
        ("16:00:00.123456Z", "16:00:00.1234560Z"),
        ("2024-02-29T16", "2024-02-29t16"),
        ("\"acme\"", "\"ac\\u006de\""),
        ("curl/8.5", "curl\\/8.5"),
        ("2001:db8::1", "2001:DB8::1"),
        ("2001:db8::1", "2001:db8:0:0:0:0:0:1"),
        (
            "\"ip.country\":\"DE\",\"z\":\"\"",
            "\"z\":\"\",\"ip.country\":\"DE\"",
        ),
        ("\"z\":\"\"", "\"z\":\"\",\"z\":\"\""),
        (
            ",\"attributes\":{\"ip.country\":\"DE\",\"z\":\"\"}",
            ",\"attributes\":{}",
        ),
        (
            "\"tenant\":\"acme\",\"source\":\"billing\"",
            "\"source\":\"billing\",\"tenant\":\"acme\"",
        ),
        ("}}", "}} "),
    ];
    for (from, to) in cases {
        let v = BASE.replacen(from, to, 1);
        assert_ne!(v, BASE, "{from} is in the base event");
        assert!(
            parse_event_ref(v.as_bytes(), &limits).is_some(),
            "the general path accepts {v}"
        );
        assert!(
            parse_canonical_ref(v.as_bytes(), &limits).is_none(),
            "not canonical: {v}"
        );
    }
    // Without an event_id the archiver mints one: never canonical.
    let v = BASE.replacen(
        "\"event_id\":\"0192f0c4-5e6a-7b1c-8d2e-3f4a5b6c7d8e\",",
        "",
        1,
    );
    assert!(parse_event_ref(v.as_bytes(), &limits).is_some());
    assert!(parse_canonical_ref(v.as_bytes(), &limits).is_none());
}

#[test]
fn dates_that_do_not_exist_and_invalid_events_are_refused() {
    let limits = Limits::default();
    for (from, to) in [
        ("2024-02-29", "2023-02-29"),
        ("2024-02-29", "1900-02-29"),
        ("2024-02-29", "2024-04-31"),
        ("2024-02-29", "2024-13-01"),
        ("2024-02-29", "0000-01-01"),
        ("16:00:00", "24:00:00"),
        ("16:00:00", "16:60:00"),
        ("16:00:00", "16:00:60"),
        ("\"acme\"", "\"ac\\nme\""),
        ("\"acme\"", "\"\""),
        ("\"failure\"", "\"failed\""),
        ("-7b1c-", "-0b1c-"),
    ] {
        let v = BASE.replacen(from, to, 1);
        assert_ne!(v, BASE, "{from} is in the base event");
        assert!(parse_canonical_ref(v.as_bytes(), &limits).is_none(), "{v}");
    }
    // And leap days that do exist are read to the general path's instant.
    for day in ["2000-02-29", "2400-02-29", "0004-02-29", "9996-02-29"] {
        let v = BASE.replacen("2024-02-29", day, 1);
        let c = parse_canonical_ref(v.as_bytes(), &limits).expect(day);
        assert_eq!(
            Some(c.event()),
            parse_event_ref(v.as_bytes(), &limits).as_ref()
        );
    }
}

#[test]
fn limits_apply_as_on_the_general_path() {
    let mut limits = Limits {
        max_attributes: 1,
        ..Limits::default()
    };
    assert!(parse_canonical_ref(BASE.as_bytes(), &limits).is_none());
    assert!(parse_event_ref(BASE.as_bytes(), &limits).is_none());
    limits.max_attributes = 2;
    assert!(parse_canonical_ref(BASE.as_bytes(), &limits).is_some());
    limits.max_event_bytes = BASE.len() - 1;
    assert!(parse_canonical_ref(BASE.as_bytes(), &limits).is_none());
}
