//! The records of a sealed range (a run of consecutive seals) → Parquet
//! bytes. Pure and deterministic: the same records and seals always give the
//! same bytes (no wall-clock time,
//! no host names), so a retry after a crash is recognisable by its checksum.

use std::sync::Arc;

use archive::derived_event_id;
use chain::link::{Chain, RecordRef};
use chain::manifest::Seals;
use chain::merkle;
use chain::seal::Seal;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use schemas::Limits;
use schemas::archive::{DeadLetter, EventsBuilder, KafkaRecord, to_dead_letter_batch};
use sha2::{Digest, Sha256};

use crate::ArchiverError;

/// Rows per row group at most.
pub const MAX_ROW_GROUP_ROWS: usize = 1_000_000;

/// The low-cardinality columns, the only ones dictionary-encoded (Parquet
/// leaf paths; a table without one of them ignores it).
pub const DICTIONARY_COLUMNS: &[&str] = &[
    "schema_version",
    "tenant",
    "source",
    "action",
    "actor_type",
    "resource_type",
    "outcome",
    "trace_flags",
    "attributes.entries.keys",
    "kafka_topic",
    "kafka_partition",
    "kafka_headers.list.item.key",
];

/// Columns without page statistics: free text and opaque bytes, whose
/// min/max prune nothing and cost a comparison of every value.
pub const NO_STATISTICS_COLUMNS: &[&str] = &[
    "actor_user_agent",
    "reason",
    "trace_id",
    "span_id",
    "attributes.entries.values",
    "kafka_value",
    "kafka_headers.list.item.value",
];

/// Integer columns whose neighbours are close (offsets count up, times
/// move little within a range): DELTA_BINARY_PACKED stores their
/// differences in a few bits each.
pub const DELTA_COLUMNS: &[&str] = &["kafka_offset", "kafka_timestamp", "event_time"];

/// One encoded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTable {
    /// The Parquet file.
    pub bytes: Vec<u8>,
    /// Rows in it.
    pub rows: usize,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
}

/// A sealed range, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Valid v1 events, in offset order; `None` if there are none.
    pub events: Option<EncodedTable>,
    /// Records that are not valid v1 events, in offset order.
    pub dead_letters: Option<EncodedTable>,
    /// The distinct `action`s of the events: their classes may lengthen the
    /// range's retention.
    pub actions: std::collections::BTreeSet<String>,
    /// The chain's record digest of every record, in offset order: the
    /// leaves of the partition's transparency log (`crate::translog`),
    /// computed anyway when the records are checked against their seals.
    pub record_digests: Vec<chain::link::Hash>,
}

fn mismatch(seal: &Seal, message: String) -> ArchiverError {
    ArchiverError::SealMismatch {
        topic: seal.topic.clone(),
        partition: seal.partition,
        seq: seal.seq,
        first: seal.first_offset,
        last: seal.last_offset,
        message,
    }
}

/// Checks that `records` are exactly what the run of `seals` covers: each
/// seal's records in turn, as [`check_against_seal`]. Returns their record
/// digests, in order.
pub fn check_against_seals(
    seals: &Seals,
    records: &[KafkaRecord],
) -> Result<Vec<chain::link::Hash>, ArchiverError> {
    check_seals(seals, records, true)
}

/// [`check_against_seals`], keeping the digests only if `keep` (they are
/// 32 bytes a record, held until the range is stored, and only the
/// transparency log needs them).
fn check_seals(
    seals: &Seals,
    records: &[KafkaRecord],
    keep: bool,
) -> Result<Vec<chain::link::Hash>, ArchiverError> {
    let mut rest = records;
    let mut digests = Vec::with_capacity(if keep { records.len() } else { 0 });
    for seal in seals {
        let n = usize::try_from(seal.count)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        let (these, after) = rest.split_at(n);
        let checked = check_against_seal(seal, these)?;
        if keep {
            digests.extend(checked);
        }
        rest = after;
    }
    match rest.first() {
        None => Ok(digests),
        Some(r) => Err(mismatch(
            seals.last(),
            format!(
                "{} record(s) from {}/{}@{} on are beyond the last seal",
                rest.len(),
                r.topic,
                r.partition,
                r.offset
            ),
        )),
    }
}

