//! The Arrow schema of the Parquet archive, and conversions between
//! [`ArchivedRecord`]s and Arrow [`RecordBatch`]es.
//!
//! Parsed event fields are flattened into top-level columns (`actor_id`,
//! `resource_type`, …) so every query engine can filter on them without
//! struct syntax. The `kafka_*` columns keep the record exactly as it was in
//! Kafka, including the raw key and value bytes the chain was computed over.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder,
    StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use uuid::Uuid;

use crate::event::{Actor, AuditEvent, EventTime, Outcome, Resource, TraceContext};

/// Why a record batch could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A column the archive schema requires is absent.
    #[error("column {0} is missing")]
    MissingColumn(&'static str),
    /// A column has a different Arrow type than the archive schema.
    #[error("column {0} has the wrong type")]
    ColumnType(&'static str),
    /// A value does not parse back into an event field.
    #[error("column {column}, row {row}: {reason}")]
    Invalid {
        /// The column.
        column: &'static str,
        /// The row index in the batch.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// Arrow refused the batch.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Where a record sat in Kafka, and its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The record timestamp in milliseconds since the epoch, if any.
    pub timestamp_ms: Option<i64>,
    /// The exact key bytes, if any.
    pub key: Option<Vec<u8>>,
    /// The exact value bytes.
    pub value: Vec<u8>,
    /// The record headers in order; values may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// One row of the archive: an event and the Kafka record it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRecord {
    /// The parsed event.
    pub event: AuditEvent,
    /// Its Kafka coordinates and raw bytes.
    pub kafka: KafkaRecord,
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
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

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Binary, true),
    ])
}

fn headers_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(header_fields()),
        true,
    )))
}

/// The Arrow schema of archive objects (events table).
pub fn archive_schema() -> SchemaRef {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
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
        s("kafka_topic", false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("kafka_timestamp", utc_micros(), true),
        Field::new("kafka_key", DataType::Binary, true),
        Field::new("kafka_value", DataType::Binary, false),
        Field::new("kafka_headers", headers_type(), false),
    ]))
}

/// Builds one record batch in the order given.
pub fn to_record_batch(rows: &[ArchivedRecord]) -> Result<RecordBatch, ArchiveError> {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut version, mut id, mut time) = (
        Int32Builder::with_capacity(n),
        strings(),
        TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
    );
    let (mut tenant, mut source, mut action) = (strings(), strings(), strings());
    let (mut actor_type, mut actor_id, mut actor_ip, mut actor_ua) =
        (strings(), strings(), strings(), strings());
    let (mut res_type, mut res_id, mut outcome, mut reason) =
        (strings(), strings(), strings(), strings());
    let (mut trace_id, mut span_id, mut flags) =
        (strings(), strings(), Int32Builder::with_capacity(n));
    let mut attrs = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let (mut k_topic, mut k_part, mut k_off) = (
        strings(),
        Int32Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let mut k_ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut k_key, mut k_val) = (BinaryBuilder::new(), BinaryBuilder::new());
    let header_builder = StructBuilder::new(
        header_fields(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(BinaryBuilder::new()),
        ],
    );
    let mut k_headers = ListBuilder::new(header_builder);

    for r in rows {
        let e = &r.event;
        version.append_value(i32::from(e.schema_version));
        id.append_value(e.event_id.hyphenated().to_string());
        time.append_value(e.event_time.micros());
        tenant.append_value(&e.tenant);
        source.append_value(&e.source);
        action.append_value(&e.action);
        actor_type.append_value(&e.actor.kind);
        actor_id.append_value(&e.actor.id);
        actor_ip.append_option(e.actor.ip.as_deref());
        actor_ua.append_option(e.actor.user_agent.as_deref());
        res_type.append_value(&e.resource.kind);
        res_id.append_value(&e.resource.id);
        outcome.append_value(e.outcome.as_str());
        reason.append_option(e.reason.as_deref());
        trace_id.append_option(e.trace.as_ref().map(|t| t.trace_id.as_str()));
        span_id.append_option(e.trace.as_ref().map(|t| t.span_id.as_str()));
        flags.append_option(e.trace.as_ref().map(|t| i32::from(t.flags)));
        for (k, v) in &e.attributes {
            attrs.keys().append_value(k);
            attrs.values().append_value(v);
        }
        attrs.append(true)?;
        let k = &r.kafka;
        k_topic.append_value(&k.topic);
        k_part.append_value(k.partition);
        k_off.append_value(k.offset);
        k_ts.append_option(k.timestamp_ms.map(|ms| ms.saturating_mul(1_000)));
        k_key.append_option(k.key.as_deref());
        k_val.append_value(&k.value);
        let hs = k_headers.values();
        for (name, value) in &k.headers {
            field_builder::<StringBuilder>(hs, 0)?.append_value(name);
            field_builder::<BinaryBuilder>(hs, 1)?.append_option(value.as_deref());
            hs.append(true);
        }
        k_headers.append(true);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(version.finish()),
        Arc::new(id.finish()),
        Arc::new(time.finish()),
        Arc::new(tenant.finish()),
        Arc::new(source.finish()),
        Arc::new(action.finish()),
        Arc::new(actor_type.finish()),
        Arc::new(actor_id.finish()),
        Arc::new(actor_ip.finish()),
        Arc::new(actor_ua.finish()),
        Arc::new(res_type.finish()),
        Arc::new(res_id.finish()),
        Arc::new(outcome.finish()),
        Arc::new(reason.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(flags.finish()),
        Arc::new(attrs.finish()),
        Arc::new(k_topic.finish()),
        Arc::new(k_part.finish()),
        Arc::new(k_off.finish()),
        Arc::new(k_ts.finish()),
        Arc::new(k_key.finish()),
        Arc::new(k_val.finish()),
        Arc::new(k_headers.finish()),
    ];
    Ok(RecordBatch::try_new(archive_schema(), columns)?)
}

