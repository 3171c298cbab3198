//! Parquet encoding: round trip, determinism, dead letters, seal checks.

use archiver::encode::encode_range;
use bytes_reader::read_all;
use chain::canonical::Tip;
use chain::link::{Chain, RecordRef};
use chain::manifest::Seals;
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind, signing_key};
use schemas::Limits;
use schemas::archive::{KafkaRecord, dead_letters_from_batch, from_record_batch};

mod bytes_reader {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    pub fn read_all(bytes: &[u8]) -> (Vec<arrow_array::RecordBatch>, Vec<(String, String)>) {
        let b = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
            .expect("parquet");
        let kv = b
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let batches = b
            .build()
            .expect("reader")
            .collect::<Result<Vec<_>, _>>()
            .expect("batches");
        (batches, kv)
    }
}

fn records(values: &[Option<&[u8]>]) -> Vec<KafkaRecord> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| KafkaRecord {
            topic: "audit.events".into(),
            partition: 2,
            offset: 100 + i as i64,
            timestamp_ms: Some(1_795_700_000_000 + i as i64),
            key: Some(b"acme".to_vec()),
            value: v.map(<[u8]>::to_vec),
            headers: vec![],
        })
        .collect()
}

fn seal_for(records: &[KafkaRecord]) -> Seal {
    seal_after(None, records)
}

/// The seal of `records` after `prev` (or seq 5 at offset 100).
fn seal_after(prev: Option<&Seal>, records: &[KafkaRecord]) -> Seal {
    let tip = prev.map_or(
        Tip {
            next_seq: 5,
            head: [7; 32],
            next_offset: Some(100),
        },
        |p| Tip {
            next_seq: p.seq + 2,
            head: p.head,
            next_offset: Some(p.last_offset + 1),
        },
    );
    let first = tip.next_offset.unwrap_or(100);
    let mut chain = Chain::resume(tip.head, tip.next_offset);
    let leaves: Vec<_> = records
        .iter()
        .map(|r| {
            chain
                .append(&RecordRef {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                })
                .expect("append")
        })
        .collect();
    let mut s = Seal {
        kind: SealKind::Data,
        topic: "audit.events".into(),
        partition: 2,
        seq: tip.next_seq,
        first_offset: first,
        last_offset: first + records.len() as i64 - 1,
        count: records.len() as u64,
        prev_head: tip.head,
        head: chain.head(),
        merkle_root: merkle::root(&leaves),
        high_watermark: 200,
        sealed_at_ms: 1,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    s.sign(&signing_key(&[3; 32]).expect("key"));
    s
}

fn sample_values(n: usize) -> Vec<Vec<u8>> {
    schemas::sample::sample_events(n, 9, 4)
        .map(|e| e.to_canonical_json())
        .collect()
}

#[test]
fn events_round_trip_through_parquet_with_seal_metadata() {
    let values = sample_values(50);
    let recs = records(
        &values
            .iter()
            .map(|v| Some(v.as_slice()))
            .collect::<Vec<_>>(),
    );
    let seal = seal_for(&recs);
    let enc =
        encode_range(&Seals::one(seal.clone()), recs.to_vec(), &Limits::default()).expect("encode");
    assert!(enc.dead_letters.is_none());
    let table = enc.events.expect("events");
    assert_eq!(table.rows, 50);
    let (batches, kv) = read_all(&table.bytes);
    let rows: Vec<_> = batches
        .iter()
        .flat_map(|b| from_record_batch(b).expect("rows"))
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.kafka.clone()).collect::<Vec<_>>(),
        recs
    );
    let kv: std::collections::BTreeMap<_, _> = kv.into_iter().collect();
    assert_eq!(
        kv.get("auditlog.head"),
        Some(&chain::hex::encode(&seal.head))
    );
    assert_eq!(
        kv.get("auditlog.first_offset").map(String::as_str),
        Some("100")
    );
}

#[test]
fn encoding_is_deterministic() {
    let values = sample_values(20);
    let recs = records(
        &values
            .iter()
            .map(|v| Some(v.as_slice()))
            .collect::<Vec<_>>(),
    );
    let seal = seal_for(&recs);
    let a =
        encode_range(&Seals::one(seal.clone()), recs.to_vec(), &Limits::default()).expect("encode");
    let b =
        encode_range(&Seals::one(seal.clone()), recs.to_vec(), &Limits::default()).expect("encode");
    assert_eq!(a, b);
}

#[test]
fn malformed_records_become_dead_letters_with_a_reason() {
    let good = sample_values(2);
    let recs = records(&[
        Some(good[0].as_slice()),
        Some(b"{not json"),
        None,
        Some(good[1].as_slice()),
    ]);
    let seal = seal_for(&recs);
    let enc =
        encode_range(&Seals::one(seal.clone()), recs.to_vec(), &Limits::default()).expect("encode");
    assert_eq!(enc.events.as_ref().map(|t| t.rows), Some(2));
    let dead = enc.dead_letters.expect("dead letters");
    let (batches, _) = read_all(&dead.bytes);
    let rows: Vec<_> = batches
        .iter()
        .flat_map(|b| dead_letters_from_batch(b).expect("rows"))
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.kafka.offset).collect::<Vec<_>>(),
        [101, 102]
    );
    assert!(rows[0].reason.contains("json_syntax"), "{}", rows[0].reason);
    assert!(rows[1].reason.contains("null_value"), "{}", rows[1].reason);
    assert_eq!(rows[1].kafka.value, None);
}

