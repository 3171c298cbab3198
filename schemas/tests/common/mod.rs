//! Strategies shared by the integration tests: valid events of every shape.

use std::collections::BTreeMap;

use proptest::prelude::*;
use schemas::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext};

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._:/@é漢 -]{1,40}"
}

fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~é]{0,80}")
}

fn trace() -> impl Strategy<Value = Option<TraceContext>> {
    proptest::option::of(
        ("[0-9a-f]{31}[1-9a-f]", "[1-9a-f][0-9a-f]{15}", any::<u8>()).prop_map(
            |(trace_id, span_id, flags)| TraceContext {
                trace_id,
                span_id,
                flags,
            },
        ),
    )
}

fn ip() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        any::<[u8; 4]>().prop_map(|b| std::net::IpAddr::from(b).to_string()),
        any::<[u8; 16]>().prop_map(|b| std::net::IpAddr::from(b).to_string()),
    ])
}

pub fn event() -> impl Strategy<Value = AuditEvent> {
    (
        any::<u128>(),
        // Years 1900..2200 in microseconds.
        -2_208_988_800_000_000i64..7_258_118_400_000_000i64,
        (ident(), ident(), ident()),
        (ident(), ident(), ip(), text()),
        (ident(), ident()),
        prop_oneof![
            Just(Outcome::Success),
            Just(Outcome::Failure),
            Just(Outcome::Unknown)
        ],
        text(),
        trace(),
        proptest::collection::btree_map("[a-z_.]{1,20}", "[ -~]{0,40}", 0..8),
    )
        .prop_map(
            |(
                id,
                t,
                (tenant, source, action),
                (ak, aid, ip, ua),
                (rk, rid),
                outcome,
                reason,
                trace,
                attributes,
            )| {
                AuditEvent {
                    schema_version: 1,
                    event_id: uuid::Builder::from_random_bytes(id.to_le_bytes()).into_uuid(),
                    event_time: EventTime(t),
                    tenant,
                    source,
                    action,
                    actor: Actor {
                        kind: ak,
                        id: aid,
                        ip,
                        user_agent: ua,
                    },
                    resource: Resource { kind: rk, id: rid },
                    outcome,
                    reason,
                    trace,
                    attributes: attributes.into_iter().collect::<BTreeMap<_, _>>(),
                }
            },
        )
}
