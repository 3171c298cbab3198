"""Reads a topic back with confluent-kafka (independent of auditlog) and
compares it with the NDJSON that was sent; with --public-key, also waits for
the seal chain to cover every record and checks it with the independent
checker of tests/integration/chaincheck.py. Exits 1 on any difference."""
import argparse
import json
import os
import sys
import time
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import chaincheck  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kafka", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--expect", required=True, help="NDJSON file of the events sent")
    p.add_argument("--public-key", help="check the seal chain too, with this public key file")
    p.add_argument("--wait", type=float, default=120, help="seconds to wait for sealing")
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
    if a.public_key:
        ok = seals_report(a, parts, ends) and ok
    print("RESULT: " + ("OK, every acknowledged event is in Kafka exactly once" + (", sealed and verified" if a.public_key else "") if ok else "MISMATCH"))
    sys.exit(0 if ok else 1)


def seals_report(a, parts, ends):
    pub = chaincheck.load_public(a.public_key)
    publics = {chaincheck.key_id(pub).hex(): pub}
    deadline = time.monotonic() + a.wait
    while True:
        reports = [chaincheck.check_partition(a.kafka, a.topic, q, publics) for q in parts]
        if all(r["sealed_to"] == ends[r["partition"]] for r in reports) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print()
    print(f"seal chains of {a.topic} (checked independently: hashlib + cryptography, key {chaincheck.key_id(pub).hex()})")
    print(f"{'partition':>9} {'records':>8} {'sealed to':>9} {'seals':>6} {'heartbeats':>10} {'rejected':>8}  head")
    ok = True
    for r in reports:
        print(f"{r['partition']:>9} {r['records_covered']:>8} {str(r['sealed_to']):>9} {r['seals']:>6} "
              f"{len(r['heartbeats']):>10} {len(r['rejected']):>8}  {r['head'][:16]}…")
        for f in r["findings"]:
            print(f"  FINDING: {f}")
        ok = ok and not r["findings"] and r["sealed_to"] == ends[r["partition"]]
    return ok


if __name__ == "__main__":
    main()
