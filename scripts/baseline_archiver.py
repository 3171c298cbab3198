"""A straightforward Python archiver: the baseline of issue 23 ("half the bytes
of a plain archiver"). It reads an events topic from the beginning with
confluent-kafka (its own group id, partitions assigned, not joined) until it
has read N records or every partition's end offset, parses each value with
json.loads, and writes each partition's records as pyarrow zstd Parquet (the
defaults: zstd level 1, dictionary and statistics on every column) with the
same columns as our archive (docs/FORMAT.md §2: every queryable field typed,
event_time as UTC microseconds, attributes as a map, plus the Kafka columns
with the raw value as binary), then PUTs it with boto3 under Object Lock
(COMPLIANCE, ChecksumSHA256) and commits the partition's offset. No chain,
no seals, no manifests.

One object holds up to --batch-rows records of one partition (default
100,000, our `archiver.group_max_records` default; on the benchmark topics,
where every record is there before it starts, that is the whole partition).
With --compare it cuts its objects where ours did instead (the first offsets
of our events objects, from the state file), so both write the same rows per
object and the bytes compare formats, not object sizes.

CPU is time.process_time() (every thread of the process, librdkafka's too)
from after the imports to the end, client set-up included; the cyclic GC is
off (see below). Raw size is the sum of the Kafka values' lengths, i.e. the
NDJSON without its newlines.

  baseline_archiver.py --topic T [--events N]   archive T, print the figures
  baseline_archiver.py --compare STATE          scripts/bench: the topic that
      bench_archiver.py archived (BENCH_ARCHIVER_STATE), both side by side
"""
import argparse
import base64
import collections
import datetime as dt
import gc
import hashlib
import json
import os
import resource
import sys
import time
import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, TopicPartition

# Buffering a whole partition's Message objects makes the cyclic GC rescan them over and over: 29.6
# instead of 21.2 CPU s per 1M at 200k events. Nothing here makes cycles, so off: the baseline should not lose to
# a waste any Python programmer who profiled it would remove.
gc.disable()
IMPORTS_CPU = time.process_time()
UTC_US = pa.timestamp("us", tz="UTC")
F = pa.field
SCHEMA = pa.schema(  # as schemas/src/archive.rs; event_id nullable (ours derives a missing one)
    [F("schema_version", pa.int32(), False), F("event_id", pa.string()), F("event_time", UTC_US, False)]
    + [F(n, pa.string(), False) for n in ("tenant", "source", "action", "actor_type", "actor_id")]
    + [F(n, pa.string()) for n in ("actor_ip", "actor_user_agent")]
    + [F(n, pa.string(), False) for n in ("resource_type", "resource_id", "outcome")]
    + [F(n, pa.string()) for n in ("reason", "trace_id", "span_id")]
    + [F("trace_flags", pa.int32()), F("attributes", pa.map_(pa.string(), pa.string()), False),
       F("kafka_topic", pa.string(), False), F("kafka_partition", pa.int32(), False),
       F("kafka_offset", pa.int64(), False), F("kafka_timestamp", UTC_US), F("kafka_key", pa.binary()),
       F("kafka_value", pa.binary()),
       F("kafka_headers", pa.list_(pa.struct([F("key", pa.string()), F("value", pa.binary())])), False)])


def row(msg):
    """One archive row from one Kafka record."""
    e = json.loads(msg.value())
    actor, res = e["actor"], e["resource"]
    trace = (e.get("trace") or "").split("-")
    _, ts = msg.timestamp()
    return {"schema_version": e.get("schema_version", 1), "event_id": e.get("event_id"),
            "event_time": dt.datetime.fromisoformat(e["event_time"]), "tenant": e["tenant"],
            "source": e["source"], "action": e["action"], "actor_type": actor["type"], "actor_id": actor["id"],
            "actor_ip": actor.get("ip"), "actor_user_agent": actor.get("user_agent"),
            "resource_type": res["type"], "resource_id": res["id"], "outcome": e["outcome"],
            "reason": e.get("reason"), "trace_id": trace[1] if len(trace) == 4 else None,
            "span_id": trace[2] if len(trace) == 4 else None,
            "trace_flags": int(trace[3], 16) if len(trace) == 4 else None,
            "attributes": list((e.get("attributes") or {}).items()),
            "kafka_topic": msg.topic(), "kafka_partition": msg.partition(), "kafka_offset": msg.offset(),
            "kafka_timestamp": ts * 1000 if ts >= 0 else None, "kafka_key": msg.key(), "kafka_value": msg.value(),
            "kafka_headers": [{"key": k, "value": v} for k, v in msg.headers() or []]}


