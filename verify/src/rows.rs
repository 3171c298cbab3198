//! Reads the chained columns back out of an archive object.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use chain::link::{Hash, RecordRef, record_digest};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::archive::ArchiveError;
use schemas::canonical::{MARKER_COLUMN, Values};
use schemas::kafka_columns::KafkaColumns;

/// One archived record, as the chain sees it (`docs/FORMAT.md` §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `kafka_offset`.
    pub offset: i64,
    /// `kafka_timestamp` in ms.
    pub timestamp_ms: Option<i64>,
    /// `kafka_key`.
    pub key: Option<Vec<u8>>,
    /// `kafka_value`, or the canonical JSON rebuilt from the row's event
    /// columns where `kafka_value_canonical` is true (`docs/FORMAT.md` §1a).
    pub value: Option<Vec<u8>>,
}

impl Row {
    /// The row as the chain check needs it: its offset and record digest.
    pub fn hashed(&self) -> Hashed {
        Hashed::of(
            self.offset,
            self.timestamp_ms,
            self.key.as_deref(),
            self.value.as_deref(),
        )
    }
}

/// A row reduced to what the chain check needs: its offset and its record
/// digest (docs/FORMAT.md §3). A run holds these, 40 bytes a row, not the
/// rows' keys and values, while a manifest's objects are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    /// `kafka_offset`.
    pub offset: i64,
    /// The record digest of the row's offset, timestamp, key and value.
    pub digest: Hash,
}

impl Hashed {
    /// The digest of one row's chained fields.
    pub fn of(
        offset: i64,
        timestamp_ms: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Self {
        Hashed {
            offset,
            digest: record_digest(&RecordRef {
                offset,
                timestamp_ms,
                key,
                value,
            }),
        }
    }
}

const COLUMNS: [&str; 4] = [
    "kafka_offset",
    "kafka_timestamp",
    "kafka_key",
    "kafka_value",
];

/// Runs a decoder over untrusted bytes. The parquet crate can panic on
/// some corrupt files (found by `tests/fuzz_rows.rs`); a tampered object
/// must become a finding, never a crashed verifier.
fn guarded<T>(decode: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Err(format!("the Parquet decoder failed on this object: {what}"))
    })
}

/// Decodes an object's rows in stored order, or says why it cannot.
pub fn read_rows(bytes: Vec<u8>) -> Result<Vec<Row>, String> {
    guarded(move || read_rows_unguarded(bytes, append))
}

/// Like [`read_rows`], keeping only each row's offset and record digest
/// (what the chain check needs): no row's key or value is copied.
pub fn read_hashed(bytes: Vec<u8>) -> Result<Vec<Hashed>, String> {
    guarded(move || read_rows_unguarded(bytes, append_hashed))
}

fn read_rows_unguarded<T>(
    bytes: Vec<u8>,
    append: fn(&RecordBatch, &mut Vec<T>) -> Result<(), String>,
) -> Result<Vec<T>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("not Parquet: {e}"))?;
    let schema = builder.parquet_schema();
    let has =
        |name: &str| (0..schema.num_columns()).any(|i| schema.column(i).path().string() == name);
    // A table with rebuilt values needs its event columns to rebuild them.
    if has(MARKER_COLUMN) {
        return decode_all(builder, append);
    }
    let mut indices = Vec::new();
    for name in COLUMNS {
        let i = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == name)
            .ok_or_else(|| format!("no column {name}"))?;
        indices.push(i);
    }
    let mask = ProjectionMask::leaves(schema, indices);
    decode_all(builder.with_projection(mask), append)
}

fn decode_all<T>(
    builder: ParquetRecordBatchReaderBuilder<bytes::Bytes>,
    append: fn(&RecordBatch, &mut Vec<T>) -> Result<(), String>,
) -> Result<Vec<T>, String> {
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        append(&batch, &mut rows)?;
    }
    Ok(rows)
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    batch
        .column_by_name(name)
        .map(AsRef::as_ref)
        .ok_or_else(|| format!("no column {name}"))
}

/// What the verifier has always said of a chained column it cannot read.
fn unreadable(e: ArchiveError) -> String {
    match e {
        ArchiveError::MissingColumn(name) => format!("no column {name}"),
        ArchiveError::ColumnType(name) => {
            let wanted = match name {
                "kafka_offset" => "int64",
                "kafka_timestamp" => "timestamp(us)",
                _ => "binary",
            };
            format!("{name} is not {wanted}")
        }
        e => e.to_string(),
    }
}

