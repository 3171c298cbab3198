//! Counts idempotent producers that never recover from a broker restart,
//! with and without [`auditlog_kafka::rebootstrap`].
//!
//! ```text
//! cargo run -p auditlog-kafka --example restart_probe -- BOOTSTRAP TOPIC N SECONDS
//! ```
//!
//! Starts `N` producers with the rebootstrap attached and `N` without, all
//! idempotent with a 3 s message timeout (as the broker-outage test's
//! sealer). Each sends one record at a time to `TOPIC`, waiting for its
//! report. Restart the broker meanwhile (`scripts/stack broker-stop`, then
//! `broker-start`). After `SECONDS` it prints, per group, how many producers
//! had a delivery fail and how many of those had none succeed afterwards
//! (stranded). Prints one JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use auditlog_kafka::rebootstrap::{HasRebootstrap, Rebootstrap};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

#[derive(Debug, Default)]
struct Ctx {
    rebootstrap: Rebootstrap,
    /// (failed at least once, succeeded after the last failure)
    failed: AtomicBool,
    ok_since_failure: AtomicBool,
    pending: AtomicBool,
}

impl HasRebootstrap for Ctx {
    fn rebootstrap(&self) -> &Rebootstrap {
        &self.rebootstrap
    }
}

impl ClientContext for Ctx {
    fn error(&self, error: rdkafka::error::KafkaError, _: &str) {
        self.rebootstrap.on_error(&error);
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if result.is_ok() {
            self.ok_since_failure.store(true, Ordering::Relaxed);
        } else {
            self.failed.store(true, Ordering::Relaxed);
            self.ok_since_failure.store(false, Ordering::Relaxed);
        }
        self.pending.store(false, Ordering::Relaxed);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, n, seconds] = args.as_slice() else {
        return Err("usage: restart_probe BOOTSTRAP TOPIC N SECONDS".into());
    };
    let n: usize = n.parse()?;
    let until = Instant::now() + Duration::from_secs(seconds.parse()?);
    let mut producers = Vec::new();
    for i in 0..2 * n {
        let p: BaseProducer<Ctx> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", "3000")
            .set("request.timeout.ms", "2000")
            .set("log_level", "0")
            .create_with_context(Ctx::default())?;
        let fixed = i < n;
        if fixed {
            auditlog_kafka::rebootstrap::attach(p.client(), bootstrap);
        }
        producers.push((fixed, Arc::new(p)));
    }
    while Instant::now() < until {
        for (_, p) in &producers {
            let ctx = p.client().context();
            if !ctx.pending.swap(true, Ordering::Relaxed) {
                let record = BaseRecord::to(topic).payload("probe").key("k");
                if p.send(record).is_err() {
                    ctx.pending.store(false, Ordering::Relaxed);
                }
            }
            p.poll(Duration::ZERO);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let count = |fixed: bool, stranded: bool| {
        producers
            .iter()
            .filter(|(f, p)| {
                let c = p.client().context();
                *f == fixed
                    && c.failed.load(Ordering::Relaxed)
                    && (!stranded || !c.ok_since_failure.load(Ordering::Relaxed))
            })
            .count()
    };
    println!(
        "{{\"per_group\": {n}, \"with_rebootstrap\": {{\"failed\": {}, \"stranded\": {}}}, \"without\": {{\"failed\": {}, \"stranded\": {}}}}}",
        count(true, false),
        count(true, true),
        count(false, false),
        count(false, true)
    );
    Ok(())
}
