//! The audit event v1 type and its canonical JSON encoding.
//!
//! The canonical encoding is what the gateway and `auditlog publish` write to
//! Kafka: `serde_json` of [`AuditEvent`], fields in declaration order,
//! attributes sorted by key, `event_time` as UTC with exactly six fractional
//! digits, absent optionals omitted.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// One audit event: who did what to which resource, when, with what outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Always [`crate::SCHEMA_VERSION`].
    pub schema_version: u16,
    /// Any RFC 9562 UUID; minted as UUIDv7 when the producer omits it.
    pub event_id: Uuid,
    /// When the action happened, normalised to UTC microseconds.
    pub event_time: EventTime,
    /// The tenant the event belongs to; also the Kafka message key.
    pub tenant: String,
    /// The emitting service.
    pub source: String,
    /// What was done, e.g. `invoice.delete`.
    pub action: String,
    /// Who did it.
    pub actor: Actor,
    /// What it was done to.
    pub resource: Resource,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, in free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The W3C trace context the action ran in, written as a `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
    /// Extra string key-value pairs, bounded in count and length.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl AuditEvent {
    /// The canonical JSON bytes of this event (see the module docs).
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Serialising plain strings, integers and maps with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Who performed the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Kind of actor, e.g. `user`, `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The actor's identifier.
    pub id: String,
    /// The client IP address, IPv4 or IPv6, in canonical text form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// What the action was performed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Kind of resource, e.g. `invoice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource's identifier.
    pub id: String,
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
    /// The emitter does not know.
    Unknown,
}

impl Outcome {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "unknown" => Some(Outcome::Unknown),
            _ => None,
        }
    }
}

/// A point in time as microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(pub i64);

impl EventTime {
    /// Parses RFC 3339 with an explicit offset, truncating below microseconds.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let micros = t.unix_timestamp_nanos().div_euclid(1_000);
        i64::try_from(micros).ok().map(EventTime)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000;
        let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| fmt::Error)?;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EventTime::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom("event_time: not RFC 3339 with an offset"))
    }
}

/// A parsed W3C `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits (the parent span), not all zero.
    pub span_id: String,
    /// The trace flags byte (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// Parses `00-<trace-id>-<span-id>-<flags>`; `None` if it is not a valid
    /// version-00 traceparent.
    pub fn parse(s: &str) -> Option<Self> {
        // Split without collecting: this runs for every archived event.
        let mut parts = s.split('-');
        let (Some(version), Some(trace_id), Some(span_id), Some(flags), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let lower_hex = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let all_zero = |p: &str| p.bytes().all(|b| b == b'0');
        if version != "00"
            || !lower_hex(trace_id, 32)
            || !lower_hex(span_id, 16)
            || !lower_hex(flags, 2)
            || all_zero(trace_id)
            || all_zero(span_id)
        {
            return None;
        }
        Some(TraceContext {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

impl Serialize for TraceContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TraceContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TraceContext::parse(&s).ok_or_else(|| serde::de::Error::custom("trace: not a traceparent"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_normalises_offsets_to_utc_micros() {
        let t = EventTime::parse_rfc3339("2026-11-26T11:30:00.1234567+01:00").expect("valid");
        assert_eq!(t.to_string(), "2026-11-26T10:30:00.123456Z");
    }

    #[test]
    fn event_time_rejects_missing_offset() {
        assert!(EventTime::parse_rfc3339("2026-11-26T11:30:00").is_none());
    }

    #[test]
    fn event_time_before_epoch_formats() {
        let t = EventTime::parse_rfc3339("1969-12-31T23:59:59.999999Z").expect("valid");
        assert_eq!(t.0, -1);
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn traceparent_round_trips() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceContext::parse(s).expect("valid");
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id, "00f067aa0ba902b7");
        assert_eq!(t.flags, 1);
        assert_eq!(t.to_string(), s);
    }

    #[test]
    fn traceparent_rejects_zero_ids_upper_case_and_other_versions() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad}");
        }
    }
}
