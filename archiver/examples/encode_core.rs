//! The archiver core in-process: check a range against its seal and encode
//! it as zstd Parquet, timed per stage. No broker, no S3.
//!
//! Usage: encode_core [EVENTS (default 200000)] [RANGE (default 5000)]

use std::time::Instant;

use archiver::encode::{check_against_seal, encode_events_table, encode_range};
use chain::manifest::Seals;
use schemas::Limits;
use schemas::archive::EventsBuilder;

#[path = "../benches/fixture.rs"]
mod fixture;

fn uuid_fallback() -> uuid::Uuid {
    uuid::Uuid::nil()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(200_000);
    let range = args.get(1).copied().unwrap_or(5_000);
    let (records, seals) = fixture::sealed_ranges(total, range);
    let bytes: usize = records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, Vec::len))
        .sum();
    let limits = Limits::default();
    let t = Instant::now();
    for (s, chunk) in seals.iter().zip(records.chunks(range)) {
        check_against_seal(s, chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    let check = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut ok = 0usize;
    for r in &records {
        if let Some(v) = r.value.as_deref() {
            ok += usize::from(schemas::parse_event_with(v, &limits, uuid_fallback).is_ok());
        }
    }
    let parse = t.elapsed().as_secs_f64();
    assert_eq!(ok, total);
    // The stages of encode_range on their own: the borrowing parse, the
    // Arrow batch, and the Parquet bytes.
    let t = Instant::now();
    let mut fast = 0usize;
    for r in &records {
        fast += usize::from(
            r.value
                .as_deref()
                .and_then(|v| schemas::parse_event_ref(v, &limits))
                .is_some(),
        );
    }
    let parse_ref = t.elapsed().as_secs_f64();
    assert_eq!(fast, total);
    // The Arrow batch and its Parquet bytes twice: canonical values rebuilt
    // (the default, docs/FORMAT.md §1a) and every value stored (format 1).
    // `one_pass`: each value read by the one-pass canonical reader, as the
    // archiver does first; else the borrowing parse and the comparison.
    let stage = |store_every_value: bool, one_pass: bool| {
        let t = Instant::now();
        let batches: Vec<_> = records
            .chunks(range)
            .map(|chunk| {
                let mut b = EventsBuilder::with_capacity(chunk.len());
                if store_every_value {
                    b = b.storing_every_value();
                }
                for r in chunk {
                    let v = r.value.as_deref().unwrap_or_default();
                    if one_pass {
                        let c = schemas::parse_canonical_ref(v, &limits)
                            .unwrap_or_else(|| panic!("not canonical"));
                        b.append_canonical(&c, r).unwrap_or_else(|e| panic!("{e}"));
                        continue;
                    }
                    let e =
                        schemas::parse_event_ref(v, &limits).unwrap_or_else(|| panic!("invalid"));
                    b.append_ref(&e, &e.event_id.unwrap_or_else(uuid_fallback), r)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                b.finish().unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut objects = Vec::new();
        for (s, batch) in seals.iter().zip(&batches) {
            let e = encode_events_table(&Seals::one(s.clone()), batch)
                .unwrap_or_else(|e| panic!("{e}"));
            objects.push(e.bytes);
        }
        (build, t.elapsed().as_secs_f64(), objects)
    };
    let (build_raw, parquet_raw, objects_raw) = stage(true, false);
    let (build_general, _, objects_general) = stage(false, false);
    let (build, parquet, objects) = stage(false, true);
    assert!(
        objects == objects_general,
        "both paths give the same objects"
    );
    let bytes_raw: usize = objects_raw.iter().map(Vec::len).sum();
    let bytes_canonical: usize = objects.iter().map(Vec::len).sum();
    let t = Instant::now();
    let mut out = 0usize;
    for (s, chunk) in seals.iter().zip(records.chunks(range)) {
        let e = encode_range(&Seals::one(s.clone()), chunk.to_vec(), &limits)
            .unwrap_or_else(|e| panic!("{e}"));
        out += e.events.map_or(0, |t| t.bytes.len());
    }
    let encode = t.elapsed().as_secs_f64();
    let per_m = |s: f64| s / total as f64 * 1e6;
    println!(
        "{total} events ({:.1} MiB of JSON) in ranges of {range}: Parquet {:.1} MiB",
        bytes as f64 / 1048576.0,
        out as f64 / 1048576.0
    );
    println!(
        "chain check only:            {:>8.0} events/s  {:>6.2} s per 1M",
        total as f64 / check,
        per_m(check)
    );
    println!(
        "parse + validate only:       {:>8.0} events/s  {:>6.2} s per 1M",
        total as f64 / parse,
        per_m(parse)
    );
    println!(
        "borrowing parse only:        {:>8.0} events/s  {:>6.2} s per 1M",
        total as f64 / parse_ref,
        per_m(parse_ref)
    );
    println!(
        "canonical read + Arrow batch:{:>8.0} events/s  {:>6.2} s per 1M",
        total as f64 / build,
        per_m(build)
    );
    println!(
        "  of which the borrowing parse, then the canonical comparison: {:.2} s per 1M; \
         one-pass canonical read / that: {:.2}",
        per_m(build_general),
        build / build_general
    );
    println!(
        "Parquet bytes from batch:    {:>8.0} events/s  {:>6.2} s per 1M  {:>5.1} bytes/event",
        total as f64 / parquet,
        per_m(parquet),
        bytes_canonical as f64 / total as f64
    );
    println!(
        "  every value stored: batch {:.2}, Parquet {:.2} s per 1M, {:.1} bytes/event",
        per_m(build_raw),
        per_m(parquet_raw),
        bytes_raw as f64 / total as f64
    );
    println!(
        "  canonical values rebuilt / every value stored: batch+Parquet CPU {:.2}, bytes {:.2}",
        (build + parquet) / (build_raw + parquet_raw),
        bytes_canonical as f64 / bytes_raw as f64
    );
    // Bytes per event of each column, compressed, in both formats.
    let (before, after) = (column_bytes(&objects_raw), column_bytes(&objects));
    println!("column bytes per event (every value stored -> canonical values rebuilt):");
    for (name, b) in &before {
        let a = after.iter().find(|(n, _)| n == name).map_or(0, |(_, a)| *a);
        println!(
            "  {name:<32} {:>6.2} -> {:>6.2}",
            *b as f64 / total as f64,
            a as f64 / total as f64
        );
    }
    for (name, a) in after
        .iter()
        .filter(|(n, _)| !before.iter().any(|(m, _)| m == n))
    {
        println!("  {name:<32}      - -> {:>6.2}", *a as f64 / total as f64);
    }
    println!(
        "encode_range (check+parse+Parquet): {:>8.0} events/s  {:>6.2} s per 1M",
        total as f64 / encode,
        per_m(encode)
    );
    // One row of scripts/bench's summary table, which it picks out of the output.
    let rate = total as f64 / encode;
    println!(
        "BENCH_ROW {{\"stage\": \"archiver core (in-process)\", \"measured\": \"{rate:.0} ev/s, {:.2} s per 1M\", \"baseline\": \"\", \"ratio\": null, \"goal\": \">= 300k ev/s\", \"met\": {}, \"rss_mib\": null}}",
        per_m(encode),
        rate >= 300_000.0
    );
}

/// Compressed bytes of each leaf column summed over `objects`, in schema order.
fn column_bytes(objects: &[Vec<u8>]) -> Vec<(String, usize)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut out: Vec<(String, usize)> = Vec::new();
    for o in objects {
        let r = SerializedFileReader::new(bytes::Bytes::from(o.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        for rg in r.metadata().row_groups() {
            for c in rg.columns() {
                let name = c.column_path().string();
                let n = usize::try_from(c.compressed_size()).unwrap_or(0);
                match out.iter_mut().find(|(m, _)| *m == name) {
                    Some((_, b)) => *b += n,
                    None => out.push((name, n)),
                }
            }
        }
    }
    out
}
