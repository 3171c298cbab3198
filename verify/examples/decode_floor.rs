//! A deep run's decode floor (issue 20): the CPU that only reading the
//! events objects costs with the same `parquet` crate and features, all
//! columns to Arrow at the reader's defaults, one object after another on
//! one thread, with no check, no rebuild and no hash. `scripts/bench-verify
//! --synthetic` adds it to the SHA-256 floor (`chain/examples/sha_floor.rs`)
//! to bound a deep run's wall time from below on this machine.
//!
//! Usage: decode_floor FILE... (Parquet files). Prints `DECODE_FLOOR_S=<s>`
//! and `DECODE_FLOOR_ROWS=<n>`.

use std::time::Instant;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: decode_floor FILE...");
        std::process::exit(2);
    }
    // Read before the clock starts: the floor is the decode, not the disk.
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        match std::fs::read(p) {
            Ok(b) => files.push((p, bytes::Bytes::from(b))),
            Err(e) => fail(p, &e),
        }
    }
    let t = Instant::now();
    let mut rows = 0usize;
    for (p, b) in files {
        let reader = match ParquetRecordBatchReaderBuilder::try_new(b).and_then(|r| r.build()) {
            Ok(r) => r,
            Err(e) => fail(p, &e),
        };
        for batch in reader {
            match batch {
                Ok(batch) => rows += batch.num_rows(),
                Err(e) => fail(p, &e),
            }
        }
    }
    println!("DECODE_FLOOR_S={:.4}", t.elapsed().as_secs_f64());
    println!("DECODE_FLOOR_ROWS={rows}");
}

fn fail(path: &str, e: &dyn std::fmt::Display) -> ! {
    eprintln!("{path}: {e}");
    std::process::exit(2);
}
