//! The sealer's core in-process: chaining records (digest + link) and the
//! Merkle root of each seal, beside raw SHA-256 over the same bytes.
//!
//! Usage: chain_core [RECORDS (default 1000000)] [SEAL (default 10000)]

use std::time::Instant;

use chain::link::{Chain, RecordRef};
use chain::merkle;
use sha2::{Digest, Sha256};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let seal = args.get(1).copied().unwrap_or(10_000).max(1);
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{{\"event_id\":\"{i:036}\",\"tenant\":\"tenant-{}\",\"action\":\"invoice.update\",\"actor\":{{\"type\":\"user\",\"id\":\"u-{}\"}},\"resource\":{{\"type\":\"invoice\",\"id\":\"inv-{i}\"}},\"outcome\":\"success\",\"attributes\":{{\"region\":\"eu-west-1\",\"seq\":\"{i}\"}},\"pad\":\"{}\"}}", i % 8, i % 997, "x".repeat(160)).into_bytes())
        .collect();
    let bytes: usize = values.iter().map(Vec::len).sum();

    let t = Instant::now();
    let mut acc = 0u8;
    for v in &values {
        acc ^= Sha256::digest(v)[0];
    }
    let raw = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut c = Chain::genesis("audit.events", 0);
    let mut leaves = Vec::with_capacity(seal);
    for (i, v) in values.iter().enumerate() {
        let d = c
            .append(&RecordRef {
                offset: i as i64,
                timestamp_ms: Some(1_764_000_000_000),
                key: Some(b"tenant-1"),
                value: Some(v),
            })
            .unwrap_or_default();
        leaves.push(d);
        if leaves.len() == seal {
            acc ^= merkle::root(&leaves)[0];
            leaves.clear();
        }
    }
    acc ^= merkle::root(&leaves)[0];
    let chained = t.elapsed().as_secs_f64();
    println!(
        "{n} records of {:.0} bytes, seals of {seal} (checksum {acc})",
        bytes as f64 / n as f64
    );
    println!(
        "raw SHA-256 of each value:          {:>10.0} records/s",
        n as f64 / raw
    );
    println!(
        "chain (digest + link) + Merkle:     {:>10.0} records/s",
        n as f64 / chained
    );
    println!(
        "ratio chain / raw SHA-256:          {:>10.2}  (goal >= 0.5)",
        raw / chained
    );
    // One row of scripts/bench's summary table, which it picks out of the output.
    println!(
        "BENCH_ROW {{\"stage\": \"sealer core (in-process)\", \"measured\": \"{:.0} rec/s\", \"baseline\": \"{:.0} rec/s (raw SHA-256)\", \"ratio\": {:.3}, \"goal\": \">= 0.5\", \"met\": {}, \"rss_mib\": null}}",
        n as f64 / chained,
        n as f64 / raw,
        raw / chained,
        raw / chained >= 0.5
    );
}
