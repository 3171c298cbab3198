//! Fuzzing (proptest over mutated bytes): the verifier's Parquet row reader
//! and proof decoding never panic on tampered input; they report an error
//! (a finding), whatever the bytes.

use arrow_array::builder::{BinaryBuilder, Int64Builder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;
use std::sync::Arc;
use verify::proof::{Proof, check};
use verify::registry::Registry;
use verify::rows::{find_event, read_events, read_hashed, read_rows};

fn parquet() -> Vec<u8> {
    let mut o = Int64Builder::new();
    let mut t = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut k = BinaryBuilder::new();
    let mut v = BinaryBuilder::new();
    for i in 0..50i64 {
        o.append_value(i);
        t.append_value(1_764_000_000_000_000 + i);
        k.append_value(b"acme");
        v.append_value(format!("{{\"n\":{i}}}"));
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("kafka_offset", Arc::new(o.finish())),
        ("kafka_timestamp", Arc::new(t.finish())),
        ("kafka_key", Arc::new(k.finish())),
        ("kafka_value", Arc::new(v.finish())),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut w =
        ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap_or_else(|e| panic!("{e}"));
    w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
    out
}

#[test]
fn the_fixture_reads_back() {
    assert_eq!(read_rows(parquet()).map(|r| r.len()), Ok(50));
}

#[test]
fn read_events_keeps_each_rows_offset_and_record_digest() {
    let rows = read_rows(parquet()).unwrap_or_else(|e| panic!("{e}"));
    let hashed = read_events(parquet(), "t", 0)
        .unwrap_or_else(|e| panic!("{e}"))
        .rows;
    assert_eq!(hashed.len(), rows.len());
    for (r, h) in rows.iter().zip(&hashed) {
        let want = chain::link::record_digest(&chain::link::RecordRef {
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
        });
        assert_eq!((h.offset, h.digest), (r.offset, want));
    }
}

#[test]
fn read_hashed_is_read_rows_hashed_and_fails_alike() {
    let rows = read_rows(parquet()).unwrap_or_else(|e| panic!("{e}"));
    let hashed = read_hashed(parquet()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        hashed,
        rows.iter()
            .map(verify::rows::Row::hashed)
            .collect::<Vec<_>>()
    );
    let cut = parquet()[..100].to_vec();
    assert_eq!(
        read_hashed(cut.clone()).map(|r| r.len()),
        read_rows(cut).map(|r| r.len())
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_parquet_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = parquet();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = read_rows(bytes.clone());
        let _ = read_hashed(bytes.clone());
        let _ = find_event(bytes.clone(), "x");
        let _ = read_events(bytes.clone(), "t", 0);
        let n = cut.index(bytes.len());
        let _ = read_rows(bytes[..n].to_vec());
    }

    #[test]
    fn arbitrary_proofs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(p) = serde_json::from_slice::<Proof>(&bytes) {
            let _ = check(&p, &Registry::default());
        }
    }
}
