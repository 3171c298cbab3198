//! Parsing untrusted bytes into an [`AuditEvent`].
//!
//! Validation walks the JSON value by hand rather than through serde's derive
//! so that it can report *every* problem with an event, each naming the exact
//! field (a dotted path such as `actor.ip` or `attributes.region`) and the rule
//! that failed. Rule names are stable and documented in the README.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::SCHEMA_VERSION;
use crate::event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext};
use crate::limits::Limits;
use crate::rules::{text_rule, uuid_rule};

/// One reason an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the offending field; empty for the event as a whole.
    pub field: String,
    /// Stable rule name, e.g. `required`, `max_length`, `rfc3339`.
    pub rule: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "[{}] {}", self.rule, self.message)
        } else {
            write!(f, "{}: [{}] {}", self.field, self.rule, self.message)
        }
    }
}

const TOP_LEVEL: &[&str] = &[
    "schema_version",
    "event_id",
    "event_time",
    "tenant",
    "source",
    "action",
    "actor",
    "resource",
    "outcome",
    "reason",
    "trace",
    "attributes",
];
const ACTOR_FIELDS: &[&str] = &["type", "id", "ip", "user_agent"];
const RESOURCE_FIELDS: &[&str] = &["type", "id"];

/// Parses and validates one event. On success the event is normalised: a
/// missing `event_id` becomes a fresh UUIDv7, `event_time` is UTC
/// microseconds, `actor.ip` is in canonical form. On failure every problem
/// found is returned.
pub fn parse_event(bytes: &[u8], limits: &Limits) -> Result<AuditEvent, Vec<FieldError>> {
    parse_event_with(bytes, limits, Uuid::now_v7)
}

/// Like [`parse_event`], with `mint` supplying the id of an event that has
/// none. The archiver passes a deterministic one so that re-encoding a range
/// gives the same bytes.
pub fn parse_event_with(
    bytes: &[u8],
    limits: &Limits,
    mint: impl FnOnce() -> Uuid,
) -> Result<AuditEvent, Vec<FieldError>> {
    if bytes.len() > limits.max_event_bytes {
        return Err(vec![FieldError::new(
            "",
            "max_event_bytes",
            format!(
                "event is {} bytes; the limit is {}",
                bytes.len(),
                limits.max_event_bytes
            ),
        )]);
    }
    // Valid events take the typed fast path; anything it doubts is walked
    // below, which names every problem.
    if let Some((mut event, id)) = crate::fast::parse(bytes, limits) {
        event.event_id = match id {
            Some(id) => id,
            None => mint(),
        };
        return Ok(event);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![FieldError::new(
            "",
            "json_syntax",
            format!("not valid JSON: {e}"),
        )]
    })?;
    validate_value(&value, limits, mint)
}

/// Validates an already-parsed JSON value (see [`parse_event`]). The size
/// limit is not checked here: the caller knows the encoded size.
pub fn validate_value(
    value: &Value,
    limits: &Limits,
    mint: impl FnOnce() -> Uuid,
) -> Result<AuditEvent, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "type",
            "an event must be a JSON object",
        )]);
    };
    let mut c = Checker {
        errors: Vec::new(),
        limits,
    };
    c.unknown_fields("", obj, TOP_LEVEL);

    match obj.get("schema_version") {
        None => {}
        Some(v) if v.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
        Some(v) => c.fail(
            "schema_version",
            "unsupported_version",
            format!("schema_version must be {SCHEMA_VERSION}, got {v}"),
        ),
    }
    let event_id = match obj.get("event_id") {
        None | Some(Value::Null) => Some(mint()),
        Some(v) => c
            .str_field("event_id", v)
            .and_then(|s| c.uuid("event_id", s)),
    };
    let event_time = c
        .required(obj, "event_time")
        .and_then(|v| c.str_field("event_time", v))
        .and_then(|s| match EventTime::parse_rfc3339(s) {
            Some(t) => Some(t),
            None => {
                c.fail(
                    "event_time",
                    "rfc3339",
                    "must be RFC 3339 with an offset, e.g. 2026-01-31T12:00:00.000Z",
                );
                None
            }
        });
    let tenant = c.ident(obj, "", "tenant");
    let source = c.ident(obj, "", "source");
    let action = c.ident(obj, "", "action");
    let actor = c.object(obj, "actor", ACTOR_FIELDS).and_then(|a| {
        let kind = c.ident(a, "actor.", "type");
        let id = c.ident(a, "actor.", "id");
        let ip = match c.optional_str(a, "actor.ip", "ip") {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => match s.parse::<IpAddr>() {
                Ok(ip) => Some(Some(ip.to_string())),
                Err(_) => {
                    c.fail("actor.ip", "ip_address", "must be an IPv4 or IPv6 address");
                    None
                }
            },
        };
        let user_agent = c.optional_text(a, "actor.user_agent", "user_agent");
        Some(Actor {
            kind: kind?,
            id: id?,
            ip: ip?,
            user_agent: user_agent?,
        })
    });
    let resource = c.object(obj, "resource", RESOURCE_FIELDS).and_then(|r| {
        let kind = c.ident(r, "resource.", "type");
        let id = c.ident(r, "resource.", "id");
        Some(Resource {
            kind: kind?,
            id: id?,
        })
    });
    let outcome = c
        .required(obj, "outcome")
        .and_then(|v| c.str_field("outcome", v))
        .and_then(|s| match Outcome::parse(s) {
            Some(o) => Some(o),
            None => {
                c.fail(
                    "outcome",
                    "enum",
                    format!("must be success, failure or unknown, got {s:?}"),
                );
                None
            }
        });
    let reason = c.optional_text(obj, "reason", "reason");
    let trace = match c.optional_str(obj, "trace", "trace") {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => match TraceContext::parse(s) {
            Some(t) => Some(Some(t)),
            None => {
                c.fail("trace", "traceparent", "must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, lowercase, ids not all zero");
                None
            }
        },
    };
    let attributes = c.attributes(obj);

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    match (
        event_id, event_time, tenant, source, action, actor, resource, outcome, reason, trace,
        attributes,
    ) {
        (
            Some(event_id),
            Some(event_time),
            Some(tenant),
            Some(source),
            Some(action),
            Some(actor),
            Some(resource),
            Some(outcome),
            Some(reason),
            Some(trace),
            Some(attributes),
        ) => Ok(AuditEvent {
            schema_version: SCHEMA_VERSION,
            event_id,
            event_time,
            tenant,
            source,
            action,
            actor,
            resource,
            outcome,
            reason,
            trace,
            attributes,
        }),
        // Every `None` above recorded an error, so this arm is unreachable in
        // practice; refuse rather than panic if that ever stops being true.
        _ => Err(vec![FieldError::new(
            "",
            "internal",
            "validation produced no event",
        )]),
    }
}