#[test]
fn records_that_do_not_match_the_seal_are_refused() {
    let values = sample_values(5);
    let recs = records(
        &values
            .iter()
            .map(|v| Some(v.as_slice()))
            .collect::<Vec<_>>(),
    );
    let seal = seal_for(&recs);
    let mut tampered = recs.clone();
    if let Some(v) = tampered[3].value.as_mut() {
        v[10] ^= 1;
    }
    assert!(
        encode_range(
            &Seals::one(seal.clone()),
            tampered.to_vec(),
            &Limits::default()
        )
        .is_err()
    );
    assert!(
        encode_range(
            &Seals::one(seal.clone()),
            recs[..4].to_vec(),
            &Limits::default()
        )
        .is_err()
    );
}

/// Leaves a sample object where `AUDITLOG_WRITE_SAMPLE` points, for manual
/// inspection with pyarrow or duckdb; does nothing otherwise.
#[test]
fn write_sample_object_when_asked() {
    let Ok(path) = std::env::var("AUDITLOG_WRITE_SAMPLE") else {
        return;
    };
    let values = sample_values(1000);
    let recs = records(
        &values
            .iter()
            .map(|v| Some(v.as_slice()))
            .collect::<Vec<_>>(),
    );
    let enc = encode_range(
        &Seals::one(seal_for(&recs)),
        recs.to_vec(),
        &Limits::default(),
    )
    .expect("encode");
    std::fs::write(path, enc.events.expect("events").bytes).expect("write");
}

#[test]
fn a_run_of_seals_is_one_object_checked_seal_by_seal() {
    let values = sample_values(10);
    let vals: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_slice())).collect();
    let recs = records(&vals);
    let a = seal_after(None, &recs[..4]);
    let b = seal_after(Some(&a), &recs[4..]);
    let run = Seals::new(vec![a.clone(), b.clone()]).expect("two seals");
    let enc = encode_range(&run, recs.to_vec(), &Limits::default()).expect("encode");
    let events = enc.events.expect("events");
    assert_eq!(events.rows, 10);
    let (batches, kv) = read_all(&events.bytes);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    let kv: std::collections::HashMap<String, String> = kv.into_iter().collect();
    assert_eq!(
        kv.get("auditlog.first_offset").map(String::as_str),
        Some("100")
    );
    assert_eq!(
        kv.get("auditlog.last_offset").map(String::as_str),
        Some("109")
    );
    assert_eq!(kv.get("auditlog.count").map(String::as_str), Some("10"));
    assert_eq!(
        kv.get("auditlog.prev_head"),
        Some(&chain::hex::encode(&a.prev_head))
    );
    assert_eq!(kv.get("auditlog.head"), Some(&chain::hex::encode(&b.head)));
    let seals = kv.get("auditlog.seals").expect("seals");
    let (sa, sb) = (
        String::from_utf8(a.to_json()).expect("utf8"),
        String::from_utf8(b.to_json()).expect("utf8"),
    );
    assert_eq!(*seals, format!("[{sa},{sb}]"));
    // One record short, one record too many, or the seals swapped: refused.
    assert!(encode_range(&run, recs[..9].to_vec(), &Limits::default()).is_err());
    let mut more = recs.to_vec();
    let mut extra = more[9].clone();
    extra.offset = 110;
    more.push(extra);
    assert!(encode_range(&run, more, &Limits::default()).is_err());
    let swapped = Seals::new(vec![b, a]).expect("two seals");
    assert!(encode_range(&swapped, recs.to_vec(), &Limits::default()).is_err());
}

#[test]
fn only_low_cardinality_columns_have_dictionaries_and_blobs_have_no_statistics() {
    use archiver::encode::{DICTIONARY_COLUMNS, NO_STATISTICS_COLUMNS};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let values = sample_values(40);
    // A header, so the kafka_headers leaves hold values too.
    let mut recs = records(
        &values
            .iter()
            .map(|v| Some(v.as_slice()))
            .collect::<Vec<_>>(),
    );
    recs[0].headers = vec![("trace".into(), Some(b"x".to_vec()))];
    let seal = seal_for(&recs);
    let enc = encode_range(&Seals::one(seal), recs, &Limits::default()).expect("encode");
    let bytes = enc.events.expect("events").bytes;
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
    let group = reader.metadata().row_group(0);
    let mut seen = Vec::new();
    for col in group.columns() {
        let path = col.column_path().string();
        let dictionary = col.dictionary_page_offset().is_some();
        assert_eq!(
            dictionary,
            DICTIONARY_COLUMNS.contains(&path.as_str()),
            "{path}: dictionary page {dictionary}"
        );
        let stats = col.statistics().is_some();
        assert_eq!(
            stats,
            !NO_STATISTICS_COLUMNS.contains(&path.as_str()),
            "{path}: statistics {stats}"
        );
        seen.push(path);
    }
    // Every listed path names a real column (a typo would silently do nothing).
    for col in DICTIONARY_COLUMNS.iter().chain(NO_STATISTICS_COLUMNS) {
        assert!(
            seen.iter().any(|p| p == col),
            "{col} is not a column: {seen:?}"
        );
    }
}
