//! Deterministic sample events for demos, tests and benchmarks.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext};

/// SplitMix64: tiny, deterministic, good enough for sample data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.next() % items.len() as u64).unwrap_or_default();
        items[i]
    }
}

const SOURCES: &[&str] = &["billing-api", "identity", "storage-gw", "admin-console"];
const ACTIONS: &[&str] = &[
    "invoice.create",
    "invoice.delete",
    "user.login",
    "user.logout",
    "bucket.read",
    "role.grant",
];
const RESOURCES: &[&str] = &["invoice", "user", "bucket", "role"];

/// `count` events from `seed`, spread over `tenants` tenants, one every 37 ms
/// from 2026-11-26T00:00:00Z. The same arguments always give the same events.
pub fn sample_events(count: usize, seed: u64, tenants: usize) -> impl Iterator<Item = AuditEvent> {
    let mut rng = Rng(seed);
    let tenants = tenants.max(1);
    const START_MICROS: i64 = 1_795_651_200_000_000;
    (0..count).map(move |i| {
        let idx = i64::try_from(i).unwrap_or(i64::MAX);
        let t = START_MICROS.saturating_add(idx.saturating_mul(37_000));
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&rng.next().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next().to_le_bytes()[..2]);
        let millis = u64::try_from(t / 1_000).unwrap_or_default();
        let event_id: Uuid = uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid();
        let tenant = format!("tenant-{:02}", rng.next() % tenants as u64);
        let kind = rng.pick(RESOURCES);
        let outcome = match rng.next() % 10 {
            0 => Outcome::Failure,
            1 => Outcome::Unknown,
            _ => Outcome::Success,
        };
        let trace = (rng.next() % 4 != 0).then(|| TraceContext {
            trace_id: format!("{:016x}{:016x}", rng.next() | 1, rng.next()),
            span_id: format!("{:016x}", rng.next() | 1),
            flags: 1,
        });
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "region".to_owned(),
            rng.pick(&["eu-west-1", "us-east-1", "ap-south-1"])
                .to_owned(),
        );
        attributes.insert("seq".to_owned(), i.to_string());
        AuditEvent {
            schema_version: crate::SCHEMA_VERSION,
            event_id,
            event_time: EventTime(t),
            tenant,
            source: rng.pick(SOURCES).to_owned(),
            action: rng.pick(ACTIONS).to_owned(),
            actor: Actor {
                kind: "user".into(),
                id: format!("u-{}", rng.next() % 1000),
                ip: Some(format!(
                    "10.{}.{}.{}",
                    rng.next() % 256,
                    rng.next() % 256,
                    rng.next() % 256
                )),
                user_agent: Some("auditlog-sample/1".into()),
            },
            resource: Resource {
                kind: kind.to_owned(),
                id: format!("{kind}-{}", rng.next() % 10_000),
            },
            reason: (outcome == Outcome::Failure).then(|| "permission denied".to_owned()),
            outcome,
            trace,
            attributes,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, parse_event};

    #[test]
    fn samples_are_valid_and_deterministic() {
        let a: Vec<_> = sample_events(200, 7, 5).collect();
        let b: Vec<_> = sample_events(200, 7, 5).collect();
        assert_eq!(a, b);
        for e in &a {
            let back = parse_event(&e.to_canonical_json(), &Limits::default()).expect("valid");
            assert_eq!(&back, e);
        }
        let ids: std::collections::HashSet<_> = a.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), a.len());
    }
}