fn append(batch: &RecordBatch, rows: &mut Vec<Row>) -> Result<(), String> {
    each_row(batch, |offset, timestamp_ms, key, value| {
        rows.push(Row {
            offset,
            timestamp_ms,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        });
    })
}

/// Like [`append`], keeping only each row's offset and record digest.
fn append_hashed(batch: &RecordBatch, rows: &mut Vec<Hashed>) -> Result<(), String> {
    each_row(batch, |offset, timestamp_ms, key, value| {
        rows.push(Hashed::of(offset, timestamp_ms, key, value));
    })
}

/// Calls `f` with every row's chained fields (offset, timestamp, key, the
/// value stored or rebuilt), in stored order.
fn each_row(
    batch: &RecordBatch,
    mut f: impl FnMut(i64, Option<i64>, Option<&[u8]>, Option<&[u8]>),
) -> Result<(), String> {
    let kafka = KafkaColumns::new(batch);
    let offsets = kafka.offset().map_err(unreadable)?;
    let ts = kafka.timestamp().map_err(unreadable)?;
    let keys = kafka.key().map_err(unreadable)?;
    let values = Values::new(batch).map_err(unreadable)?;
    // One buffer for every rebuilt value of the batch: each is hashed and dropped.
    let mut buf = Vec::with_capacity(1024);
    for i in 0..batch.num_rows() {
        if offsets.is_null(i) {
            return Err(format!("row {i}: kafka_offset is null"));
        }
        let value = values.get_in(i, &mut buf).map_err(|e| {
            format!(
                "the row at kafka_offset {}: its value cannot be rebuilt: {e}",
                offsets.value(i)
            )
        })?;
        f(
            offsets.value(i),
            ts.ms(i),
            (!keys.is_null(i)).then(|| keys.value(i)),
            value,
        );
    }
    Ok(())
}

/// An events object, decoded once and in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsObject {
    /// Its rows as the chain sees them (offset and record digest), in
    /// stored order: each row's key and value are dropped once hashed.
    pub rows: Vec<Hashed>,
    /// The distinct values of its `action` column (the event classes that
    /// may lengthen its range's retention).
    pub actions: std::collections::BTreeSet<String>,
    /// The first row whose derived columns are not what its `kafka_value`
    /// gives (offset, what), and how many rows disagree
    /// ([`crate::derived`]).
    pub derived: Option<(i64, String, usize)>,
}

/// Decodes an events object of `topic`/`partition` in full, or says why it
/// cannot: the chained columns exactly as [`read_rows`] reads them, and every
/// row's derived columns checked against its `kafka_value`.
pub fn read_events(bytes: Vec<u8>, topic: &str, partition: i32) -> Result<EventsObject, String> {
    guarded(move || {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .map_err(|e| format!("not Parquet: {e}"))?
            .build()
            .map_err(|e| e.to_string())?;
        let mut out = EventsObject {
            rows: Vec::new(),
            actions: std::collections::BTreeSet::new(),
            derived: None,
        };
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            append_hashed(&batch, &mut out.rows)?;
            if let Some(actions) = batch
                .column_by_name("action")
                .and_then(|a| a.as_string_opt::<i32>())
            {
                for a in actions.iter().flatten() {
                    if !out.actions.contains(a) {
                        out.actions.insert(a.to_owned());
                    }
                }
            }
            let found = crate::derived::check_derived(topic, partition, &batch);
            if let Some((offset, what, n)) = found {
                let seen = out.derived.get_or_insert((offset, what, 0));
                seen.2 += n;
            }
        }
        Ok(out)
    })
}

/// The `kafka_offset` of the row whose `event_id` is `id`, if any.
pub fn find_event(bytes: Vec<u8>, id: &str) -> Result<Option<i64>, String> {
    guarded(move || find_event_unguarded(bytes, id))
}

fn find_event_unguarded(bytes: Vec<u8>, id: &str) -> Result<Option<i64>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("not Parquet: {e}"))?;
    let schema = builder.parquet_schema();
    let indices: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| {
            matches!(
                schema.column(i).path().string().as_str(),
                "event_id" | "kafka_offset"
            )
        })
        .collect();
    let mask = ProjectionMask::leaves(schema, indices);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let ids = col(&batch, "event_id")?
            .as_string_opt::<i32>()
            .ok_or("event_id is not a string")?;
        let offsets = KafkaColumns::new(&batch).offset().map_err(unreadable)?;
        if let Some(i) = (0..batch.num_rows()).find(|&i| ids.value(i) == id) {
            return Ok(Some(offsets.value(i)));
        }
    }
    Ok(None)
}
