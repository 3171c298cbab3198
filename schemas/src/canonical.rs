//! The canonical JSON of an event (docs/FORMAT.md §1), written from the
//! fields of an archive row, and the values of an events batch with the
//! canonical ones rebuilt.
//!
//! The gateway and `auditlog publish` write [`AuditEvent::to_canonical_json`]
//! to Kafka. Everything in those bytes is also in the row's typed columns,
//! so the archiver stores the raw value only when it is *not* what
//! [`write_canonical`] gives for the row (a foreign producer, a minted
//! `event_id`, other spacing); otherwise `kafka_value` is null and
//! `kafka_value_canonical` is true (§2). Readers get the exact record bytes
//! back through [`Values`]. The chain then binds the typed columns too: a
//! column edited in place rebuilds other bytes and breaks the hash.
//!
//! [`AuditEvent::to_canonical_json`]: crate::AuditEvent::to_canonical_json

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BinaryArray, BooleanArray, RecordBatch};

use crate::batch::ArchiveError;
use crate::columns::{EventColumns, Text};

/// The name of the per-row marker column of the events table.
pub const MARKER_COLUMN: &str = "kafka_value_canonical";

/// The text fields of a row between `event_id` and `trace`, in canonical
/// order (tenant, source, action, actor type, id, ip, user agent, resource
/// type, id, outcome, reason): the text columns but the first and the
/// last two.
fn texts() -> &'static [Text] {
    &Text::ALL[1..12]
}

/// A row's `traceparent` parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParts<'r> {
    /// `trace_id`.
    pub trace_id: &'r str,
    /// `span_id`.
    pub span_id: &'r str,
    /// `trace_flags`.
    pub flags: i32,
}

/// The fields of one row the canonical JSON is written from (attributes
/// apart, as an iterator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalFields<'r> {
    /// `schema_version`.
    pub schema_version: i32,
    /// `event_id`, as stored.
    pub event_id: &'r str,
    /// `event_time`, µs since the epoch.
    pub event_time: i64,
    /// The text columns from `tenant` to `reason`, in schema order.
    pub texts: [Option<&'r str>; 11],
    /// The trace context, if the row has one.
    pub trace: Option<TraceParts<'r>>,
}

/// `0001-01-01T00:00:00.000000Z` and `9999-12-31T23:59:59.999999Z` in µs:
/// the years a canonical `event_time` may have (a row outside them keeps
/// its value).
const MIN_TIME: i64 = -62_135_596_800_000_000;
const MAX_TIME: i64 = 253_402_300_799_999_999;

/// Lowercase hex digits, for `\u00xx` escapes and the trace flags.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a row's canonical JSON cannot be written.
fn invalid(column: &'static str, reason: &str) -> ArchiveError {
    ArchiveError::Invalid {
        column,
        row: 0,
        reason: reason.into(),
    }
}

/// `s` as a JSON string, escaped exactly as `serde_json` escapes it: `"`,
/// `\\` and the control characters below U+0020 (as `\b \f \n \r \t`
/// where JSON has a short form, else `\u00xx` in lowercase hex); nothing
/// else.
fn string(out: &mut impl Sink, s: &str) {
    out.push(b'"');
    contents(out, s);
    out.push(b'"');
}

/// Whether any of the 8 bytes of `w` is below 0x20, `"` or `\\`
/// (the bit tricks of "Bit Twiddling Hacks": a zero byte of `w ^ c`, a byte
/// of `w` below `n`; exact for bytes below 0x80, and bytes from 0x80 up,
/// which are never escaped, can only make it say yes).
fn may_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) != 0
}

/// How many leading bytes of `bytes`, a multiple of 8, certainly need no
/// escape: most text has none, so it is skipped 8 bytes at a time.
pub(crate) fn clean_prefix(bytes: &[u8]) -> usize {
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        if may_escape(u64::from_le_bytes(w)) {
            break;
        }
        clean += 8;
    }
    clean
}

