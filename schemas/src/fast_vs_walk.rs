//! Holds the fast path (`fast`) to the walk (`validate`):
//! whenever it accepts, the walk accepts the same bytes and builds the same
//! event. A module of its own, beside both, so neither imports the other.

use proptest::prelude::*;
use serde_json::{Value, json};

use uuid::Uuid;

use crate::event::AuditEvent;
use crate::fast::parse;
use crate::limits::Limits;
use crate::validate::validate_value;

fn fixed_id() -> Uuid {
    Uuid::from_u128(0x0190_a5a4_7c3e_7b5e_8f3a_2d4c_5b6a_7e8f)
}

/// The walk's verdict on `bytes` (the JSON-syntax step included).
fn walk(bytes: &[u8], limits: &Limits) -> Option<AuditEvent> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    validate_value(&v, limits, fixed_id).ok()
}

fn fast(bytes: &[u8], limits: &Limits) -> Option<AuditEvent> {
    parse(bytes, limits).map(|(mut e, id)| {
        e.event_id = id.unwrap_or_else(fixed_id);
        e
    })
}

fn base() -> Value {
    json!({
        "schema_version": 1,
        "event_id": "0190a5a4-7c3e-7b5e-8f3a-2d4c5b6a7e8f",
        "event_time": "2026-11-26T11:30:00.123456+01:00",
        "tenant": "acme", "source": "billing", "action": "invoice.delete",
        "actor": {"type": "user", "id": "u-1", "ip": "::ffff:10.0.0.1", "user_agent": "curl/8"},
        "resource": {"type": "invoice", "id": "inv-7"},
        "outcome": "success", "reason": "asked",
        "trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "attributes": {"region": "eu", "plan": "pro"}
    })
}

/// Values that break, stretch or merely restyle a field.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        Just(json!(1)),
        Just(json!(1.0)),
        Just(json!(2)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"x": "y"})),
        Just(json!("a\u{7}b")),
        Just(json!("x".repeat(300))),
        Just(json!("0190a5a4-7c3e-0b5e-8f3a-2d4c5b6a7e8f")),
        Just(json!("2026-11-26T11:30:00Z")),
        Just(json!("2026-11-26T11:30:00")),
        Just(json!("failure")),
        Just(json!("010.0.0.1")),
        Just(json!("10.0.0.1")),
        Just(json!("255.255.255.255")),
        Just(json!("1.2.3")),
        Just(json!("::FFFF:1.2.3.4")),
        Just(json!("0:0:0:0:0:0:0:1")),
        any::<[u8; 4]>().prop_map(|b| Value::from(std::net::Ipv4Addr::from(b).to_string())),
        Just(json!(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        )),
        "[ -~é]{0,12}".prop_map(Value::from),
    ]
}

const PATHS: &[&[&str]] = &[
    &["schema_version"],
    &["event_id"],
    &["event_time"],
    &["tenant"],
    &["action"],
    &["actor"],
    &["actor", "type"],
    &["actor", "ip"],
    &["actor", "user_agent"],
    &["actor", "extra"],
    &["resource", "id"],
    &["outcome"],
    &["reason"],
    &["trace"],
    &["attributes"],
    &["attributes", "region"],
    &["attributes", ""],
    &["unknown"],
];

fn set(v: &mut Value, path: &[&str], new: Option<Value>) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut at = v;
    for p in parents {
        match at.get_mut(*p) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(obj) = at.as_object_mut() {
        match new {
            Some(n) => obj.insert((*last).to_owned(), n),
            None => obj.remove(*last),
        };
    }
}

#[test]
fn a_valid_event_takes_the_fast_path_and_matches_the_walk() {
    let bytes = serde_json::to_vec(&base()).expect("json");
    let limits = Limits::default();
    let f = fast(&bytes, &limits).expect("the fast path accepts a valid event");
    assert_eq!(Some(f), walk(&bytes, &limits));
}

#[test]
fn escapes_duplicates_and_nulls_agree_with_the_walk() {
    let limits = Limits::default();
    let base = serde_json::to_string(&base()).expect("json");
    let cases = [
        base.replace("\"acme\"", "\"ac\\u006de\""),
        base.replace(
            "\"tenant\":\"acme\"",
            "\"tenant\":\"acme\",\"tenant\":\"other\"",
        ),
        base.replace("\"region\":\"eu\"", "\"region\":\"eu\",\"region\":\"us\""),
        base.replace("\"schema_version\":1", "\"schema_version\":null"),
        base.replace("\"schema_version\":1", "\"schema_version\":1.0"),
        base.replace(
            "\"event_id\":\"0190a5a4-7c3e-7b5e-8f3a-2d4c5b6a7e8f\"",
            "\"event_id\":null",
        ),
        base.replace("\"reason\":\"asked\"", "\"reason\":null"),
        format!("{base} "),
        format!("{base}x"),
    ];
    for case in cases {
        let (f, w) = (
            fast(case.as_bytes(), &limits),
            walk(case.as_bytes(), &limits),
        );
        assert!(f.is_none() || f == w, "fast path and walk differ on {case}");
    }
}

#[test]
fn every_ip_spelling_gets_the_walks_canonical_form() {
    let limits = Limits::default();
    for ip in [
        "10.0.0.1",
        "010.0.0.1",
        "1.2.3",
        "0.0.0.0",
        "::FFFF:1.2.3.4",
        "0:0:0:0:0:0:0:1",
        "2001:DB8::1",
        "::",
    ] {
        let mut v = base();
        set(&mut v, &["actor", "ip"], Some(json!(ip)));
        let bytes = serde_json::to_vec(&v).expect("json");
        let (f, w) = (fast(&bytes, &limits), walk(&bytes, &limits));
        assert_eq!(f, w, "{ip}");
    }
}

proptest! {
    #[test]
    fn whenever_the_fast_path_accepts_the_walk_builds_the_same_event(
        edits in proptest::collection::vec(
            (0..PATHS.len(), proptest::option::of(replacement())),
            0..4,
        ),
    ) {
        let mut v = base();
        for (i, new) in edits {
            set(&mut v, PATHS[i], new);
        }
        let bytes = serde_json::to_vec(&v).expect("json");
        let limits = Limits::default();
        let (f, w) = (fast(&bytes, &limits), walk(&bytes, &limits));
        if f.is_some() {
            prop_assert_eq!(&f, &w, "{}", v);
        }
        // And the fast path is not a stub: the walk's valid events take it.
        if w.is_some() {
            prop_assert!(f.is_some(), "walk accepts but the fast path does not: {}", v);
        }
    }
}
