"""Waits for the local stack and creates the events topic and the archive bucket.

Uses independent clients (confluent-kafka, boto3), not the auditlog binary, so
the stack can come up before anything is built. Every wait is bounded.
"""
import argparse
import sys
import time

DEADLINE_S = 90


def wait(what, probe):
    deadline = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < deadline:
        try:
            return probe()
        except Exception as e:  # noqa: BLE001 - report the last failure below
            last = e
            time.sleep(0.25)
    sys.exit(f"error: {what} not ready after {DEADLINE_S}s: {last}")


def kafka(bootstrap, topic, partitions, wait_only):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
    wait(f"kafka at {bootstrap}", lambda: admin.list_topics(timeout=2))
    if wait_only or not topic:
        return
    md = admin.list_topics(timeout=5)
    # The events topic and its seals topic (seals for partition p go to partition p).
    for name in (topic, topic + ".seals"):
        if name in md.topics and not md.topics[name].error:
            print(f"topic {name} exists ({len(md.topics[name].partitions)} partitions)", file=sys.stderr)
            continue
        fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name]
        fut.result(timeout=30)
        print(f"created topic {name} ({partitions} partitions)", file=sys.stderr)


def s3(endpoint, bucket, wait_only):
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    wait(f"s3 at {endpoint}", client.list_buckets)
    if wait_only or not bucket:
        return
    names = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
    if bucket not in names:
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        print(f"created bucket {bucket} with Object Lock", file=sys.stderr)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    if lock.get("ObjectLockEnabled") != "Enabled":
        sys.exit(f"error: bucket {bucket} exists without Object Lock; choose another AUDITLOG_BUCKET")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kafka")
    p.add_argument("--s3")
    p.add_argument("--topic")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--bucket")
    p.add_argument("--wait-only", action="store_true")
    a = p.parse_args()
    if a.kafka:
        kafka(a.kafka, a.topic, a.partitions, a.wait_only)
    if a.s3:
        s3(a.s3, a.bucket, a.wait_only)


if __name__ == "__main__":
    main()