def archive(kafka, s3_url, bucket, topic, events=None, prefix="baseline/", batch_rows=100_000, cuts=None,
            retention_days=1):
    """Archives `topic` from the beginning; returns the figures (CPU from after the imports). `cuts`:
    {partition: offsets that start a new object}."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"baseline-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": 0})
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    setup_cpu = time.process_time() - IMPORTS_CPU
    parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30) for p in parts}
    target = sum(hi - lo for lo, hi in ends.values())
    target = min(target, events) if events else target
    consumer.assign([TopicPartition(topic, p, lo) for p, (lo, hi) in ends.items()])
    retain = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=retention_days)
    buffers, out = collections.defaultdict(list), {"objects": 0, "bytes": 0, "raw": 0, "events": 0}

    def flush(p):
        msgs, buffers[p] = buffers[p], []
        if not msgs:
            return
        table = pa.Table.from_pylist([row(m) for m in msgs], schema=SCHEMA)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        body = sink.getvalue().to_pybytes()
        s3.put_object(Bucket=bucket, Key=f"{prefix}events/topic={topic}/partition={p:04d}/{msgs[0].offset():020d}.parquet",
                      Body=body, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain,
                      ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode())
        consumer.commit(offsets=[TopicPartition(topic, p, msgs[-1].offset() + 1)], asynchronous=False)
        out["objects"] += 1
        out["bytes"] += len(body)
        out["raw"] += sum(len(m.value() or b"") for m in msgs)
        out["events"] += len(msgs)

    read, t0, deadline = 0, time.monotonic(), time.monotonic() + 900
    while read < target:
        if time.monotonic() > deadline:
            sys.exit(f"baseline: read only {read} of {target} records in time")
        for m in consumer.consume(10_000, timeout=1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                sys.exit(f"baseline: {m.error()}")
            if read == target:
                break
            p = m.partition()
            if cuts and m.offset() in cuts.get(p, ()):
                flush(p)
            buffers[p].append(m)
            read += 1
            if len(buffers[p]) >= batch_rows or m.offset() + 1 >= ends[p][1]:
                flush(p)
    for p in list(buffers):
        flush(p)
    consumer.close()
    out.update(wall=time.monotonic() - t0, cpu=time.process_time() - IMPORTS_CPU, imports_cpu=IMPORTS_CPU,
               setup_cpu=setup_cpu, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def figures(name, events, stored, raw, cpu, objects):
    return (f"{name:28} {events:>8} {objects:>8} {events / objects:>12.0f} {stored / events:>12.1f} "
            f"{raw / stored:>14.2f} {cpu / events * 1e6:>13.2f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--topic")
    p.add_argument("--events", type=int, help="stop after this many records (default: every partition's end)")
    p.add_argument("--compare", help="the JSON state bench_archiver.py wrote (BENCH_ARCHIVER_STATE)")
    p.add_argument("--batch-rows", type=int, default=100_000)
    a = p.parse_args()
    stack = os.environ.get("AUDITLOG_STACK_DIR", ".stack")
    env = dict(line.split("=", 1) for line in open(f"{stack}/env").read().split() if "=" in line)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    state = json.load(open(a.compare)) if a.compare else None
    topic, events = (state["topic"], state["events"]) if state else (a.topic, a.events)
    if not topic:
        sys.exit("--topic or --compare is required")
    from s3front import keepalive_front

    # The same S3 front as ours in bench_archiver.py.
    with keepalive_front(f"http://127.0.0.1:{env['AUDITLOG_STACK_S3_PORT']}") as (s3_url, _):
        b = archive(env["AUDITLOG_STACK_BOOTSTRAP"], s3_url, env.get("AUDITLOG_STACK_BUCKET", "audit-archive"),
                    topic, events, prefix=f"baseline-{uuid.uuid4().hex[:8]}/", batch_rows=a.batch_rows,
                    cuts=state and {int(p): set(c) for p, c in state["ours"]["cuts"].items()})
    print(f"\nplain Python archiver (confluent-kafka, json, pyarrow zstd Parquet, boto3 PUT with Object Lock) "
          f"on {topic}: {b['events']} events, {b['raw'] / 2**20:.1f} MiB of raw NDJSON (values, no newlines), "
          f"{b['wall']:.1f} s wall, peak RSS {b['rss']:.0f} MiB; CPU {b['cpu']:.2f} s after imports "
          f"(client set-up {b['setup_cpu']:.2f} s of it; imports {b['imports_cpu']:.2f} s, not counted)")
    print(f"{'':28} {'events':>8} {'objects':>8} {'rows/object':>12} {'bytes/event':>12} "
          f"{'raw / stored':>14} {'CPU s per 1M':>13}")
    print(figures("plain Python archiver", b["events"], b["bytes"], b["raw"], b["cpu"], b["objects"]))
    base = (f"{b['bytes'] / b['events']:.1f} B/event, raw/stored {b['raw'] / b['bytes']:.2f}, "
            f"{b['cpu'] / b['events'] * 1e6:.2f} CPU s per 1M")
    if not state:
        bench_row("plain Python archiver (issue 23 baseline)", base, "", None, "–", None, b["rss"])
        return
    o = state["ours"]
    if b["events"] != state["events"] or b["raw"] != state["raw_bytes"]:
        print(f"WARNING: not the same events: ours {state['events']} events / {state['raw_bytes']} raw bytes, "
              f"baseline {b['events']} / {b['raw']}")
    print(figures("auditlog archive (Parquet)", state["events"], o["parquet_bytes"], state["raw_bytes"], o["cpu"],
                  o["objects"]))
    print(f"{'  + manifests, checkpoints':28} {'':>8} {o['all_objects']:>8} {'':>12} "
          f"{o['all_bytes'] / state['events']:>12.1f} {state['raw_bytes'] / o['all_bytes']:>14.2f}")
    bpe, base_bpe = o["parquet_bytes"] / state["events"], b["bytes"] / b["events"]
    cpu_m, base_cpu_m = o["cpu"] / state["events"] * 1e6, b["cpu"] / b["events"] * 1e6
    br, cr = bpe / base_bpe, cpu_m / base_cpu_m
    print(f"ours / plain: bytes per event {br:.2f} (goal <= 0.5 -> {'met' if br <= 0.5 else 'NOT met'}), "
          f"CPU per event {cr:.2f} (goal <= 0.3 -> {'met' if cr <= 0.3 else 'NOT met'}). Ours' CPU is the whole "
          "process (start, group join, chain check, manifests); its bytes are its events Parquet objects only.")
    bench_row("archiver: bytes per event (issue 23)",
              f"{bpe:.1f} B/event, raw/stored {state['raw_bytes'] / o['parquet_bytes']:.2f}",
              f"{base_bpe:.1f} B/event, raw/stored {b['raw'] / b['bytes']:.2f} (plain Python archiver)", br, "<= 0.5",
              br <= 0.5, o["rss"])
    bench_row("archiver: CPU vs a plain Python archiver (issue 23)", f"{cpu_m:.2f} s per 1M",
              f"{base_cpu_m:.2f} s per 1M (plain Python archiver, peak RSS {b['rss']:.0f} MiB)", cr, "<= 0.3",
              cr <= 0.3, o["rss"])


def bench_row(stage, measured, baseline, ratio, goal, met, rss_mib):
    """One row of scripts/bench's summary, in the format of the in-process cores (scripts/bench's `core`)."""
    print("BENCH_ROW " + json.dumps({"stage": stage, "measured": measured, "baseline": baseline, "ratio": ratio,
                                     "goal": goal, "met": met, "rss_mib": rss_mib}))

if __name__ == "__main__":
    main()
