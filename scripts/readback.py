"""Reads a topic back with confluent-kafka (independent of auditlog) and
compares it with the NDJSON that was sent. Exits 1 on any difference."""
import argparse
import json
import sys
import time
from collections import Counter

from confluent_kafka import Consumer, TopicPartition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kafka", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--expect", required=True, help="NDJSON file of the events sent")
    a = p.parse_args()
    sent = [json.loads(line)["event_id"] for line in open(a.expect) if line.strip()]
    c = Consumer({"bootstrap.servers": a.kafka, "group.id": "auditlog-readback", "enable.auto.commit": False, "log_level": 0})
    parts = sorted(c.list_topics(a.topic, timeout=10).topics[a.topic].partitions)
    ends = {q: c.get_watermark_offsets(TopicPartition(a.topic, q), timeout=10)[1] for q in parts}
    c.assign([TopicPartition(a.topic, q, 0) for q in parts])
    pos = {q: 0 for q in parts}
    got = []
    deadline = time.monotonic() + 120
    while any(pos[q] < ends[q] for q in parts) and time.monotonic() < deadline:
        for m in c.consume(1000, 1.0):
            if not m.error():
                got.append(json.loads(m.value())["event_id"])
                pos[m.partition()] = m.offset() + 1
    c.close()
    dupes = sum(n - 1 for n in Counter(got).values() if n > 1)
    missing = len(set(sent) - set(got))
    extra = len(set(got) - set(sent))
    print(f"events sent (acknowledged 202): {len(sent)}")
    print(f"events read back from Kafka:    {len(got)}  (topic {a.topic}, {len(parts)} partitions)")
    print(f"missing: {missing}   duplicates: {dupes}   unexpected: {extra}")
    ok = missing == 0 and dupes == 0 and extra == 0
    print("RESULT: " + ("OK, every acknowledged event is in Kafka exactly once" if ok else "MISMATCH"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
