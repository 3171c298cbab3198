//! Criterion micro-benchmarks of the chain core: one record's digest and
//! link, and the Merkle root of a seal's leaves. `cargo bench -p chain`.

use std::hint::black_box;

use chain::link::{Chain, RecordRef, link, record_digest};
use chain::merkle;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn record_hashing(c: &mut Criterion) {
    let value = vec![b'x'; 400];
    let key = b"acme".to_vec();
    let r = RecordRef {
        offset: 42,
        timestamp_ms: Some(1_795_700_000_000),
        key: Some(&key),
        value: Some(&value),
    };
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(1));
    g.bench_function("record digest + link (400 B value)", |b| {
        let prev = [7u8; 32];
        b.iter(|| link(black_box(&prev), &record_digest(black_box(&r))));
    });
    g.bench_function("Chain::append (400 B value)", |b| {
        let mut chain = Chain::resume([0; 32], None);
        let mut offset = 0i64;
        b.iter(|| {
            offset += 1;
            chain.append(&RecordRef { offset, ..r })
        });
    });
    g.finish();
}

fn merkle_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("merkle root");
    for n in [1_000usize, 10_000] {
        let leaves: Vec<[u8; 32]> = (0..n)
            .map(|i| {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&(i as u64).to_be_bytes());
                h
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &leaves, |b, l| {
            b.iter(|| merkle::root(black_box(l)));
        });
    }
    g.finish();
}

criterion_group!(benches, record_hashing, merkle_root);
criterion_main!(benches);
