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
    p.add_argument("--s3", help="S3 endpoint: also wait for the archive and report where it went")
    p.add_argument("--bucket")
    p.add_argument("--prefix", default="")
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
    if a.s3:
        ok = archive_report(a, len(sent)) and ok
    done = ", sealed and verified" if a.public_key else ""
    done += ", archived to S3" if a.s3 else ""
    print("RESULT: " + ("OK, every acknowledged event is in Kafka exactly once" + done if ok else "MISMATCH"))
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



def archive_report(a, expected):
    import boto3
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=a.s3, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))

    def listing():
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=a.prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def archived_rows(keys):
        rows = 0
        for k in keys:
            if "/manifests/" in k or k.startswith(a.prefix + "manifests/"):
                m = json.loads(s3.get_object(Bucket=a.bucket, Key=k)["Body"].read())
                rows += sum(o["rows"] for o in m["objects"])
        return rows

    deadline = time.monotonic() + a.wait
    while True:
        keys = listing()
        rows = archived_rows(keys)
        if rows >= expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    events = [k for k in keys if k.startswith(a.prefix + "events/")]
    mans = [k for k in keys if k.startswith(a.prefix + "manifests/")]
    head = s3.head_object(Bucket=a.bucket, Key=events[0]) if events else {}
    fs = pafs.S3FileSystem(endpoint_override=a.s3.replace("http://", ""), scheme="http", access_key="test",
                           secret_key="test", region="us-east-1")
    n = ds.dataset(f"{a.bucket}/{a.prefix}events/", filesystem=fs, format="parquet", partitioning="hive").count_rows() if events else 0
    print()
    print(f"archive in s3://{a.bucket}/{a.prefix} ({a.s3})")
    print(f"  {len(events)} Parquet objects under events/, {len(mans)} signed manifests under manifests/")
    if events:
        print(f"  e.g. {events[0]}")
        print(f"  Object Lock: {head.get('ObjectLockMode')} until {head.get('ObjectLockRetainUntilDate')}")
    print(f"  rows in manifests: {rows}; rows pyarrow reads from S3: {n}; events sent: {expected}")
    return rows == expected and n == expected


if __name__ == "__main__":
    main()
