"""Waits (bounded) until every partition log of a topic under a prefix has its
newest checkpoint cosigned (docs/FORMAT.md §11.12), read with boto3, then
prints one line per log and the newest cosigned note of the first. Exits 1
if a log is still not cosigned when the time is up."""
import argparse
import sys
import time

import boto3


def newest(keys, folder):
    sizes = [int(k.rsplit("/", 1)[1]) for k in keys if k.rsplit("/", 2)[-2] == folder]
    return max(sizes, default=0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--s3", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", default="")
    p.add_argument("--topic", required=True)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    s3 = boto3.client("s3", endpoint_url=a.s3, region_name="us-east-1")
    base = f"{a.prefix}tlog/{a.topic}/"

    def state():
        logs = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=base):
            for o in page.get("Contents", []):
                part = o["Key"][len(base):].split("/", 1)[0]
                logs.setdefault(int(part), []).append(o["Key"])
        return {q: (newest(ks, "checkpoint"), newest(ks, "cosigned")) for q, ks in sorted(logs.items())}

    deadline = time.monotonic() + a.timeout
    logs = state()
    while (not logs or any(c != w for c, w in logs.values())) and time.monotonic() < deadline:
        time.sleep(0.5)
        logs = state()
    for q, (c, w) in logs.items():
        print(f"log {a.topic}/{q}: newest checkpoint at size {c}, cosigned up to size {w}")
    if not logs or any(c != w for c, w in logs.values()):
        return 1
    q, (_, w) = next(iter(logs.items()))
    note = s3.get_object(Bucket=a.bucket, Key=f"{base}{q}/cosigned/{w:020}")["Body"].read().decode()
    print(f"\n{base}{q}/cosigned/{w:020}:\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
