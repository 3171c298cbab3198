"""publish → sealed latency at half the maximum rate (issue 7).

One `auditlog seal` runs with the default configuration (issue 18: no
`fetch.wait.max.ms` or `max_interval_ms` override; --max-interval-ms sets one
only when given, to compare). A burst of events,
produced as fast as the broker takes them, gives the maximum rate; then events
are produced at half that rate for --seconds. Each record's latency is the
time from its Kafka timestamp (set when the producer created it) to the
timestamp of the seal record that covers it (set when the sealer produced the
seal; the seal is durable a broker round trip later). Both clocks are this
host's. Exact percentiles over every paced record."""
import argparse
import json
import os
import subprocess
import sys
import time
import uuid

from bench_sealer import bootstrap, metric, peak_rss_mib, record, sealer_config
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def read_all(kafka, topic, partitions, want):
    """{partition: [(offset, timestamp_ms, value)]} until `want` records."""
    c = Consumer({"bootstrap.servers": kafka, "group.id": f"lat-{uuid.uuid4().hex}", "enable.auto.commit": False,
                  "log_level": 0})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, n, deadline = {}, 0, time.monotonic() + 300
    while n < want and time.monotonic() < deadline:
        for m in c.consume(5000, timeout=1.0):
            if not m.error():
                out.setdefault(m.partition(), []).append((m.offset(), m.timestamp()[1], m.value()))
                n += 1
    c.close()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--burst", type=int, default=40_000)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fraction", type=float, default=0.5, help="pace at this fraction of the maximum rate")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--max-interval-ms", type=int, default=None,
                   help="override sealer.max_interval_ms (default: the config's default)")
    a = p.parse_args()
    kafka = bootstrap()
    topic = f"bench.lat.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka, "log_level": 0})
    for f in admin.create_topics([NewTopic(t, num_partitions=a.partitions, replication_factor=1)
                                  for t in (topic, topic + ".seals")]).values():
        f.result(30)
    override = f"max_interval_ms = {a.max_interval_ms}\n" if a.max_interval_ms is not None else ""
    settings = f"sealer.max_interval_ms = {a.max_interval_ms}" if override else "default settings"
    tmp, cfg, port = sealer_config(a.bin, kafka, topic, override)
    seal = subprocess.Popen([a.bin, "--config", cfg, "seal"], stderr=open(os.path.join(tmp, "seal.log"), "w"))
    sample = subprocess.run([a.bin, "sample", "--count", str(a.burst)], capture_output=True, check=True).stdout.splitlines()
    keys = [json.loads(line)["tenant"].encode() for line in sample]
    prod = Producer({"bootstrap.servers": kafka, "linger.ms": 5, "enable.idempotence": True, "log_level": 0})

    def send(i):
        while True:
            try:
                prod.produce(topic, sample[i % len(sample)], key=keys[i % len(keys)])
                return
            except BufferError:
                prod.poll(0.01)

    t0 = time.monotonic()
    for i in range(a.burst):
        send(i)
    prod.flush(120)
    max_rate = a.burst / (time.monotonic() - t0)
    rate = max_rate * a.fraction
    print(f"maximum produce rate {max_rate:.0f} ev/s; pacing at {rate:.0f} ev/s for {a.seconds:.0f} s", file=sys.stderr)
    probe = Consumer({"bootstrap.servers": kafka, "group.id": f"lat-{uuid.uuid4().hex}", "log_level": 0})
    paced_from = {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(a.partitions)}
    start, n = time.monotonic(), 0
    while time.monotonic() - start < a.seconds:
        due = start + n / rate
        now = time.monotonic()
        if due > now:
            prod.poll(min(due - now, 0.01))
            continue
        send(n)
        n += 1
    prod.flush(120)
    total = a.burst + n
    deadline = time.monotonic() + 300
    while metric(port, "auditlog_sealer_records_sealed_total") < total and time.monotonic() < deadline:
        time.sleep(0.2)
    rss = peak_rss_mib(seal.pid)
    seal.terminate()
    seal.wait(30)

    events = read_all(kafka, topic, a.partitions, total)
    ends = {p: probe.get_watermark_offsets(TopicPartition(topic + ".seals", p), timeout=10)[1] for p in range(a.partitions)}
    probe.close()
    seals = read_all(kafka, topic + ".seals", a.partitions, sum(ends.values()))
    covered = {}  # (partition, offset) -> seal record timestamp
    for recs in seals.values():
        for _, ts, value in recs:
            s = json.loads(value)
            if s["kind"] == "data":
                for off in range(s["first_offset"], s["last_offset"] + 1):
                    covered.setdefault((s["partition"], off), ts)
    lat = sorted(covered[(part, off)] - ts for part, recs in events.items() for off, ts, _ in recs
                 if off >= paced_from[part] and (part, off) in covered)
    if len(lat) < n:
        sys.exit(f"only {len(lat)} of {n} paced records were sealed; log: {tmp}/seal.log")
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000  # noqa: E731
    met = pct(0.99) <= 1 and pct(0.5) <= 0.3
    print(f"\npublish → sealed at {rate:.0f} ev/s ({a.fraction:.0%} of {max_rate:.0f}), {len(lat)} records, {settings}")
    print(f"p50 {pct(0.5):.3f} s   p99 {pct(0.99):.3f} s   max {lat[-1] / 1000:.3f} s   (goal p50 <= 0.3 s and "
          f"p99 <= 1 s: {'met' if met else 'NOT met'})")
    record("publish → sealed", f"p50 {pct(0.5):.3f} s, p99 {pct(0.99):.3f} s at {rate:.0f} ev/s",
           settings, None, "p50 <= 0.3 s, p99 <= 1 s", met, rss)


if __name__ == "__main__":
    main()
