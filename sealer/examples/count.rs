//! A plain counting consumer: the baseline the sealer benchmark compares
//! against. Same librdkafka, same consumer-group protocol, same topic; it
//! only counts records.
//!
//! Usage: count BOOTSTRAP TOPIC EXPECTED
//! Prints one JSON line: {"records":…,"seconds":…,"t10":…,"t90":…} and exits
//! when EXPECTED records were read; `t10` and `t90` are when 10% and 90% had
//! been read, so a steady-state rate excludes start-up, the group join and
//! the tail.

use std::time::Instant;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, expected] = args.as_slice() else {
        return Err("usage: count BOOTSTRAP TOPIC EXPECTED".into());
    };
    let expected: u64 = expected.parse()?;
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("count-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create()?;
    consumer.subscribe(&[topic.as_str()])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut t10 = None;
    let mut t90 = None;
    while n < expected {
        if t10.is_none() && n >= expected / 10 {
            t10 = Some(started.elapsed().as_secs_f64());
        }
        if t90.is_none() && n >= expected - expected / 10 {
            t90 = Some(started.elapsed().as_secs_f64());
        }
        if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(100)) {
            use rdkafka::Message;
            n += 1;
            bytes += m.payload().map_or(0, |p| p.len() as u64);
        }
    }
    println!(
        "{{\"records\":{n},\"bytes\":{bytes},\"seconds\":{},\"t10\":{},\"t90\":{}}}",
        started.elapsed().as_secs_f64(),
        t10.unwrap_or(0.0),
        t90.unwrap_or(0.0)
    );
    Ok(())
}
