//! The Arrow schemas of the Parquet archive, and conversions between
//! records and Arrow [`RecordBatch`]es.
//!
//! Parsed event fields are flattened into top-level columns (`actor_id`,
//! `resource_type`, …) so every query engine can filter on them without
//! struct syntax. The `kafka_*` columns keep the record exactly as it was in
//! Kafka, including the raw key and value bytes the chain was computed over.
//! Records that are not valid v1 events go to the dead-letter table, which
//! has the `kafka_*` columns and a `reason`.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Int32Builder, MapBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use uuid::Uuid;

pub use crate::batch::ArchiveError;
use crate::batch::{column, utc_micros};
use crate::canonical::{CanonicalFields, MARKER_COLUMN, TraceParts, Values, is_canonical};
use crate::canonical_read::Canonical;
use crate::columns::{EventColumns, Text};
use crate::event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext};
use crate::fast::EventRef;
pub use crate::kafka_columns::KafkaRecord;
use crate::kafka_columns::{self, KafkaColumns};

/// One row of the events table: an event and the Kafka record it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRecord {
    /// The parsed event.
    pub event: AuditEvent,
    /// Its Kafka coordinates and raw bytes.
    pub kafka: KafkaRecord,
}

/// One row of the dead-letter table: a record that is not a valid v1 event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why it was refused (every failed rule, `; `-separated).
    pub reason: String,
    /// Its Kafka coordinates and raw bytes.
    pub kafka: KafkaRecord,
}

