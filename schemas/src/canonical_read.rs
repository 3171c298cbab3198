//! The archiver's fastest path: a value that is exactly the canonical JSON
//! of a valid event (docs/FORMAT.md §1a), read front to back in one pass.
//!
//! The gateway and `auditlog publish` only ever send canonical JSON, so
//! nearly every record the archiver reads is one. The general path parses
//! it (`fast`), then writes the row's canonical JSON again to compare it
//! with the value (`canonical::is_canonical`). This reader does both at
//! once: it expects each key, in canonical order, each string escaped the
//! canonical way and each value in its one canonical spelling, then applies
//! the same rules as `fast`. At the first byte that is not what the
//! canonical JSON of a valid event would have there it returns `None`, and
//! the caller takes the general path, which decides as before. So it
//! changes what a canonical event costs and nothing else.
//!
//! What holds whenever it returns an event (`tests/canonical_read.rs`, with
//! byte-level mutations of canonical values): the general path builds the
//! same event from the same bytes, and the row's canonical JSON is those
//! bytes. That is why [`Canonical`] can only be made here, and why
//! `EventsBuilder::append_canonical` stores its row as rebuilt without
//! comparing.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use crate::SCHEMA_VERSION;
use crate::canonical::clean_prefix;
use crate::event::{EventTime, Outcome, TraceRef};
use crate::fast::{EventRef, free_text, ident};
use crate::limits::Limits;
use crate::rules::{text_rule, uuid_rule};
use uuid::Uuid;

// The literal below spells the version.
const _: () = assert!(SCHEMA_VERSION == 1);

/// A valid event read from a value that is exactly its canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical<'a> {
    event: EventRef<'a>,
    id: Uuid,
    bytes: &'a [u8],
}

impl<'a> Canonical<'a> {
    /// The event.
    pub fn event(&self) -> &EventRef<'a> {
        &self.event
    }

    /// Its `event_id` (a canonical value always has one).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The value it was read from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The event whose canonical JSON `bytes` are, if they are exactly that and
/// the event is valid under `limits`; `None` when the general path must
/// decide (it accepts everything this accepts, building the same event).
pub fn parse_canonical_ref<'a>(bytes: &'a [u8], limits: &Limits) -> Option<Canonical<'a>> {
    if bytes.len() > limits.max_event_bytes {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let event = read(&mut Cursor { text, at: 0 }, limits)?;
    Some(Canonical {
        id: event.event_id?,
        event,
        bytes,
    })
}

fn read<'a>(c: &mut Cursor<'a>, limits: &Limits) -> Option<EventRef<'a>> {
    c.lit(b"{\"schema_version\":1,\"event_id\":\"")?;
    let event_id = Some(lower_uuid(c.fixed(36)?)?);
    c.lit(b"\",\"event_time\":\"")?;
    let event_time = EventTime(time(c.fixed(27)?.as_bytes())?);
    c.lit(b"\",\"tenant\":")?;
    let tenant = c.string()?;
    c.lit(b",\"source\":")?;
    let source = c.string()?;
    c.lit(b",\"action\":")?;
    let action = c.string()?;
    c.lit(b",\"actor\":{\"type\":")?;
    let actor_type = c.string()?;
    c.lit(b",\"id\":")?;
    let actor_id = c.string()?;
    let actor_ip = c.optional(b",\"ip\":")?;
    let actor_user_agent = c.optional(b",\"user_agent\":")?;
    c.lit(b"},\"resource\":{\"type\":")?;
    let resource_type = c.string()?;
    c.lit(b",\"id\":")?;
    let resource_id = c.string()?;
    c.lit(b"},\"outcome\":")?;
    let outcome = Outcome::parse(&c.string()?)?;
    let reason = c.optional(b",\"reason\":")?;
    let trace = match c.optional(b",\"trace\":")? {
        // A version-00 traceparent that parses is its own canonical
        // spelling: lowercase hex of fixed widths.
        Some(s) => Some(TraceRef::parse(s)?),
        None => None,
    };
    let attributes = attributes(c, limits)?;
    c.lit(b"}")?;
    if c.at != c.text.len() {
        return None;
    }
    let ident = |s| ident(s, limits);
    let text = |s| free_text(s, limits);
    Some(EventRef {
        event_id,
        event_time,
        tenant: ident(tenant)?,
        source: ident(source)?,
        action: ident(action)?,
        actor_type: ident(actor_type)?,
        actor_id: ident(actor_id)?,
        actor_ip: match actor_ip {
            None => None,
            Some(s) => Some(canonical_ip(s)?),
        },
        actor_user_agent: text(actor_user_agent)?,
        resource_type: ident(resource_type)?,
        resource_id: ident(resource_id)?,
        outcome,
        reason: text(reason)?,
        trace,
        attributes,
    })
}