/// Checks that `records` are exactly what `seal` covers: same count, offsets
/// in range and increasing, same head and Merkle root. Returns the records'
/// digests (`chain::link::record_digest`), the seal's Merkle leaves.
pub fn check_against_seal(
    seal: &Seal,
    records: &[KafkaRecord],
) -> Result<Vec<chain::link::Hash>, ArchiverError> {
    if records.len() as u64 != seal.count {
        return Err(mismatch(
            seal,
            format!("{} records, seal counts {}", records.len(), seal.count),
        ));
    }
    let mut chain = Chain::resume(seal.prev_head, Some(seal.first_offset));
    let mut leaves = Vec::with_capacity(records.len());
    for r in records {
        if r.topic != seal.topic || r.partition != seal.partition || r.offset > seal.last_offset {
            return Err(mismatch(
                seal,
                format!(
                    "record {}/{}@{} is outside the seal",
                    r.topic, r.partition, r.offset
                ),
            ));
        }
        let leaf = chain
            .append(&RecordRef {
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
            })
            .map_err(|e| mismatch(seal, e.to_string()))?;
        leaves.push(leaf);
    }
    if chain.head() != seal.head {
        return Err(mismatch(seal, "recomputed head differs".into()));
    }
    if merkle::root(&leaves) != seal.merkle_root {
        return Err(mismatch(seal, "recomputed Merkle root differs".into()));
    }
    Ok(leaves)
}

fn properties(seals: &Seals, table: &str, format: &str) -> Result<WriterProperties, ArchiverError> {
    let hex = chain::hex::encode;
    let kv = |k: &str, v: String| KeyValue::new(format!("auditlog.{k}"), v);
    let json: Vec<String> = seals
        .iter()
        .map(|s| String::from_utf8_lossy(&s.to_json()).into_owned())
        .collect();
    let metadata = vec![
        kv("format", format.into()),
        kv("table", table.into()),
        kv("topic", seals.topic().to_owned()),
        kv("partition", seals.partition().to_string()),
        kv("first_offset", seals.first_offset().to_string()),
        kv("last_offset", seals.last_offset().to_string()),
        kv("count", seals.count().to_string()),
        kv("prev_head", hex(&seals.prev_head())),
        kv("head", hex(&seals.head())),
        kv("seals", format!("[{}]", json.join(","))),
    ];
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_size(MAX_ROW_GROUP_ROWS)
        .set_created_by("auditlog".into())
        .set_key_value_metadata(Some(metadata))
        // A dictionary costs a hash lookup per value and only pays where
        // values repeat (zstd already squeezes the rest as well).
        .set_dictionary_enabled(false);
    // `ColumnPath::from("a.b")` would be one part named "a.b".
    let path = |col: &str| ColumnPath::new(col.split('.').map(str::to_owned).collect());
    for col in DICTIONARY_COLUMNS {
        b = b.set_column_dictionary_enabled(path(col), true);
    }
    for col in NO_STATISTICS_COLUMNS {
        b = b.set_column_statistics_enabled(path(col), EnabledStatistics::None);
    }
    for col in DELTA_COLUMNS {
        b = b.set_column_encoding(path(col), Encoding::DELTA_BINARY_PACKED);
    }
    Ok(b.build())
}

fn write(
    batch: &arrow_array::RecordBatch,
    props: WriterProperties,
) -> Result<EncodedTable, ArchiverError> {
    let mut bytes = Vec::with_capacity(batch.get_array_memory_size() / 4 + 4096);
    let mut w = ArrowWriter::try_new(&mut bytes, Arc::clone(&batch.schema()), Some(props))?;
    w.write(batch)?;
    w.close()?;
    let sha256 = Sha256::digest(&bytes).into();
    Ok(EncodedTable {
        bytes,
        rows: batch.num_rows(),
        sha256,
    })
}

