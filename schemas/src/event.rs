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
        TraceRef::parse(std::borrow::Cow::Borrowed(s)).map(|t| t.to_context())
    }
}

/// A valid version-00 `traceparent`, kept as the text it was read from
/// (borrowed where it can be): what [`TraceContext`] holds, without an
/// allocation per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRef<'a> {
    text: std::borrow::Cow<'a, str>,
    flags: u8,
}

impl<'a> TraceRef<'a> {
    /// Checks `00-<trace-id>-<span-id>-<flags>` (32, 16 and 2 lowercase hex
    /// digits, neither id all zero); `None` if it is not one.
    pub fn parse(s: std::borrow::Cow<'a, str>) -> Option<Self> {
        let b = s.as_bytes();
        let lower_hex = |r: std::ops::Range<usize>| {
            b.get(r).is_some_and(|p| {
                p.iter()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            })
        };
        let all_zero =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|p| p.iter().all(|&c| c == b'0'));
        let shape = b.len() == 55
            && b.starts_with(b"00-")
            && b.get(35) == Some(&b'-')
            && b.get(52) == Some(&b'-');
        if !shape
            || !lower_hex(3..35)
            || !lower_hex(36..52)
            || !lower_hex(53..55)
            || all_zero(3..35)
            || all_zero(36..52)
        {
            return None;
        }
        let flags = u8::from_str_radix(s.get(53..55)?, 16).ok()?;
        Some(TraceRef { text: s, flags })
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        self.text.get(3..35).unwrap_or_default()
    }

    /// The 16 hex digits of the parent span id.
    pub fn span_id(&self) -> &str {
        self.text.get(36..52).unwrap_or_default()
    }

    /// The trace flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The owned context.
    pub fn to_context(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id().to_owned(),
            span_id: self.span_id().to_owned(),
            flags: self.flags,
        }
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

    /// The W3C rule read plainly: four `-`-separated parts, `00`, 32, 16 and
    /// 2 lowercase hex digits, neither id all zero.
    fn by_parts(s: &str) -> Option<(String, String, u8)> {
        let p: Vec<&str> = s.split('-').collect();
        let hex = |x: &str, n: usize| {
            x.len() == n
                && x.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let zero = |x: &str| x.bytes().all(|b| b == b'0');
        let ok = p.len() == 4
            && p[0] == "00"
            && hex(p[1], 32)
            && hex(p[2], 16)
            && hex(p[3], 2)
            && !zero(p[1])
            && !zero(p[2]);
        ok.then(|| {
            (
                p[1].to_owned(),
                p[2].to_owned(),
                u8::from_str_radix(p[3], 16).unwrap_or(0),
            )
        })
    }

    proptest::proptest! {
        #[test]
        fn the_positional_check_is_the_w3c_rule(
            s in "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}|(00|01|0)-[0-9a-fA-F-]{30,34}-[0-9a-f]{15,17}-[0-9a-fg]{1,3}|00-0{32}-[0-9a-f]{16}-01|00-[0-9a-f]{32}-0{16}-00",
        ) {
            let t = TraceRef::parse(std::borrow::Cow::Borrowed(&s));
            let got = t.map(|t| (t.trace_id().to_owned(), t.span_id().to_owned(), t.flags()));
            proptest::prop_assert_eq!(got, by_parts(&s));
        }
    }
}
