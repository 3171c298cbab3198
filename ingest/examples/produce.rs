//! A plain librdkafka producer: the baseline the ingest benchmark compares
//! the gateway against. Same events, same durability (acks=all, idempotent),
//! keyed by tenant; no validation, no HTTP.
//!
//! Usage: produce BOOTSTRAP TOPIC FILE.ndjson
//! Prints one JSON line: {"records":…,"seconds":…}

use std::io::BufRead;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, file] = args.as_slice() else {
        return Err("usage: produce BOOTSTRAP TOPIC FILE.ndjson".into());
    };
    let lines: Vec<Vec<u8>> = std::io::BufReader::new(std::fs::File::open(file)?)
        .split(b'\n')
        .collect::<Result<_, _>>()?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let started = Instant::now();
    let mut n = 0u64;
    for line in lines.iter().filter(|l| !l.is_empty()) {
        let key = tenant(line);
        let mut record = BaseRecord::to(topic).payload(line).key(key);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        n += 1;
    }
    producer.flush(Duration::from_secs(120))?;
    println!(
        "{{\"records\":{n},\"seconds\":{}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `tenant` value of a sample event line (keys as the gateway does).
fn tenant(line: &[u8]) -> &[u8] {
    let pat = b"\"tenant\":\"";
    line.windows(pat.len())
        .position(|w| w == pat)
        .and_then(|i| {
            let rest = &line[i + pat.len()..];
            rest.iter().position(|&b| b == b'"').map(|j| &rest[..j])
        })
        .unwrap_or(b"")
}
