//! Criterion micro-benchmarks of the archiver core on one 5,000-event range:
//! checking it against its seal, building the Arrow batch, encoding that
//! batch as zstd Parquet, and the whole `encode_range`.
//! `cargo bench -p archiver`.

use std::hint::black_box;

use archiver::encode::{check_against_seal, encode_events_table, encode_range};
use chain::manifest::Seals;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use schemas::Limits;
use schemas::archive::{ArchivedRecord, to_record_batch};

mod fixture;

const RANGE: usize = 5_000;

fn encode(c: &mut Criterion) {
    let (records, seals) = fixture::sealed_ranges(RANGE, RANGE);
    let seal = &seals[0];
    let run = Seals::one(seal.clone());
    let limits = Limits::default();
    let rows: Vec<ArchivedRecord> = records
        .iter()
        .map(|r| ArchivedRecord {
            event: schemas::parse_event_with(
                r.value.as_deref().unwrap_or_default(),
                &limits,
                uuid::Uuid::nil,
            )
            .unwrap_or_else(|e| panic!("sample event invalid: {e:?}")),
            kafka: r.clone(),
        })
        .collect();
    let batch = to_record_batch(&rows).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("archiver, one range of 5000 events");
    g.throughput(Throughput::Elements(RANGE as u64));
    g.sample_size(20);
    g.bench_function("check against seal", |b| {
        b.iter(|| check_against_seal(black_box(seal), black_box(&records)));
    });
    g.bench_function("Arrow batch building", |b| {
        b.iter(|| to_record_batch(black_box(&rows)));
    });
    g.bench_function("Parquet encoding (zstd)", |b| {
        b.iter(|| encode_events_table(black_box(&run), black_box(&batch)));
    });
    g.bench_function("encode_range (all of it)", |b| {
        b.iter(|| encode_range(&run, records.clone(), &limits));
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
