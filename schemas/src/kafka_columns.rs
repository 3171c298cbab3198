//! The `kafka_*` columns every archive table carries: where a record sat in
//! Kafka and its exact bytes. Shared by the events and dead-letter tables.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, GenericListArray, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Fields, TimeUnit};

use crate::archive::ArchiveError;

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
    /// The exact value bytes, if any (a null value is a tombstone).
    pub value: Option<Vec<u8>>,
    /// The record headers in order; values may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Timestamp(µs, UTC).
pub(crate) fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Binary, true),
    ])
}

/// The `kafka_*` fields, in column order.
pub(crate) fn fields() -> Vec<Field> {
    vec![
        Field::new("kafka_topic", DataType::Utf8, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("kafka_timestamp", utc_micros(), true),
        Field::new("kafka_key", DataType::Binary, true),
        Field::new("kafka_value", DataType::Binary, true),
        Field::new(
            "kafka_headers",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(header_fields()),
                true,
            ))),
            false,
        ),
    ]
}

/// Builds the `kafka_*` columns row by row.
pub(crate) struct Builder {
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    timestamp: TimestampMicrosecondBuilder,
    key: BinaryBuilder,
    value: BinaryBuilder,
    headers: ListBuilder<StructBuilder>,
}

impl Builder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let header_builder = StructBuilder::new(
            header_fields(),
            vec![
                Box::new(StringBuilder::new()),
                Box::new(BinaryBuilder::new()),
            ],
        );
        Self {
            topic: StringBuilder::with_capacity(n, n * 16),
            partition: Int32Builder::with_capacity(n),
            offset: Int64Builder::with_capacity(n),
            timestamp: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            key: BinaryBuilder::with_capacity(n, n * 16),
            value: BinaryBuilder::with_capacity(n, n * 400),
            headers: ListBuilder::new(header_builder),
        }
    }

    pub(crate) fn append(&mut self, k: &KafkaRecord) -> Result<(), ArchiveError> {
        self.topic.append_value(&k.topic);
        self.partition.append_value(k.partition);
        self.offset.append_value(k.offset);
        self.timestamp
            .append_option(k.timestamp_ms.map(|ms| ms.saturating_mul(1_000)));
        self.key.append_option(k.key.as_deref());
        self.value.append_option(k.value.as_deref());
        let hs = self.headers.values();
        for (name, value) in &k.headers {
            hs.field_builder::<StringBuilder>(0)
                .ok_or(ArchiveError::ColumnType("kafka_headers"))?
                .append_value(name);
            hs.field_builder::<BinaryBuilder>(1)
                .ok_or(ArchiveError::ColumnType("kafka_headers"))?
                .append_option(value.as_deref());
            hs.append(true);
        }
        self.headers.append(true);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.headers.finish()),
        ]
    }
}

/// Reads the `kafka_*` columns of a batch.
pub(crate) struct Reader<'a> {
    topic: &'a StringArray,
    partition: &'a Int32Array,
    offset: &'a Int64Array,
    timestamp: &'a arrow_array::PrimitiveArray<TimestampMicrosecondType>,
    key: &'a BinaryArray,
    value: &'a BinaryArray,
    headers: &'a GenericListArray<i32>,
    header_keys: &'a StringArray,
    header_values: &'a BinaryArray,
}

pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a ArrayRef, ArchiveError> {
    batch
        .column_by_name(name)
        .ok_or(ArchiveError::MissingColumn(name))
}

impl<'a> Reader<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Result<Self, ArchiveError> {
        let wrong = ArchiveError::ColumnType;
        let headers = column(batch, "kafka_headers")?
            .as_list_opt::<i32>()
            .ok_or(wrong("kafka_headers"))?;
        let h = headers
            .values()
            .as_struct_opt()
            .ok_or(wrong("kafka_headers"))?;
        Ok(Self {
            topic: column(batch, "kafka_topic")?
                .as_string_opt::<i32>()
                .ok_or(wrong("kafka_topic"))?,
            partition: column(batch, "kafka_partition")?
                .as_primitive_opt::<Int32Type>()
                .ok_or(wrong("kafka_partition"))?,
            offset: column(batch, "kafka_offset")?
                .as_primitive_opt::<Int64Type>()
                .ok_or(wrong("kafka_offset"))?,
            timestamp: column(batch, "kafka_timestamp")?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or(wrong("kafka_timestamp"))?,
            key: column(batch, "kafka_key")?
                .as_binary_opt::<i32>()
                .ok_or(wrong("kafka_key"))?,
            value: column(batch, "kafka_value")?
                .as_binary_opt::<i32>()
                .ok_or(wrong("kafka_value"))?,
            headers,
            header_keys: h
                .column(0)
                .as_string_opt::<i32>()
                .ok_or(wrong("kafka_headers"))?,
            header_values: h
                .column(1)
                .as_binary_opt::<i32>()
                .ok_or(wrong("kafka_headers"))?,
        })
    }

    pub(crate) fn row(&self, row: usize) -> KafkaRecord {
        let offsets = self.headers.value_offsets();
        let (start, end) = (offsets[row], offsets[row + 1]);
        let headers = (start..end)
            .map(|i| {
                let i = usize::try_from(i).unwrap_or_default();
                let v =
                    (!self.header_values.is_null(i)).then(|| self.header_values.value(i).to_vec());
                (self.header_keys.value(i).to_owned(), v)
            })
            .collect();
        KafkaRecord {
            topic: self.topic.value(row).to_owned(),
            partition: self.partition.value(row),
            offset: self.offset.value(row),
            timestamp_ms: (!self.timestamp.is_null(row)).then(|| self.timestamp.value(row) / 1_000),
            key: (!self.key.is_null(row)).then(|| self.key.value(row).to_vec()),
            value: (!self.value.is_null(row)).then(|| self.value.value(row).to_vec()),
            headers,
        }
    }
}