/// The inside of [`string`].
fn contents(out: &mut impl Sink, s: &str) {
    let bytes = s.as_bytes();
    let clean = clean_prefix(bytes);
    out.extend_from_slice(&bytes[..clean]);
    let bytes = &bytes[clean..];
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(&[
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `micros` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (proleptic Gregorian, UTC),
/// for the years 0001–9999 ([`MIN_TIME`]..=[`MAX_TIME`]); what
/// [`crate::EventTime`]'s `Display` writes, without its calendar library.
fn event_time(out: &mut impl Sink, micros: i64) {
    let days = micros.div_euclid(86_400_000_000);
    let in_day = micros.rem_euclid(86_400_000_000);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let second = in_day / 1_000_000;
    let fields: [(i64, usize, u8); 7] = [
        (year, 4, b'-'),
        (month, 2, b'-'),
        (day, 2, b'T'),
        (second / 3_600, 2, b':'),
        (second / 60 % 60, 2, b':'),
        (second % 60, 2, b'.'),
        (in_day % 1_000_000, 6, b'Z'),
    ];
    for (value, width, after) in fields {
        let mut digits = [b'0'; 6];
        let mut v = value;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + u8::try_from(v % 10).unwrap_or(0);
            v /= 10;
        }
        out.extend_from_slice(&digits[..width]);
        out.push(after);
    }
}

/// Writes the canonical JSON of the row (`out` is cleared first): the bytes
/// [`crate::AuditEvent::to_canonical_json`] gives for the event these
/// columns hold. Fails when a required text is null, the trace columns are
/// partly null or the flags are not a byte, or the time has no calendar
/// date.
pub fn write_canonical<'r>(
    f: &CanonicalFields<'r>,
    attributes: impl Iterator<Item = (&'r str, &'r str)>,
    out: &mut Vec<u8>,
) -> Result<(), ArchiveError> {
    out.clear();
    emit(f, attributes, out)
}

/// Whether `value` is exactly what [`write_canonical`] writes for the row,
/// compared as it is written (no copy); `false` too when the row cannot be
/// written.
pub fn is_canonical<'r>(
    f: &CanonicalFields<'r>,
    attributes: impl Iterator<Item = (&'r str, &'r str)>,
    value: &[u8],
) -> bool {
    let mut m = Matcher {
        rest: value,
        same: true,
    };
    emit(f, attributes, &mut m).is_ok() && m.same && m.rest.is_empty()
}

/// Where [`emit`] writes: a `Vec`, or a [`Matcher`].
trait Sink {
    fn extend_from_slice(&mut self, b: &[u8]);
    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }
}

impl Sink for Vec<u8> {
    fn extend_from_slice(&mut self, b: &[u8]) {
        Vec::extend_from_slice(self, b);
    }
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }
}

/// Compares what is written with a value, front to back.
struct Matcher<'v> {
    rest: &'v [u8],
    same: bool,
}

impl Sink for Matcher<'_> {
    fn extend_from_slice(&mut self, b: &[u8]) {
        // Most pieces are a few bytes (keys, quotes, digits): compared
        // inline, without early exit, they cost less than a call to memcmp
        // each, which profiles showed at 8% of the archiver.
        let same = match self.rest.split_at_checked(b.len()) {
            Some((head, rest)) if b.len() <= 32 => {
                let diff = head.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
                self.rest = rest;
                diff == 0
            }
            Some((head, rest)) => {
                self.rest = rest;
                head == b
            }
            None => false,
        };
        self.same &= same;
    }

    fn push(&mut self, b: u8) {
        match self.rest.split_first() {
            Some((&c, rest)) => {
                self.same &= c == b;
                self.rest = rest;
            }
            None => self.same = false,
        }
    }
}

fn emit<'r>(
    f: &CanonicalFields<'r>,
    attributes: impl Iterator<Item = (&'r str, &'r str)>,
    out: &mut impl Sink,
) -> Result<(), ArchiveError> {
    if !(MIN_TIME..=MAX_TIME).contains(&f.event_time) {
        return Err(invalid("event_time", "not in the years 0001-9999"));
    }
    out.extend_from_slice(b"{\"schema_version\":");
    let mut digits = [0u8; 11];
    let mut at = digits.len();
    let mut v = f.schema_version.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if f.schema_version < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b",\"event_id\":");
    string(out, f.event_id);
    out.extend_from_slice(b",\"event_time\":\"");
    event_time(out, f.event_time);
    out.push(b'"');
    // Name, whether it opens or closes an object around it, and whether it
    // may be absent.
    const LAYOUT: [(&str, &str, bool); 11] = [
        (",\"tenant\":", "", false),
        (",\"source\":", "", false),
        (",\"action\":", "", false),
        (",\"actor\":{\"type\":", "", false),
        (",\"id\":", "", false),
        (",\"ip\":", "", true),
        (",\"user_agent\":", "}", true),
        (",\"resource\":{\"type\":", "", false),
        (",\"id\":", "}", false),
        (",\"outcome\":", "", false),
        (",\"reason\":", "", true),
    ];
    for ((name, close, optional), (value, column)) in LAYOUT.iter().zip(f.texts.iter().zip(texts()))
    {
        match value {
            Some(v) => {
                out.extend_from_slice(name.as_bytes());
                string(out, v);
            }
            None if *optional => {}
            None => return Err(invalid(column.name(), "null")),
        }
        out.extend_from_slice(close.as_bytes());
    }
    if let Some(t) = f.trace {
        let flags = u8::try_from(t.flags).map_err(|_| invalid("trace_flags", "not a byte"))?;
        out.extend_from_slice(b",\"trace\":\"00-");
        contents(out, t.trace_id);
        out.push(b'-');
        contents(out, t.span_id);
        let flags = [
            b'-',
            HEX[usize::from(flags >> 4)],
            HEX[usize::from(flags & 0xf)],
            b'"',
        ];
        out.extend_from_slice(&flags);
    }
    let mut attributes = attributes.peekable();
    if attributes.peek().is_some() {
        out.extend_from_slice(b",\"attributes\":{");
        for (i, (k, v)) in attributes.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, k);
            out.push(b':');
            string(out, v);
        }
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}