/// The attributes, if any: a non-empty object whose keys strictly increase
/// (sorted, each once), within the limits.
fn attributes<'a>(
    c: &mut Cursor<'a>,
    limits: &Limits,
) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
    let mut out: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
    if !c.eat(b",\"attributes\":{") {
        return Some(out);
    }
    loop {
        let k = c.string()?;
        c.lit(b":")?;
        let v = c.string()?;
        let ok = out.last().is_none_or(|(last, _)| *last < k)
            && !k.is_empty()
            && text_rule(&k, limits.max_attribute_key_len).is_none()
            && text_rule(&v, limits.max_attribute_value_len).is_none();
        if !ok || out.len() == limits.max_attributes {
            return None;
        }
        out.push((k, v));
        if !c.eat(b",") {
            break;
        }
    }
    c.lit(b"}")?;
    Some(out)
}

/// An event id in its one canonical spelling: lowercase, hyphenated.
fn lower_uuid(s: &str) -> Option<Uuid> {
    let shape = s.bytes().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
    });
    if !shape {
        return None;
    }
    uuid_rule(s).ok()
}

/// An address that is already in the form the general path would store:
/// dotted-quad text that parses (the parser refuses leading zeros), or IPv6
/// exactly as `Ipv6Addr`'s `Display` writes it.
fn canonical_ip(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some(s),
        IpAddr::V6(v6) => displays_as(&v6, &s).then_some(s),
    }
}

/// Whether `v6` is written as exactly `s`, without an allocation.
fn displays_as(v6: &Ipv6Addr, s: &str) -> bool {
    use std::io::Write;
    let mut buf = [0u8; 48];
    let mut w = &mut buf[..];
    if write!(w, "{v6}").is_err() {
        return false;
    }
    let len = 48 - w.len();
    buf.get(..len) == Some(s.as_bytes())
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, years 0001–9999, every field in range:
/// the one spelling `canonical::event_time` writes for the instant, in µs.
fn time(b: &[u8]) -> Option<i64> {
    let num = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if b.len() != 27 || seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, micro) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1 || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // A civil date to days since 1970-01-01 (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micro)
}

/// A position in the value.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Consumes `lit` if the value continues with it.
    fn eat(&mut self, lit: &[u8]) -> bool {
        // The literals are short: compared inline, without early exit, they
        // cost less than a call to memcmp each (as `canonical::Matcher`).
        let ok = self
            .rest()
            .get(..lit.len())
            .is_some_and(|head| head.iter().zip(lit).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0);
        if ok {
            self.at += lit.len();
        }
        ok
    }

    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// The next `n` bytes (ASCII where the caller checks their shape).
    fn fixed(&mut self, n: usize) -> Option<&'a str> {
        let s = self.text.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }

    /// `name` and the string after it, if the value continues with `name`.
    fn optional(&mut self, name: &[u8]) -> Option<Option<Cow<'a, str>>> {
        if self.eat(name) {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    /// A string escaped the canonical way (`canonical::contents`): only `"`
    /// and `\` are escaped here, since a valid event has no control
    /// character, and they are escaped as `\"` and `\\`; any other escape or
    /// a raw control byte is not canonical for a valid event.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.lit(b"\"")?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start + clean_prefix(bytes.get(start..)?);
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return self.text.get(start..i).map(Cow::Borrowed);
                }
                b'\\' => return self.unescape(start, i).map(Cow::Owned),
                0x00..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// The rest of a string whose first escape is at `i`.
    fn unescape(&mut self, start: usize, mut i: usize) -> Option<String> {
        let bytes = self.text.as_bytes();
        let mut out = Vec::with_capacity(i - start + 16);
        out.extend_from_slice(bytes.get(start..i)?);
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    let e = *bytes.get(i + 1)?;
                    if e != b'"' && e != b'\\' {
                        return None;
                    }
                    out.push(e);
                    i += 2;
                }
                0x00..=0x1f => return None,
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.at = i + 1;
        // Bytes of valid UTF-8 with ASCII escapes removed stay valid UTF-8.
        String::from_utf8(out).ok()
    }
}
