"""Waits for the local stack and creates the events topics and the archive bucket.

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
            value = probe()
            if value is not None and value is not False:
                return value
        except Exception as e:  # noqa: BLE001 - report the last failure below
            last = e
        time.sleep(0.25)
    sys.exit(f"error: {what} not ready after {DEADLINE_S}s: {last}")


def admin_client(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000, "log_level": 0})


def all_brokers(admin, brokers):
    md = admin.list_topics(timeout=2)
    return md if len(md.brokers) >= brokers else None


def kafka(a):
    from confluent_kafka.admin import NewTopic

    admin = admin_client(a.kafka)
    wait(f"kafka at {a.kafka} ({a.brokers} broker(s))", lambda: all_brokers(admin, a.brokers))
    if a.wait_only or not a.topic:
        return
    md = admin.list_topics(timeout=5)
    # The events topic and its seals topic (seals for partition p go to partition p).
    for name in (a.topic, a.topic + ".seals"):
        if name in md.topics and not md.topics[name].error:
            print(f"topic {name} exists ({len(md.topics[name].partitions)} partitions)", file=sys.stderr)
            continue
        config = {"min.insync.replicas": str(a.min_isr), "unclean.leader.election.enable": "false"}
        topic = NewTopic(name, num_partitions=a.partitions, replication_factor=a.replication_factor, config=config)
        admin.create_topics([topic])[name].result(timeout=30)
        print(f"created topic {name} ({a.partitions} partitions, replication factor {a.replication_factor}, "
              f"min.insync.replicas {a.min_isr})", file=sys.stderr)
    # Every partition has a leader before anyone is told the stack is up.
    wait("a leader for every partition", lambda: all(
        p.leader >= 0 for n in (a.topic, a.topic + ".seals")
        for p in admin.list_topics(n, timeout=5).topics[n].partitions.values()))


def leader(a):
    topic, partition = a.leader[0], int(a.leader[1])
    md = wait(f"metadata of {topic}", lambda: admin_client(a.kafka).list_topics(topic, timeout=5))
    t = md.topics.get(topic)
    if t is None or t.error or partition not in t.partitions:
        sys.exit(f"error: no partition {partition} of topic {topic}")
    print(t.partitions[partition].leader)


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
    p.add_argument("--kafka", help="bootstrap servers")
    p.add_argument("--brokers", type=int, default=1, help="wait until this many brokers are in the metadata")
    p.add_argument("--s3")
    p.add_argument("--topic")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--replication-factor", type=int, default=1)
    p.add_argument("--min-isr", type=int, default=1)
    p.add_argument("--bucket")
    p.add_argument("--wait-only", action="store_true")
    p.add_argument("--leader", nargs=2, metavar=("TOPIC", "PARTITION"), help="print the partition's leader")
    a = p.parse_args()
    if a.leader:
        return leader(a)
    if a.kafka:
        kafka(a)
    if a.s3:
        s3(a.s3, a.bucket, a.wait_only)


if __name__ == "__main__":
    main()