fn attributes_type() -> DataType {
    let entries = Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::Utf8, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// The Arrow schema of the events table: every value that is the canonical
/// JSON of its row rebuilt rather than stored (`kafka_value_canonical`).
pub fn archive_schema() -> SchemaRef {
    let mut fields = archive_schema_raw().fields().to_vec();
    fields.push(Arc::new(Field::new(
        MARKER_COLUMN,
        DataType::Boolean,
        false,
    )));
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of the events table with every value stored, as every
/// events object was written before `kafka_value_canonical` (format 1).
pub fn archive_schema_raw() -> SchemaRef {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        Field::new("schema_version", DataType::Int32, false),
        s("event_id", false),
        Field::new("event_time", utc_micros(), false),
        s("tenant", false),
        s("source", false),
        s("action", false),
        s("actor_type", false),
        s("actor_id", false),
        s("actor_ip", true),
        s("actor_user_agent", true),
        s("resource_type", false),
        s("resource_id", false),
        s("outcome", false),
        s("reason", true),
        s("trace_id", true),
        s("span_id", true),
        Field::new("trace_flags", DataType::Int32, true),
        Field::new("attributes", attributes_type(), false),
    ];
    fields.extend(kafka_columns::fields());
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of the dead-letter table.
pub fn dead_letter_schema() -> SchemaRef {
    let mut fields = vec![Field::new("reason", DataType::Utf8, false)];
    fields.extend(kafka_columns::fields());
    Arc::new(Schema::new(fields))
}

/// Builds one events batch, rows in the order given.
pub fn to_record_batch(rows: &[ArchivedRecord]) -> Result<RecordBatch, ArchiveError> {
    let mut b = EventsBuilder::with_capacity(rows.len());
    for r in rows {
        b.append(&r.event, &r.kafka)?;
    }
    b.finish()
}

/// Builds an events batch row by row, from owned events or from events that
/// borrow from the record's bytes ([`EventRef`]); both give the same row.
pub struct EventsBuilder {
    version: Int32Builder,
    time: TimestampMicrosecondBuilder,
    flags: Int32Builder,
    /// event_id tenant source action actor_type actor_id actor_ip
    /// actor_user_agent resource_type resource_id outcome reason trace_id span_id
    text: Vec<StringBuilder>,
    attrs: MapBuilder<StringBuilder, StringBuilder>,
    kafka: kafka_columns::Builder,
    /// `kafka_value_canonical`; `None` stores every value (format 1).
    canonical: Option<BooleanBuilder>,
}

impl std::fmt::Debug for EventsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsBuilder")
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

impl EventsBuilder {
    /// An empty builder with room for `n` rows.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            version: Int32Builder::with_capacity(n),
            time: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            flags: Int32Builder::with_capacity(n),
            text: (0..14)
                .map(|_| StringBuilder::with_capacity(n, n * 16))
                .collect(),
            attrs: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            kafka: kafka_columns::Builder::with_capacity(n),
            canonical: Some(BooleanBuilder::with_capacity(n)),
        }
    }

    /// Stores every value, canonical or not, without the marker column: the
    /// events table as it was before `kafka_value_canonical` (format 1).
    pub fn storing_every_value(mut self) -> Self {
        self.canonical = None;
        self
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.version.len()
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the row of an owned event.
    pub fn append(&mut self, e: &AuditEvent, kafka: &KafkaRecord) -> Result<(), ArchiveError> {
        let texts = [
            Some(e.tenant.as_str()),
            Some(e.source.as_str()),
            Some(e.action.as_str()),
            Some(e.actor.kind.as_str()),
            Some(e.actor.id.as_str()),
            e.actor.ip.as_deref(),
            e.actor.user_agent.as_deref(),
            Some(e.resource.kind.as_str()),
            Some(e.resource.id.as_str()),
            Some(e.outcome.as_str()),
            e.reason.as_deref(),
        ];
        let attrs = e.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let mut id = Uuid::encode_buffer();
        let row = CanonicalFields {
            schema_version: i32::from(e.schema_version),
            event_id: e.event_id.hyphenated().encode_lower(&mut id),
            event_time: e.event_time.micros(),
            texts,
            trace: e
                .trace
                .as_ref()
                .map(|t| trace_parts(&t.trace_id, &t.span_id, t.flags)),
        };
        self.append_row(&row, attrs, kafka, false)
    }

    /// Appends the row of a borrowed event whose id is `event_id` (its own,
    /// or the one minted for it).
    pub fn append_ref(
        &mut self,
        e: &EventRef<'_>,
        event_id: &Uuid,
        kafka: &KafkaRecord,
    ) -> Result<(), ArchiveError> {
        self.append_event_ref(e, event_id, kafka, false)
    }

    /// Appends the row of an event read from a value that is its canonical
    /// JSON: marked as rebuilt without writing the JSON again to compare,
    /// when `kafka`'s value is the very slice `c` was read from (else it is
    /// compared as [`EventsBuilder::append_ref`] does).
    pub fn append_canonical(
        &mut self,
        c: &Canonical<'_>,
        kafka: &KafkaRecord,
    ) -> Result<(), ArchiveError> {
        let read_from = kafka
            .value
            .as_deref()
            .is_some_and(|v| std::ptr::eq(v, c.bytes()));
        self.append_event_ref(c.event(), &c.id(), kafka, read_from)
    }

    fn append_event_ref(
        &mut self,
        e: &EventRef<'_>,
        event_id: &Uuid,
        kafka: &KafkaRecord,
        known_canonical: bool,
    ) -> Result<(), ArchiveError> {
        let texts = [
            Some(e.tenant.as_ref()),
            Some(e.source.as_ref()),
            Some(e.action.as_ref()),
            Some(e.actor_type.as_ref()),
            Some(e.actor_id.as_ref()),
            e.actor_ip.as_deref(),
            e.actor_user_agent.as_deref(),
            Some(e.resource_type.as_ref()),
            Some(e.resource_id.as_ref()),
            Some(e.outcome.as_str()),
            e.reason.as_deref(),
        ];
        let attrs = e.attributes.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        let mut id = Uuid::encode_buffer();
        let row = CanonicalFields {
            schema_version: i32::from(crate::SCHEMA_VERSION),
            event_id: event_id.hyphenated().encode_lower(&mut id),
            event_time: e.event_time.micros(),
            texts,
            trace: e
                .trace
                .as_ref()
                .map(|t| trace_parts(t.trace_id(), t.span_id(), t.flags())),
        };
        self.append_row(&row, attrs, kafka, known_canonical)
    }

    fn append_row<'r>(
        &mut self,
        row: &CanonicalFields<'r>,
        attrs: impl Iterator<Item = (&'r str, &'r str)> + Clone,
        kafka: &KafkaRecord,
        known_canonical: bool,
    ) -> Result<(), ArchiveError> {
        self.version.append_value(row.schema_version);
        self.time.append_value(row.event_time);
        let trace = [row.trace.map(|t| t.trace_id), row.trace.map(|t| t.span_id)];
        let values = std::iter::once(Some(row.event_id))
            .chain(row.texts)
            .chain(trace);
        for (b, v) in self.text.iter_mut().zip(values) {
            b.append_option(v);
        }
        self.flags.append_option(row.trace.map(|t| t.flags));
        for (k, v) in attrs.clone() {
            self.attrs.keys().append_value(k);
            self.attrs.values().append_value(v);
        }
        self.attrs.append(true)?;
        let canonical = match (&mut self.canonical, kafka.value.as_deref()) {
            (Some(marker), Some(value)) => {
                let same = known_canonical || is_canonical(row, attrs, value);
                marker.append_value(same);
                same
            }
            (Some(marker), None) => {
                marker.append_value(false);
                false
            }
            (None, _) => false,
        };
        self.kafka.append(kafka, !canonical)?;
        Ok(())
    }

    /// The batch of every row appended, in order.
    pub fn finish(mut self) -> Result<RecordBatch, ArchiveError> {
        let mut text = self
            .text
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef);
        let mut next = || text.next().ok_or(ArchiveError::ColumnType("internal"));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.version.finish()),
            next()?,
            Arc::new(self.time.finish()),
        ];
        for _ in 0..13 {
            columns.push(next()?);
        }
        columns.push(Arc::new(self.flags.finish()));
        columns.push(Arc::new(self.attrs.finish()));
        columns.extend(self.kafka.finish());
        let schema = match self.canonical.as_mut() {
            Some(marker) => {
                columns.push(Arc::new(marker.finish()));
                archive_schema()
            }
            None => archive_schema_raw(),
        };
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