fn field_builder<T: arrow_array::builder::ArrayBuilder>(
    b: &mut StructBuilder,
    i: usize,
) -> Result<&mut T, ArchiveError> {
    b.field_builder::<T>(i)
        .ok_or(ArchiveError::ColumnType("kafka_headers"))
}

/// Reads an archive record batch back into records, in row order.
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<ArchivedRecord>, ArchiveError> {
    let col = |name: &'static str| {
        batch
            .column_by_name(name)
            .ok_or(ArchiveError::MissingColumn(name))
    };
    let string = |name: &'static str| -> Result<_, ArchiveError> {
        col(name)?
            .as_string_opt::<i32>()
            .ok_or(ArchiveError::ColumnType(name))
    };
    let int32 = |name: &'static str| -> Result<_, ArchiveError> {
        col(name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or(ArchiveError::ColumnType(name))
    };
    let micros = |name: &'static str| -> Result<_, ArchiveError> {
        col(name)?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or(ArchiveError::ColumnType(name))
    };
    let binary = |name: &'static str| -> Result<_, ArchiveError> {
        col(name)?
            .as_binary_opt::<i32>()
            .ok_or(ArchiveError::ColumnType(name))
    };
    let (version, id, time) = (
        int32("schema_version")?,
        string("event_id")?,
        micros("event_time")?,
    );
    let (tenant, source, action) = (string("tenant")?, string("source")?, string("action")?);
    let (actor_type, actor_id) = (string("actor_type")?, string("actor_id")?);
    let (actor_ip, actor_ua) = (string("actor_ip")?, string("actor_user_agent")?);
    let (res_type, res_id, outcome) = (
        string("resource_type")?,
        string("resource_id")?,
        string("outcome")?,
    );
    let (reason, trace_id, span_id, flags) = (
        string("reason")?,
        string("trace_id")?,
        string("span_id")?,
        int32("trace_flags")?,
    );
    let attrs = col("attributes")?
        .as_map_opt()
        .ok_or(ArchiveError::ColumnType("attributes"))?;
    let attr_keys = attrs
        .keys()
        .as_string_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("attributes"))?;
    let attr_vals = attrs
        .values()
        .as_string_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("attributes"))?;
    let (k_topic, k_part) = (string("kafka_topic")?, int32("kafka_partition")?);
    let k_off = col("kafka_offset")?
        .as_primitive_opt::<Int64Type>()
        .ok_or(ArchiveError::ColumnType("kafka_offset"))?;
    let (k_ts, k_key, k_val) = (
        micros("kafka_timestamp")?,
        binary("kafka_key")?,
        binary("kafka_value")?,
    );
    let k_headers = col("kafka_headers")?
        .as_list_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("kafka_headers"))?;
    let h_struct = k_headers
        .values()
        .as_struct_opt()
        .ok_or(ArchiveError::ColumnType("kafka_headers"))?;
    let h_keys = h_struct
        .column(0)
        .as_string_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("kafka_headers"))?;
    let h_vals = h_struct
        .column(1)
        .as_binary_opt::<i32>()
        .ok_or(ArchiveError::ColumnType("kafka_headers"))?;

    let opt = |a: &arrow_array::StringArray, row: usize| {
        (!a.is_null(row)).then(|| a.value(row).to_owned())
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let invalid = |column: &'static str, reason: &str| ArchiveError::Invalid {
            column,
            row,
            reason: reason.into(),
        };
        let event_id =
            Uuid::try_parse(id.value(row)).map_err(|_| invalid("event_id", "not a UUID"))?;
        let outcome = Outcome::parse(outcome.value(row))
            .ok_or_else(|| invalid("outcome", "unknown outcome"))?;
        let trace = match (opt(trace_id, row), opt(span_id, row)) {
            (Some(trace_id), Some(span_id)) => {
                let flags = u8::try_from(flags.value(row))
                    .map_err(|_| invalid("trace_flags", "not a byte"))?;
                Some(TraceContext {
                    trace_id,
                    span_id,
                    flags,
                })
            }
            _ => None,
        };
        let (start, end) = (attrs.value_offsets()[row], attrs.value_offsets()[row + 1]);
        let attributes = (start..end)
            .map(|i| {
                let i = usize::try_from(i).unwrap_or_default();
                (attr_keys.value(i).to_owned(), attr_vals.value(i).to_owned())
            })
            .collect();
        let schema_version = u16::try_from(version.value(row))
            .map_err(|_| invalid("schema_version", "out of range"))?;
        let event = AuditEvent {
            schema_version,
            event_id,
            event_time: EventTime(time.value(row)),
            tenant: tenant.value(row).to_owned(),
            source: source.value(row).to_owned(),
            action: action.value(row).to_owned(),
            actor: Actor {
                kind: actor_type.value(row).to_owned(),
                id: actor_id.value(row).to_owned(),
                ip: opt(actor_ip, row),
                user_agent: opt(actor_ua, row),
            },
            resource: Resource {
                kind: res_type.value(row).to_owned(),
                id: res_id.value(row).to_owned(),
            },
            outcome,
            reason: opt(reason, row),
            trace,
            attributes,
        };
        let (h_start, h_end) = (
            k_headers.value_offsets()[row],
            k_headers.value_offsets()[row + 1],
        );
        let headers = (h_start..h_end)
            .map(|i| {
                let i = usize::try_from(i).unwrap_or_default();
                (
                    h_keys.value(i).to_owned(),
                    (!h_vals.is_null(i)).then(|| h_vals.value(i).to_vec()),
                )
            })
            .collect();
        let kafka = KafkaRecord {
            topic: k_topic.value(row).to_owned(),
            partition: k_part.value(row),
            offset: k_off.value(row),
            timestamp_ms: (!k_ts.is_null(row)).then(|| k_ts.value(row) / 1_000),
            key: (!k_key.is_null(row)).then(|| k_key.value(row).to_vec()),
            value: k_val.value(row).to_vec(),
            headers,
        };
        out.push(ArchivedRecord { event, kafka });
    }
    Ok(out)
}
