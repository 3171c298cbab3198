//! One test per validation rule, each asserting the exact field and rule named.

use schemas::{Limits, Outcome, parse_event};
use serde_json::{Value, json};

fn valid() -> Value {
    json!({
        "event_id": "0190a5a4-7c3e-7b5e-8f3a-2d4c5b6a7e8f",
        "event_time": "2026-11-26T11:30:00.123456789+01:00",
        "tenant": "acme",
        "source": "billing-api",
        "action": "invoice.delete",
        "actor": {"type": "user", "id": "u-1", "ip": "2001:db8:0:0::1", "user_agent": "curl/8"},
        "resource": {"type": "invoice", "id": "inv-9"},
        "outcome": "success",
        "trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "attributes": {"region": "eu"}
    })
}

fn errors_of(v: &Value) -> Vec<(String, &'static str)> {
    let bytes = serde_json::to_vec(v).expect("json");
    match parse_event(&bytes, &Limits::default()) {
        Ok(_) => vec![],
        Err(errs) => errs.into_iter().map(|e| (e.field, e.rule)).collect(),
    }
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = valid();
    let mut cur = &mut v;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).expect("path");
    }
    let last = path[path.len() - 1];
    let obj = cur.as_object_mut().expect("object");
    if value.is_null() && last != "keep-null" {
        obj.remove(last);
    } else {
        obj.insert(last.to_owned(), value);
    }
    v
}

fn assert_rule(v: Value, field: &str, rule: &str) {
    let errs = errors_of(&v);
    assert!(
        errs.iter().any(|(f, r)| f == field && *r == rule),
        "expected {field}/{rule}, got {errs:?}"
    );
}