struct Checker<'l> {
    errors: Vec<FieldError>,
    limits: &'l Limits,
}

impl Checker<'_> {
    fn fail(&mut self, field: impl Into<String>, rule: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, rule, message));
    }

    fn unknown_fields(&mut self, prefix: &str, obj: &Map<String, Value>, known: &[&str]) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                self.fail(
                    format!("{prefix}{key}"),
                    "unknown_field",
                    "is not a field of audit event v1",
                );
            }
        }
    }

    fn required<'v>(&mut self, obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                self.fail(name, "required", "is required");
                None
            }
            Some(v) => Some(v),
        }
    }

    fn str_field<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v str> {
        match v.as_str() {
            Some(s) => Some(s),
            None => {
                self.fail(path, "type", "must be a string");
                None
            }
        }
    }

    fn uuid(&mut self, path: &str, s: &str) -> Option<Uuid> {
        match uuid_rule(s) {
            Ok(u) => Some(u),
            Err((rule, message)) => {
                self.fail(path, rule, message);
                None
            }
        }
    }

    /// A required, non-empty identifier without control characters.
    fn ident(&mut self, obj: &Map<String, Value>, prefix: &str, name: &str) -> Option<String> {
        let path = format!("{prefix}{name}");
        let Some(v) = obj.get(name).filter(|v| !v.is_null()) else {
            self.fail(path, "required", "is required");
            return None;
        };
        let s = self.str_field(&path, v)?;
        if s.is_empty() {
            self.fail(path, "non_empty", "must not be empty");
            return None;
        }
        let max = self.limits.max_string_len;
        self.bounded(&path, s, max)
    }

    fn bounded(&mut self, path: &str, s: &str, max: usize) -> Option<String> {
        match text_rule(s, max) {
            None => Some(s.to_owned()),
            Some((rule, message)) => {
                self.fail(path, rule, message);
                None
            }
        }
    }

    /// `None`: invalid (error recorded). `Some(None)`: absent or null.
    fn optional_str<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Option<Option<&'v str>> {
        match obj.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.str_field(path, v).map(Some),
        }
    }

    fn optional_text(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Option<Option<String>> {
        match self.optional_str(obj, path, name)? {
            None => Some(None),
            Some(s) => {
                let max = self.limits.max_text_len;
                self.bounded(path, s, max).map(Some)
            }
        }
    }

    fn object<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        name: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let v = self.required(obj, name)?;
        match v.as_object() {
            Some(o) => {
                self.unknown_fields(&format!("{name}."), o, known);
                Some(o)
            }
            None => {
                self.fail(name, "type", "must be an object");
                None
            }
        }
    }

    fn attributes(&mut self, obj: &Map<String, Value>) -> Option<BTreeMap<String, String>> {
        let Some(v) = obj.get("attributes").filter(|v| !v.is_null()) else {
            return Some(BTreeMap::new());
        };
        let Some(map) = v.as_object() else {
            self.fail("attributes", "type", "must be an object of string values");
            return None;
        };
        let max_count = self.limits.max_attributes;
        if map.len() > max_count {
            self.fail(
                "attributes",
                "max_items",
                format!("has {} entries; the limit is {max_count}", map.len()),
            );
            return None;
        }
        let before = self.errors.len();
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let path = format!("attributes.{k}");
            if k.is_empty() {
                self.fail(path, "non_empty", "attribute keys must not be empty");
                continue;
            }
            let key_max = self.limits.max_attribute_key_len;
            let val_max = self.limits.max_attribute_value_len;
            let key = self.bounded(&path, k, key_max);
            let val = self
                .str_field(&path, v)
                .and_then(|s| self.bounded(&path, s, val_max));
            if let (Some(key), Some(val)) = (key, val) {
                out.insert(key, val);
            }
        }
        (self.errors.len() == before).then_some(out)
    }
}
