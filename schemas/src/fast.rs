//! The fast path of `parse_event_with`: serde's derive straight
//! into borrowed fields, then the same rules as `validate`.
//!
//! It only ever says "valid, and here is the event"; any doubt (a syntax or
//! type error, a duplicate key, a broken rule) returns `None` and the caller
//! runs the exhaustive walk in `validate`, which names every problem. So the
//! fast path changes what a valid event costs and nothing else. The unit
//! tests in `fast_vs_walk.rs` hold it to that: whenever it accepts, the walk
//! accepts the same bytes and builds the same event.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use uuid::Uuid;

use crate::SCHEMA_VERSION;
use crate::event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceRef};
use crate::limits::Limits;
use crate::rules::{text_rule, uuid_rule};

fn current_version() -> u64 {
    u64::from(SCHEMA_VERSION)
}

/// A JSON string borrowed from the input when it has no escapes. serde
/// borrows a `Cow<str>` field itself, but not one inside a map.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(V).map(Str)
    }
}

// Absent and null mean the same for every `Option` here, as in the walk;
// a required field that is null fails to deserialise (then the walk reports it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    // Absent is the current version; null is refused by the walk, and fails
    // here because `u64` does not accept it.
    #[serde(default = "current_version")]
    schema_version: u64,
    #[serde(default, borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_time: Cow<'a, str>,
    #[serde(borrow)]
    tenant: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    actor: WireActor<'a>,
    #[serde(borrow)]
    resource: WireResource<'a>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    trace: Option<Cow<'a, str>>,
    // A repeated key keeps its last value, as serde_json's map does for the walk.
    #[serde(default, borrow)]
    attributes: Option<BTreeMap<Str<'a>, Str<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireActor<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResource<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// A valid v1 event whose text borrows from the bytes it was parsed from
/// (where the JSON string had no escapes): what [`AuditEvent`] holds, without
/// an allocation per field. The archiver builds its columns from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The event's id; `None` when it has none (the caller mints one).
    pub event_id: Option<Uuid>,
    /// When the action happened, in UTC microseconds.
    pub event_time: EventTime,
    /// See [`AuditEvent::tenant`].
    pub tenant: Cow<'a, str>,
    /// See [`AuditEvent::source`].
    pub source: Cow<'a, str>,
    /// See [`AuditEvent::action`].
    pub action: Cow<'a, str>,
    /// See [`Actor::kind`].
    pub actor_type: Cow<'a, str>,
    /// See [`Actor::id`].
    pub actor_id: Cow<'a, str>,
    /// See [`Actor::ip`] (canonical form).
    pub actor_ip: Option<Cow<'a, str>>,
    /// See [`Actor::user_agent`].
    pub actor_user_agent: Option<Cow<'a, str>>,
    /// See [`Resource::kind`].
    pub resource_type: Cow<'a, str>,
    /// See [`Resource::id`].
    pub resource_id: Cow<'a, str>,
    /// How it ended.
    pub outcome: Outcome,
    /// See [`AuditEvent::reason`].
    pub reason: Option<Cow<'a, str>>,
    /// See [`AuditEvent::trace`].
    pub trace: Option<TraceRef<'a>>,
    /// The attributes in key order, each key once.
    pub attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl EventRef<'_> {
    /// The owned event, with `event_id` or `mint()` as its id.
    pub fn into_owned(self, mint: impl FnOnce() -> Uuid) -> AuditEvent {
        AuditEvent {
            schema_version: SCHEMA_VERSION,
            event_id: self.event_id.unwrap_or_else(mint),
            event_time: self.event_time,
            tenant: self.tenant.into_owned(),
            source: self.source.into_owned(),
            action: self.action.into_owned(),
            actor: Actor {
                kind: self.actor_type.into_owned(),
                id: self.actor_id.into_owned(),
                ip: self.actor_ip.map(Cow::into_owned),
                user_agent: self.actor_user_agent.map(Cow::into_owned),
            },
            resource: Resource {
                kind: self.resource_type.into_owned(),
                id: self.resource_id.into_owned(),
            },
            outcome: self.outcome,
            reason: self.reason.map(Cow::into_owned),
            trace: self.trace.as_ref().map(TraceRef::to_context),
            attributes: self
                .attributes
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }
}

