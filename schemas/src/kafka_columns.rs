//! The `kafka_*` columns every archive table carries: where a record sat in
//! Kafka and its exact bytes. Shared by the events and dead-letter tables.
//!
//! [`KafkaColumns`] is the one way to read them back, for this crate
//! (`archive::from_record_batch`), the archiver's tests and the
//! verifier (the chained columns and the derived-columns check). Kafka gives
//! timestamps in milliseconds and the archive stores microseconds: the two
//! conversions are [`ms_to_micros`] and [`micros_to_ms`], here only.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, GenericListArray, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields};

use crate::batch::{ArchiveError, column, utc_micros};

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

/// A Kafka timestamp (ms) as the archive stores it (µs), saturating.
pub fn ms_to_micros(ms: i64) -> i64 {
    ms.saturating_mul(1_000)
}

/// A stored timestamp (µs) as the Kafka timestamp (ms) it came from: the
/// millisecond the instant falls in (floor division). For everything
/// [`ms_to_micros`] writes this is the exact inverse; a foreign value that is
/// not a whole millisecond before 1970 goes to the millisecond before it,
/// not the one after.
pub fn micros_to_ms(micros: i64) -> i64 {
    micros.div_euclid(1_000)
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

    /// Appends `k`; its value is stored only if `store_value` (otherwise
    /// null: the events table rebuilds it, `crate::canonical`).
    pub(crate) fn append(
        &mut self,
        k: &KafkaRecord,
        store_value: bool,
    ) -> Result<(), ArchiveError> {
        self.topic.append_value(&k.topic);
        self.partition.append_value(k.partition);
        self.offset.append_value(k.offset);
        self.timestamp
            .append_option(k.timestamp_ms.map(ms_to_micros));
        self.key.append_option(k.key.as_deref());
        self.value
            .append_option(k.value.as_deref().filter(|_| store_value));
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

/// A borrowing view of the `kafka_*` columns of a batch. Each column is
/// found and typed when asked for, so a reader that projected only some of
/// them (the verifier reads the four the chain covers) uses the same view;
/// a missing column is [`ArchiveError::MissingColumn`], one of another type
/// [`ArchiveError::ColumnType`].
#[derive(Debug, Clone, Copy)]
pub struct KafkaColumns<'a> {
    batch: &'a RecordBatch,
}

/// `kafka_timestamp`, read as the milliseconds Kafka gave ([`micros_to_ms`]).
#[derive(Debug, Clone, Copy)]
pub struct Timestamps<'a>(&'a TimestampMicrosecondArray);

impl Timestamps<'_> {
    /// The timestamp at `row` in ms; `None` when null.
    pub fn ms(&self, row: usize) -> Option<i64> {
        (!self.0.is_null(row)).then(|| micros_to_ms(self.0.value(row)))
    }
}

/// `kafka_headers`: per row, the headers in order.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    lists: &'a GenericListArray<i32>,
    keys: &'a StringArray,
    values: &'a BinaryArray,
}

impl<'a> Headers<'a> {
    /// The headers at `row`, in order; values may be null.
    pub fn row(&self, row: usize) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let offsets = self.lists.value_offsets();
        let (start, end) = (offsets[row], offsets[row + 1]);
        let (keys, values) = (self.keys, self.values);
        (start..end).map(move |i| {
            let i = usize::try_from(i).unwrap_or_default();
            (keys.value(i), (!values.is_null(i)).then(|| values.value(i)))
        })
    }
}