/// The fields of row `row` of an events batch.
pub fn row_fields<'a>(
    c: &EventColumns<'a>,
    row: usize,
) -> Result<CanonicalFields<'a>, ArchiveError> {
    let trace = match (
        c.text(Text::TraceId, row),
        c.text(Text::SpanId, row),
        c.trace_flags(row),
    ) {
        (None, None, None) => None,
        (Some(trace_id), Some(span_id), Some(flags)) => Some(TraceParts {
            trace_id,
            span_id,
            flags,
        }),
        _ => return Err(invalid("trace_id", "the trace columns are partly null")),
    };
    Ok(CanonicalFields {
        schema_version: c.schema_version(row),
        event_id: c
            .text(Text::EventId, row)
            .ok_or_else(|| invalid("event_id", "null"))?,
        event_time: c.event_time(row),
        texts: std::array::from_fn(|i| c.text(texts()[i], row)),
        trace,
    })
}

/// The record values of a batch of the events or dead-letter table, row by
/// row: `kafka_value` as stored, or, where `kafka_value_canonical` is true,
/// rebuilt from the event columns. A batch without the marker column (the
/// dead-letter table, and events objects written before it existed) has
/// every value stored.
#[derive(Debug)]
pub struct Values<'a> {
    raw: &'a BinaryArray,
    canonical: Option<(&'a BooleanArray, EventColumns<'a>)>,
}

impl<'a> Values<'a> {
    /// The view of `batch`'s values; names the column that is missing or of
    /// the wrong type.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, ArchiveError> {
        let raw = crate::kafka_columns::KafkaColumns::new(batch).value()?;
        let canonical = match batch.column_by_name(MARKER_COLUMN) {
            None => None,
            Some(m) => Some((
                m.as_boolean_opt()
                    .ok_or(ArchiveError::ColumnType(MARKER_COLUMN))?,
                EventColumns::new(batch)?,
            )),
        };
        Ok(Self { raw, canonical })
    }

    /// Whether row `row`'s value is rebuilt rather than stored.
    pub fn is_canonical(&self, row: usize) -> bool {
        self.canonical
            .as_ref()
            .is_some_and(|(m, _)| m.is_valid(row) && m.value(row))
    }

    /// The record value of `row` (`None`: a tombstone). Fails, naming the
    /// column and row, when the marker is null, a canonical row also stores
    /// a value, or its columns cannot be written as canonical JSON.
    pub fn get(&self, row: usize) -> Result<Option<Cow<'a, [u8]>>, ArchiveError> {
        let mut out = Vec::with_capacity(512);
        Ok(match self.locate(row, &mut out)? {
            Value::Tombstone => None,
            Value::Stored(v) => Some(Cow::Borrowed(v)),
            Value::Rebuilt => Some(Cow::Owned(out)),
        })
    }

    /// Like [`Values::get`], rebuilding into `buf` (cleared first) instead
    /// of a new allocation: for a reader that hashes each value and moves
    /// on, one buffer serves every row.
    pub fn get_in<'b>(
        &'b self,
        row: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b [u8]>, ArchiveError> {
        Ok(match self.locate(row, buf)? {
            Value::Tombstone => None,
            Value::Stored(v) => Some(v),
            Value::Rebuilt => Some(buf.as_slice()),
        })
    }

    /// Where row `row`'s value is; a rebuilt one is written to `out`.
    fn locate(&self, row: usize, out: &mut Vec<u8>) -> Result<Value<'a>, ArchiveError> {
        let at_row = |e: ArchiveError| match e {
            ArchiveError::Invalid { column, reason, .. } => ArchiveError::Invalid {
                column,
                row,
                reason,
            },
            e => e,
        };
        let stored = if self.raw.is_null(row) {
            Value::Tombstone
        } else {
            Value::Stored(self.raw.value(row))
        };
        let Some((marker, columns)) = &self.canonical else {
            return Ok(stored);
        };
        if marker.is_null(row) {
            return Err(at_row(invalid(MARKER_COLUMN, "null")));
        }
        if !marker.value(row) {
            return Ok(stored);
        }
        if !matches!(stored, Value::Tombstone) {
            return Err(at_row(invalid(
                MARKER_COLUMN,
                "true, yet kafka_value is stored too",
            )));
        }
        let fields = row_fields(columns, row).map_err(at_row)?;
        write_canonical(&fields, columns.attributes(row), out).map_err(at_row)?;
        Ok(Value::Rebuilt)
    }
}

/// Where a row's value is, for [`Values::locate`].
enum Value<'a> {
    Tombstone,
    Stored(&'a [u8]),
    Rebuilt,
}

#[cfg(test)]
mod tests;