/// Writes a batch of archived events as the zstd Parquet object of the range
/// of `seals` (the Parquet step of `encode_range`, on its own for
/// benchmarks).
pub fn encode_events_table(
    seals: &Seals,
    batch: &arrow_array::RecordBatch,
) -> Result<EncodedTable, ArchiverError> {
    // Format 2: the table has `kafka_value_canonical` (docs/FORMAT.md §2).
    let format = if batch
        .schema()
        .column_with_name(schemas::canonical::MARKER_COLUMN)
        .is_some()
    {
        "2"
    } else {
        "1"
    };
    write(batch, properties(seals, "events", format)?)
}

/// Encodes the records of the range of `seals` (after checking them against
/// each seal).
pub fn encode_range(
    seals: &Seals,
    records: Vec<KafkaRecord>,
    limits: &Limits,
) -> Result<Encoded, ArchiverError> {
    encode_range_keeping(seals, records, limits, true, false)
}

/// [`encode_range`]; [`Encoded::record_digests`] is empty unless
/// `keep_digests` (the transparency log is on). A value that is the
/// canonical JSON of its row is rebuilt by readers, not stored
/// (docs/FORMAT.md §1a), unless `store_every_value`.
pub fn encode_range_keeping(
    seals: &Seals,
    records: Vec<KafkaRecord>,
    limits: &Limits,
    keep_digests: bool,
    store_every_value: bool,
) -> Result<Encoded, ArchiverError> {
    let record_digests = check_seals(seals, &records, keep_digests)?;
    let mut events = EventsBuilder::with_capacity(records.len());
    if store_every_value {
        events = events.storing_every_value();
    }
    let mut dead = Vec::new();
    let mut actions = std::collections::BTreeSet::new();
    let mut note = |action: &str| {
        if !actions.contains(action) {
            actions.insert(action.to_owned());
        }
    };
    // Valid events go straight from the record's bytes into the columns (no
    // owned event): a canonical one (nearly all: the gateway and `publish`
    // send only those) in one pass that also proves it canonical, any other
    // through the borrowing parse; anything that doubts is walked, which
    // names every problem for the dead-letter table.
    for r in &records {
        if let Some(c) = r
            .value
            .as_deref()
            .and_then(|v| schemas::parse_canonical_ref(v, limits))
        {
            note(&c.event().action);
            events.append_canonical(&c, r)?;
            continue;
        }
        let mint = || derived_event_id(&r.topic, r.partition, r.offset);
        if let Some(e) = r
            .value
            .as_deref()
            .and_then(|v| schemas::parse_event_ref(v, limits))
        {
            note(&e.action);
            events.append_ref(&e, &e.event_id.unwrap_or_else(mint), r)?;
            continue;
        }
        let parsed = match r.value.as_deref() {
            None => Err("value: [null_value] the record has no value".to_owned()),
            Some(v) => schemas::parse_event_with(v, limits, mint).map_err(|errs| {
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        };
        match parsed {
            Ok(event) => {
                note(&event.action);
                events.append(&event, r)?;
            }
            Err(reason) => dead.push(DeadLetter {
                reason,
                kafka: r.clone(),
            }),
        }
    }
    let events = if events.is_empty() {
        None
    } else {
        Some(encode_events_table(seals, &events.finish()?)?)
    };
    let dead_letters = if dead.is_empty() {
        None
    } else {
        Some(write(
            &to_dead_letter_batch(&dead)?,
            properties(seals, "dead_letters", "1")?,
        )?)
    };
    Ok(Encoded {
        events,
        dead_letters,
        actions,
        record_digests,
    })
}
