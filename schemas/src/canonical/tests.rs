//! Unit and property tests of the canonical row encoding.

use super::*;

/// The full test vector of docs/FORMAT.md §1a.
fn full() -> CanonicalFields<'static> {
    CanonicalFields {
        schema_version: 1,
        event_id: "0192f0c4-5e6a-7b1c-8d2e-3f4a5b6c7d8e",
        event_time: 1_764_000_000_123_456,
        texts: [
            Some("acme"),
            Some("billing"),
            Some("invoice.delete"),
            Some("user"),
            Some("u-42"),
            Some("2001:db8::1"),
            Some("curl/8.5"),
            Some("invoice"),
            Some("inv-7"),
            Some("failure"),
            Some("line\nbreak, \"quoted\", caf\u{e9} \u{1f}"),
        ],
        trace: Some(TraceParts {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id: "00f067aa0ba902b7",
            flags: 1,
        }),
    }
}

const FULL_ATTRIBUTES: [(&str, &str); 2] = [("ip.country", "DE"), ("z", "")];

/// The minimal test vector of docs/FORMAT.md §1a: no optional field.
fn minimal() -> CanonicalFields<'static> {
    let mut f = full();
    f.texts[5] = None;
    f.texts[6] = None;
    f.texts[10] = None;
    f.trace = None;
    f.event_time = -1;
    f.texts[9] = Some("success");
    f
}

fn written<'r>(f: &CanonicalFields<'r>, attrs: &[(&'r str, &'r str)]) -> String {
    let mut out = Vec::new();
    write_canonical(f, attrs.iter().copied(), &mut out).expect("writes");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_test_vectors_in_format_md_are_what_is_written() {
    let doc = include_str!("../../../docs/FORMAT.md");
    for json in [written(&full(), &FULL_ATTRIBUTES), written(&minimal(), &[])] {
        let line = format!("\n{json}\n");
        assert!(
            doc.contains(&line),
            "docs/FORMAT.md §1a must contain:\n{json}"
        );
        let sha = sha256_hex(json.as_bytes());
        assert!(doc.contains(&sha), "docs/FORMAT.md §1a must contain {sha}");
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn what_is_written_is_what_the_event_type_serialises() {
    let json = written(&full(), &FULL_ATTRIBUTES);
    let event: crate::AuditEvent = serde_json::from_str(&json).expect("an event");
    assert_eq!(event.to_canonical_json(), json.as_bytes());
    let json = written(&minimal(), &[]);
    let event: crate::AuditEvent = serde_json::from_str(&json).expect("an event");
    assert_eq!(event.to_canonical_json(), json.as_bytes());
}

#[test]
fn every_column_is_in_the_bytes() {
    let base = written(&full(), &FULL_ATTRIBUTES);
    let mut edits: Vec<CanonicalFields<'static>> = Vec::new();
    for i in 0..11 {
        let mut f = full();
        f.texts[i] = Some("x");
        edits.push(f);
    }
    let mut f = full();
    f.schema_version = 2;
    edits.push(f);
    let mut f = full();
    f.event_id = "0192f0c4-5e6a-7b1c-8d2e-3f4a5b6c7d8f";
    edits.push(f);
    let mut f = full();
    f.event_time += 1;
    edits.push(f);
    for edit in [
        |t: &mut TraceParts<'static>| t.flags = 0,
        |t: &mut TraceParts<'static>| t.trace_id = "5bf92f3577b34da6a3ce929d0e0e4736",
        |t: &mut TraceParts<'static>| t.span_id = "10f067aa0ba902b7",
    ] {
        let mut f = full();
        f.trace.as_mut().map(edit);
        edits.push(f);
    }
    for f in &edits {
        assert_ne!(written(f, &FULL_ATTRIBUTES), base, "{f:?}");
    }
    assert_ne!(written(&full(), &FULL_ATTRIBUTES[..1]), base);
    assert_ne!(written(&full(), &[("ip.country", "FR"), ("z", "")]), base);
}

proptest::proptest! {
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them(s in "(?s).{0,40}", bytes in proptest::collection::vec(0u8..0x80, 0..40)) {
        for s in [s, String::from_utf8(bytes).unwrap_or_default()] {
            let mut out = Vec::new();
            string(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap_or_default());
        }
    }

    #[test]
    fn event_times_are_written_as_the_event_type_writes_them(micros in MIN_TIME..=MAX_TIME) {
        let mut out = Vec::new();
        event_time(&mut out, micros);
        proptest::prop_assert_eq!(String::from_utf8(out).unwrap_or_default(), crate::EventTime(micros).to_string());
    }
}

#[test]
fn the_ends_of_the_time_range_are_written_as_the_event_type_writes_them() {
    for micros in [
        MIN_TIME,
        MAX_TIME,
        -1,
        0,
        951_782_400_000_000,
        4_107_542_400_000_000,
    ] {
        let mut out = Vec::new();
        event_time(&mut out, micros);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            crate::EventTime(micros).to_string()
        );
    }
}

#[test]
fn the_comparison_agrees_with_writing_then_comparing() {
    let json = written(&full(), &FULL_ATTRIBUTES).into_bytes();
    let attrs = || FULL_ATTRIBUTES.iter().copied();
    assert!(is_canonical(&full(), attrs(), &json));
    assert!(!is_canonical(&full(), attrs(), &json[..json.len() - 1]));
    assert!(!is_canonical(
        &full(),
        attrs(),
        &[json.as_slice(), b" "].concat()
    ));
    assert!(!is_canonical(&full(), attrs(), b""));
    for at in 0..json.len() {
        let mut other = json.clone();
        other[at] ^= 1;
        assert!(!is_canonical(&full(), attrs(), &other), "byte {at} flipped");
        assert!(!is_canonical(&full(), attrs(), &json[..at]), "cut at {at}");
    }
    let mut f = full();
    f.texts[0] = None;
    assert!(!is_canonical(&f, attrs(), &json));
    for v in [0, 7, -3, i32::MIN, i32::MAX] {
        let mut f = minimal();
        f.schema_version = v;
        let text = written(&f, &[]);
        assert!(
            text.starts_with(&format!("{{\"schema_version\":{v},")),
            "{text}"
        );
        assert!(is_canonical(&f, std::iter::empty(), text.as_bytes()));
    }
}

#[test]
fn rows_that_cannot_be_written_say_which_column() {
    let mut out = Vec::new();
    let mut f = full();
    f.texts[0] = None;
    let e = write_canonical(&f, std::iter::empty(), &mut out).expect_err("no tenant");
    assert!(e.to_string().contains("tenant"), "{e}");
    let mut f = full();
    f.trace = f.trace.map(|t| TraceParts { flags: 256, ..t });
    let e = write_canonical(&f, std::iter::empty(), &mut out).expect_err("flags");
    assert!(e.to_string().contains("trace_flags"), "{e}");
    let mut f = full();
    for t in [i64::MAX, MIN_TIME - 1, MAX_TIME + 1] {
        f.event_time = t;
        let e = write_canonical(&f, std::iter::empty(), &mut out).expect_err("time");
        assert!(e.to_string().contains("event_time"), "{e}");
    }
    for t in [MIN_TIME, MAX_TIME] {
        f.event_time = t;
        write_canonical(&f, std::iter::empty(), &mut out).expect("in range");
    }
}