impl<'a> KafkaColumns<'a> {
    /// The view of `batch`'s `kafka_*` columns.
    pub fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    /// `kafka_topic`.
    pub fn topic(&self) -> Result<&'a StringArray, ArchiveError> {
        column(self.batch, "kafka_topic")?
            .as_string_opt::<i32>()
            .ok_or(ArchiveError::ColumnType("kafka_topic"))
    }

    /// `kafka_partition`.
    pub fn partition(&self) -> Result<&'a Int32Array, ArchiveError> {
        column(self.batch, "kafka_partition")?
            .as_primitive_opt::<Int32Type>()
            .ok_or(ArchiveError::ColumnType("kafka_partition"))
    }

    /// `kafka_offset`.
    pub fn offset(&self) -> Result<&'a Int64Array, ArchiveError> {
        column(self.batch, "kafka_offset")?
            .as_primitive_opt::<Int64Type>()
            .ok_or(ArchiveError::ColumnType("kafka_offset"))
    }

    /// `kafka_timestamp`.
    pub fn timestamp(&self) -> Result<Timestamps<'a>, ArchiveError> {
        column(self.batch, "kafka_timestamp")?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .map(Timestamps)
            .ok_or(ArchiveError::ColumnType("kafka_timestamp"))
    }

    /// `kafka_key`.
    pub fn key(&self) -> Result<&'a BinaryArray, ArchiveError> {
        self.binary("kafka_key")
    }

    /// `kafka_value`.
    pub fn value(&self) -> Result<&'a BinaryArray, ArchiveError> {
        self.binary("kafka_value")
    }

    fn binary(&self, name: &'static str) -> Result<&'a BinaryArray, ArchiveError> {
        column(self.batch, name)?
            .as_binary_opt::<i32>()
            .ok_or(ArchiveError::ColumnType(name))
    }

    /// `kafka_headers`.
    pub fn headers(&self) -> Result<Headers<'a>, ArchiveError> {
        let wrong = || ArchiveError::ColumnType("kafka_headers");
        let lists = column(self.batch, "kafka_headers")?
            .as_list_opt::<i32>()
            .ok_or_else(wrong)?;
        let h = lists.values().as_struct_opt().ok_or_else(wrong)?;
        Ok(Headers {
            lists,
            keys: h.column(0).as_string_opt::<i32>().ok_or_else(wrong)?,
            values: h.column(1).as_binary_opt::<i32>().ok_or_else(wrong)?,
        })
    }

    /// Every column at once, for reading whole records back.
    pub fn records(&self) -> Result<Records<'a>, ArchiveError> {
        Ok(Records {
            headers: self.headers()?,
            topic: self.topic()?,
            partition: self.partition()?,
            offset: self.offset()?,
            timestamp: self.timestamp()?,
            key: self.key()?,
            value: self.value()?,
        })
    }
}

/// Every `kafka_*` column of a batch, typed: owned records row by row.
#[derive(Debug, Clone, Copy)]
pub struct Records<'a> {
    topic: &'a StringArray,
    partition: &'a Int32Array,
    offset: &'a Int64Array,
    timestamp: Timestamps<'a>,
    key: &'a BinaryArray,
    value: &'a BinaryArray,
    headers: Headers<'a>,
}

impl Records<'_> {
    /// The record at `row`, copied out.
    pub fn row(&self, row: usize) -> KafkaRecord {
        let bytes = |a: &BinaryArray| (!a.is_null(row)).then(|| a.value(row).to_vec());
        KafkaRecord {
            topic: self.topic.value(row).to_owned(),
            partition: self.partition.value(row),
            offset: self.offset.value(row),
            timestamp_ms: self.timestamp.ms(row),
            key: bytes(self.key),
            value: bytes(self.value),
            headers: self
                .headers
                .row(row)
                .map(|(k, v)| (k.to_owned(), v.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{micros_to_ms, ms_to_micros};

    #[test]
    fn milliseconds_survive_the_round_trip_through_microseconds() {
        for ms in [0, 1, 999, 1_795_737_599_999, -1, -1_000, -1_001] {
            assert_eq!(micros_to_ms(ms_to_micros(ms)), ms, "{ms}");
        }
    }

    #[test]
    fn a_partial_millisecond_goes_to_the_millisecond_it_falls_in() {
        assert_eq!(micros_to_ms(1_500), 1);
        assert_eq!(micros_to_ms(-1), -1);
        assert_eq!(micros_to_ms(-1_500), -2);
    }
}