/// The typed fast path alone: a valid event borrowing from `bytes`, or
/// `None` when `parse_event_with` (in `validate`) must decide (it accepts nothing
/// this refuses, and names every problem of what it refuses).
pub fn parse_event_ref<'a>(bytes: &'a [u8], limits: &Limits) -> Option<EventRef<'a>> {
    if bytes.len() > limits.max_event_bytes {
        return None;
    }
    parse_ref(bytes, limits)
}

/// A valid event from `bytes`, with `None` as its id when it has none (the
/// caller mints one); `None` when the walk must decide. The caller has
/// checked `limits.max_event_bytes`.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> Option<(AuditEvent, Option<Uuid>)> {
    let e = parse_ref(bytes, limits)?;
    let id = e.event_id;
    Some((e.into_owned(Uuid::default), id))
}

fn parse_ref<'a>(bytes: &'a [u8], limits: &Limits) -> Option<EventRef<'a>> {
    // One UTF-8 check of the whole value instead of one per string (which
    // `from_slice` makes as it borrows each): invalid UTF-8 is refused
    // either way, and the walk names it.
    let text = std::str::from_utf8(bytes).ok()?;
    let w: Wire<'a> = serde_json::from_str(text).ok()?;
    if w.schema_version != current_version() {
        return None;
    }
    let event_id = match &w.event_id {
        None => None,
        Some(s) => Some(uuid_rule(s).ok()?),
    };
    let ident = |s| ident(s, limits);
    let text = |s| free_text(s, limits);
    let actor_ip = match w.actor.ip {
        None => None,
        // Dotted-quad text that parses is already canonical (the parser
        // refuses leading zeros); IPv6 has many spellings, so it is rewritten.
        Some(s) => match s.parse::<IpAddr>().ok()? {
            IpAddr::V4(_) => Some(s),
            v6 => Some(Cow::Owned(v6.to_string())),
        },
    };
    let trace = match w.trace {
        None => None,
        Some(s) => Some(TraceRef::parse(s)?),
    };
    Some(EventRef {
        event_id,
        event_time: EventTime::parse_rfc3339(&w.event_time)?,
        tenant: ident(w.tenant)?,
        source: ident(w.source)?,
        action: ident(w.action)?,
        actor_type: ident(w.actor.kind)?,
        actor_id: ident(w.actor.id)?,
        actor_ip,
        actor_user_agent: text(w.actor.user_agent)?,
        resource_type: ident(w.resource.kind)?,
        resource_id: ident(w.resource.id)?,
        outcome: Outcome::parse(&w.outcome)?,
        reason: text(w.reason)?,
        trace,
        attributes: attributes(w.attributes.unwrap_or_default(), limits)?,
    })
}

/// An identifier field that keeps its rules: non-empty, within
/// `max_string_len`, no control character.
pub(crate) fn ident<'a>(s: Cow<'a, str>, limits: &Limits) -> Option<Cow<'a, str>> {
    (!s.is_empty() && text_rule(&s, limits.max_string_len).is_none()).then_some(s)
}

/// An optional free-text field that keeps its rules: within
/// `max_text_len`, no control character (`Some(None)` when absent).
pub(crate) fn free_text<'a>(
    s: Option<Cow<'a, str>>,
    limits: &Limits,
) -> Option<Option<Cow<'a, str>>> {
    match s {
        None => Some(None),
        Some(s) => text_rule(&s, limits.max_text_len)
            .is_none()
            .then_some(Some(s)),
    }
}

fn attributes<'a>(
    map: BTreeMap<Str<'a>, Str<'a>>,
    limits: &Limits,
) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
    let ok = map.len() <= limits.max_attributes
        && map.iter().all(|(k, v)| {
            !k.0.is_empty()
                && text_rule(&k.0, limits.max_attribute_key_len).is_none()
                && text_rule(&v.0, limits.max_attribute_value_len).is_none()
        });
    ok.then(|| map.into_iter().map(|(k, v)| (k.0, v.0)).collect())
}
