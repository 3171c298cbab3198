//! The published JSON Schema agrees with the Rust type and the default limits.

use std::collections::BTreeSet;

use schemas::{EVENT_JSON_SCHEMA, Limits};
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(EVENT_JSON_SCHEMA).expect("schema file is JSON")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// The fields serde writes for a fully populated event are exactly the
/// schema's properties, recursively for actor and resource.
#[test]
fn schema_properties_match_the_type() {
    let s = schema();
    let full = serde_json::json!({
        "event_time": "2026-01-01T00:00:00Z", "tenant": "t", "source": "s", "action": "a",
        "actor": {"type": "user", "id": "u", "ip": "10.0.0.1", "user_agent": "ua"},
        "resource": {"type": "r", "id": "1"}, "outcome": "failure", "reason": "why",
        "trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "attributes": {"k": "v"}
    });
    let e = schemas::parse_event(
        &serde_json::to_vec(&full).expect("json"),
        &Limits::default(),
    )
    .expect("valid");
    let written: Value = serde_json::from_slice(&e.to_canonical_json()).expect("json");
    assert_eq!(keys(&written), keys(&s["properties"]));
    assert_eq!(
        keys(&written["actor"]),
        keys(&s["properties"]["actor"]["properties"])
    );
    assert_eq!(
        keys(&written["resource"]),
        keys(&s["properties"]["resource"]["properties"])
    );
}

#[test]
fn schema_required_matches_validation() {
    let s = schema();
    let required = strings(&s["required"]);
    let expected: BTreeSet<String> = [
        "event_time",
        "tenant",
        "source",
        "action",
        "actor",
        "resource",
        "outcome",
    ]
    .map(String::from)
    .into();
    assert_eq!(required, expected);
    assert_eq!(
        strings(&s["properties"]["actor"]["required"]),
        ["id", "type"].map(String::from).into()
    );
}

#[test]
fn schema_bounds_match_default_limits() {
    let s = schema();
    let l = Limits::default();
    let n = |v: &Value| usize::try_from(v.as_u64().expect("number")).expect("fits");
    assert_eq!(n(&s["$defs"]["ident"]["maxLength"]), l.max_string_len);
    assert_eq!(n(&s["$defs"]["text"]["maxLength"]), l.max_text_len);
    assert_eq!(
        n(&s["properties"]["attributes"]["maxProperties"]),
        l.max_attributes
    );
    assert_eq!(
        n(&s["properties"]["attributes"]["propertyNames"]["maxLength"]),
        l.max_attribute_key_len
    );
    assert_eq!(
        n(&s["properties"]["attributes"]["additionalProperties"]["maxLength"]),
        l.max_attribute_value_len
    );
    assert_eq!(
        strings(&s["properties"]["outcome"]["enum"]),
        ["success", "failure", "unknown"].map(String::from).into()
    );
}