fn trace_parts<'t>(trace_id: &'t str, span_id: &'t str, flags: u8) -> TraceParts<'t> {
    TraceParts {
        trace_id,
        span_id,
        flags: i32::from(flags),
    }
}

/// Builds one dead-letter batch, rows in the order given.
pub fn to_dead_letter_batch(rows: &[DeadLetter]) -> Result<RecordBatch, ArchiveError> {
    let mut reason = StringBuilder::with_capacity(rows.len(), rows.len() * 32);
    let mut kafka = kafka_columns::Builder::with_capacity(rows.len());
    for r in rows {
        reason.append_value(&r.reason);
        kafka.append(&r.kafka, true)?;
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(reason.finish())];
    columns.extend(kafka.finish());
    Ok(RecordBatch::try_new(dead_letter_schema(), columns)?)
}

/// Reads a dead-letter batch back, in row order.
pub fn dead_letters_from_batch(batch: &RecordBatch) -> Result<Vec<DeadLetter>, ArchiveError> {
    let reason = column(batch, "reason")?
        .as_string_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("reason"))?;
    let kafka = KafkaColumns::new(batch).records()?;
    Ok((0..batch.num_rows())
        .map(|row| DeadLetter {
            reason: reason.value(row).to_owned(),
            kafka: kafka.row(row),
        })
        .collect())
}

/// Reads an events batch back into records, in row order.
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<ArchivedRecord>, ArchiveError> {
    let c = EventColumns::new(batch)?;
    let kafka = KafkaColumns::new(batch).records()?;
    let values = Values::new(batch)?;
    let text = |t: Text, row: usize| c.text(t, row).unwrap_or_default().to_owned();
    let opt = |t: Text, row: usize| c.text(t, row).map(str::to_owned);
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let invalid = |column: &'static str, reason: &str| ArchiveError::Invalid {
            column,
            row,
            reason: reason.into(),
        };
        let event_id = Uuid::try_parse(c.text(Text::EventId, row).unwrap_or_default())
            .map_err(|_| invalid("event_id", "not a UUID"))?;
        let outcome = Outcome::parse(c.text(Text::Outcome, row).unwrap_or_default())
            .ok_or_else(|| invalid("outcome", "unknown outcome"))?;
        let trace = match (opt(Text::TraceId, row), opt(Text::SpanId, row)) {
            (Some(trace_id), Some(span_id)) => {
                let flags = u8::try_from(c.trace_flags(row).unwrap_or_default())
                    .map_err(|_| invalid("trace_flags", "not a byte"))?;
                Some(TraceContext {
                    trace_id,
                    span_id,
                    flags,
                })
            }
            _ => None,
        };
        let attributes = c
            .attributes(row)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let schema_version = u16::try_from(c.schema_version(row))
            .map_err(|_| invalid("schema_version", "out of range"))?;
        let event = AuditEvent {
            schema_version,
            event_id,
            event_time: EventTime(c.event_time(row)),
            tenant: text(Text::Tenant, row),
            source: text(Text::Source, row),
            action: text(Text::Action, row),
            actor: Actor {
                kind: text(Text::ActorType, row),
                id: text(Text::ActorId, row),
                ip: opt(Text::ActorIp, row),
                user_agent: opt(Text::ActorUserAgent, row),
            },
            resource: Resource {
                kind: text(Text::ResourceType, row),
                id: text(Text::ResourceId, row),
            },
            outcome,
            reason: opt(Text::Reason, row),
            trace,
            attributes,
        };
        let mut kafka = kafka.row(row);
        kafka.value = values.get(row)?.map(std::borrow::Cow::into_owned);
        out.push(ArchivedRecord { event, kafka });
    }
    Ok(out)
}