#[test]
fn valid_event_is_normalised() {
    let bytes = serde_json::to_vec(&valid()).expect("json");
    let e = parse_event(&bytes, &Limits::default()).expect("valid");
    assert_eq!(e.event_time.to_string(), "2026-11-26T10:30:00.123456Z");
    assert_eq!(e.actor.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(
        e.trace.as_ref().map(|t| t.span_id.as_str()),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(e.schema_version, 1);
}

#[test]
fn missing_event_id_gets_a_uuid_v7() {
    let bytes = serde_json::to_vec(&with(&["event_id"], Value::Null)).expect("json");
    let e = parse_event(&bytes, &Limits::default()).expect("valid");
    assert_eq!(e.event_id.get_version_num(), 7);
}

#[test]
fn required_fields() {
    for f in [
        "event_time",
        "tenant",
        "source",
        "action",
        "actor",
        "resource",
        "outcome",
    ] {
        assert_rule(with(&[f], Value::Null), f, "required");
    }
    assert_rule(with(&["actor", "id"], Value::Null), "actor.id", "required");
    assert_rule(
        with(&["resource", "type"], Value::Null),
        "resource.type",
        "required",
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let mut v = with(&["tenant"], Value::Null);
    v["outcome"] = json!("maybe");
    v["actor"]["ip"] = json!("not-an-ip");
    let errs = errors_of(&v);
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn json_syntax() {
    let errs = parse_event(b"{\"tenant\": ", &Limits::default()).expect_err("bad json");
    assert_eq!(errs[0].rule, "json_syntax");
}

#[test]
fn not_an_object() {
    let errs = parse_event(b"[1,2]", &Limits::default()).expect_err("array");
    assert_eq!((errs[0].field.as_str(), errs[0].rule), ("", "type"));
}

#[test]
fn max_event_bytes() {
    let limits = Limits {
        max_event_bytes: 100,
        ..Limits::default()
    };
    let bytes = serde_json::to_vec(&valid()).expect("json");
    let errs = parse_event(&bytes, &limits).expect_err("too big");
    assert_eq!(errs[0].rule, "max_event_bytes");
}

#[test]
fn unknown_fields() {
    assert_rule(with(&["colour"], json!("red")), "colour", "unknown_field");
    assert_rule(
        with(&["actor", "email"], json!("a@b")),
        "actor.email",
        "unknown_field",
    );
}

#[test]
fn wrong_types() {
    assert_rule(with(&["tenant"], json!(7)), "tenant", "type");
    assert_rule(with(&["actor"], json!("bob")), "actor", "type");
    assert_rule(with(&["attributes"], json!([1])), "attributes", "type");
    assert_rule(
        with(&["attributes"], json!({"n": 1})),
        "attributes.n",
        "type",
    );
}

#[test]
fn schema_version() {
    assert_rule(
        with(&["schema_version"], json!(2)),
        "schema_version",
        "unsupported_version",
    );
    assert!(errors_of(&with(&["schema_version"], json!(1))).is_empty());
}

#[test]
fn uuid_rules() {
    assert_rule(with(&["event_id"], json!("nope")), "event_id", "uuid");
    assert_rule(
        with(&["event_id"], json!("00000000-0000-0000-0000-000000000000")),
        "event_id",
        "uuid_version",
    );
    assert!(
        errors_of(&with(
            &["event_id"],
            json!("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        ))
        .is_empty()
    );
}

#[test]
fn event_time_rules() {
    assert_rule(
        with(&["event_time"], json!("2026-11-26 10:00")),
        "event_time",
        "rfc3339",
    );
    assert_rule(
        with(&["event_time"], json!("2026-11-26T10:00:00")),
        "event_time",
        "rfc3339",
    );
}

#[test]
fn string_rules() {
    assert_rule(with(&["action"], json!("")), "action", "non_empty");
    assert_rule(
        with(&["source"], json!("x".repeat(257))),
        "source",
        "max_length",
    );
    assert_rule(
        with(&["tenant"], json!("a\u{0007}b")),
        "tenant",
        "control_character",
    );
    assert_rule(
        with(&["reason"], json!("r".repeat(4097))),
        "reason",
        "max_length",
    );
    assert_rule(
        with(&["actor", "user_agent"], json!("u".repeat(4097))),
        "actor.user_agent",
        "max_length",
    );
}

#[test]
fn string_lengths_count_utf8_bytes() {
    // 128 two-byte characters are 256 bytes: allowed; one more is not.
    assert!(errors_of(&with(&["tenant"], json!("é".repeat(128)))).is_empty());
    assert_rule(
        with(&["tenant"], json!("é".repeat(129))),
        "tenant",
        "max_length",
    );
}

#[test]
fn outcome_enum() {
    assert_rule(with(&["outcome"], json!("Success")), "outcome", "enum");
}

#[test]
fn ip_address() {
    assert_rule(
        with(&["actor", "ip"], json!("300.1.1.1")),
        "actor.ip",
        "ip_address",
    );
}

#[test]
fn traceparent() {
    assert_rule(
        with(&["trace"], json!("00-abc-def-01")),
        "trace",
        "traceparent",
    );
}

#[test]
fn attribute_rules() {
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_rule(
        with(&["attributes"], Value::Object(many)),
        "attributes",
        "max_items",
    );
    assert_rule(
        with(&["attributes"], json!({"": "v"})),
        "attributes.",
        "non_empty",
    );
    let long_key = "k".repeat(129);
    assert_rule(
        with(&["attributes"], json!({ long_key.clone(): "v" })),
        &format!("attributes.{long_key}"),
        "max_length",
    );
    assert_rule(
        with(&["attributes"], json!({"k": "v".repeat(1025)})),
        "attributes.k",
        "max_length",
    );
}

#[test]
fn limits_are_configurable() {
    let limits = Limits {
        max_attributes: 1,
        ..Limits::default()
    };
    let v = with(&["attributes"], json!({"a": "1", "b": "2"}));
    let errs = parse_event(&serde_json::to_vec(&v).expect("json"), &limits).expect_err("too many");
    assert_eq!(
        (errs[0].field.as_str(), errs[0].rule),
        ("attributes", "max_items")
    );
}
