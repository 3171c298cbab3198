"""The archiver under faults, against the real broker and S3 server: a member
killed with SIGKILL mid-run, and S3 unreachable for 20 s. Afterwards the
archive must hold every published event exactly once, one version per key,
and `auditlog verify` must find nothing."""
import json
import os
import signal
import subprocess
import time
import uuid

import pyarrow.dataset as ds
import pyarrow.fs as pafs
from conftest import Sealers, wait_until
from tcpproxy import Proxy  # scripts/tcpproxy.py, shared with scripts/chaos
from test_archiver import s3client

BUCKET = "audit-archive"


class Archivers:
    def __init__(self, stack, tmp, sealers, topic, endpoint=None):
        self.stack, self.tmp, self.topic = stack, tmp, topic
        self.prefix = f"f-{uuid.uuid4().hex[:8]}/"
        key = tmp / "archiver.key"
        assert stack.run("keygen", "--out", str(key)).returncode == 0
        self.settings = {"key_file": str(key), "seal_keys": [str(sealers.public)], "prefix": self.prefix,
                         "retention_days": 1, "group_id": f"archiver-{uuid.uuid4().hex[:8]}", "metrics_listen": ""}
        self.endpoint = endpoint or stack.s3
        self.retarget()
        # verify talks to the real endpoint even when the archivers go through a proxy
        self.verify_config = stack.write_config(
            tmp / "verify.toml", topic, s3={"endpoint": stack.s3, "bucket": BUCKET, "force_path_style": True},
            archiver={"key_file": str(key), "seal_keys": [str(sealers.public)], "prefix": self.prefix, "retention_days": 1})
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        self.procs = []
        self.s3 = s3client(stack)

    def retarget(self, **targets):
        """(Re)writes the archivers' config, with these grouping targets (FORMAT.md §6a)."""
        self.config = self.stack.write_config(
            self.tmp / "archiver.toml", self.topic,
            s3={"endpoint": self.endpoint, "bucket": BUCKET, "force_path_style": True},
            archiver={**self.settings, **targets},
            **{"kafka.properties": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}})

    def start(self):
        log = open(self.tmp / f"archiver-{len(self.procs)}.log", "w")
        p = subprocess.Popen([self.stack.bin, "--config", str(self.config), "archive"], stdout=log,
                             stderr=subprocess.STDOUT, env=self.env)
        p.log_path = log.name
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()

    def rows(self):
        total = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix + "manifests/"):
            for o in page.get("Contents", []):
                m = json.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
                total += sum(x["rows"] for x in m["objects"])
        return total

    def assert_exact(self, published_ids):
        r = subprocess.run([self.stack.bin, "--config", str(self.verify_config), "verify"], capture_output=True,
                           text=True, env=self.env, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        versions = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=self.prefix):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                versions.setdefault(v["Key"], []).append(v["VersionId"])
        assert versions and all(len(v) == 1 for v in versions.values()), {k: v for k, v in versions.items() if len(v) > 1}
        fs = pafs.S3FileSystem(endpoint_override=self.stack.s3.replace("http://", ""), scheme="http",
                               access_key="test", secret_key="test", region="us-east-1")
        dataset = ds.dataset(f"{BUCKET}/{self.prefix}events/", filesystem=fs, format="parquet", partitioning="hive")
        ids = []
        for frag in dataset.get_fragments():
            t = frag.to_table(columns=["event_id", "kafka_offset"])
            offsets = t.column("kafka_offset").to_pylist()
            assert offsets == sorted(offsets), f"{frag.path}: rows not in offset order"
            ids += t.column("event_id").to_pylist()
        assert len(ids) == len(published_ids), (len(ids), len(published_ids))
        assert set(ids) == set(published_ids), "archived events differ from the published ones"


def publish(stack, tmp, topic, count, seed):
    src = tmp / f"events-{seed}.ndjson"
    r = subprocess.run([stack.bin, "sample", "--count", str(count), "--seed", str(seed)], capture_output=True, check=True)
    src.write_bytes(r.stdout)
    r = stack.run("publish", str(src), config=stack.write_config(tmp / "pub.toml", topic), timeout=600)
    assert r.returncode == 0, r.stderr
    return [json.loads(line)["event_id"] for line in src.read_text().splitlines()]


def test_200k_events_two_archivers_one_killed_mid_run(stack, tmp_path):
    topic = stack.create_topic(6, seals=True)
    sealers = Sealers(stack, tmp_path, topic)
    sealers.start()
    arch = Archivers(stack, tmp_path, sealers, topic)
    try:
        victim = arch.start()
        arch.start()
        ids = publish(stack, tmp_path, topic, 200_000, seed=int(time.time()))
        wait_until("a first part archived", lambda: arch.rows() >= 20_000, timeout=300, interval=0.5)
        assert arch.rows() < 200_000, "archiving finished before the kill; nothing was tested"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        arch.start()
        wait_until("all 200,000 rows archived", lambda: arch.rows() >= 200_000, timeout=600, interval=2.0)
        assert all(p.poll() is None for p in arch.procs[1:]), "a surviving archiver exited"
        arch.stop_all()
        assert arch.rows() == 200_000
        arch.assert_exact(ids)
    finally:
        arch.stop_all()
        sealers.stop_all()


def test_s3_unreachable_for_20s_loses_nothing_and_the_lag_drains(stack, tmp_path):
    topic = stack.create_topic(3, seals=True)
    sealers = Sealers(stack, tmp_path, topic)
    sealers.start()
    proxy = Proxy(int(stack.s3.rsplit(":", 1)[1]))
    arch = Archivers(stack, tmp_path, sealers, topic, endpoint=f"http://127.0.0.1:{proxy.port}")
    try:
        p = arch.start()
        ids = publish(stack, tmp_path, topic, 20_000, seed=1)
        wait_until("the first batch archived", lambda: arch.rows() == 20_000, timeout=300, interval=0.5)
        proxy.down()
        t0 = time.monotonic()
        ids += publish(stack, tmp_path, topic, 20_000, seed=2)
        wait_until("the archiver notices S3 is gone", lambda: "archiving failed; retrying" in open(p.log_path).read(),
                   timeout=60, interval=0.5)
        assert arch.rows() == 20_000
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))  # the outage itself lasts 20 s; this is the scenario, not a wait
        proxy.restore()
        t1 = time.monotonic()
        wait_until("the lag drains after S3 returns", lambda: arch.rows() == 40_000, timeout=300, interval=0.5)
        print(f"drained {time.monotonic() - t1:.1f} s after S3 returned")
        assert p.poll() is None, "the archiver exited during the outage"
        arch.stop_all()
        arch.assert_exact(ids)
    finally:
        arch.stop_all()
        sealers.stop_all()


def test_a_restart_with_other_grouping_targets_continues_every_chain(stack, tmp_path):
    """The runs are cut by the targets in the config (FORMAT.md §6a). An archiver restarted with
    other targets cannot replay where the last run began, finds the last manifest by listing,
    and continues each partition's manifest chain: verify is clean and every event is there once."""
    topic = stack.create_topic(2, seals=True)
    sealers = Sealers(stack, tmp_path, topic, max_records=100, max_interval_ms=300)
    sealers.start()
    arch = Archivers(stack, tmp_path, sealers, topic)
    try:
        arch.retarget(group_max_seals=2)
        first = arch.start()
        ids = publish(stack, tmp_path, topic, 3000, seed=11)
        wait_until("the first 3000 archived", lambda: arch.rows() == 3000, timeout=120, interval=0.5)
        arch.stop_all()
        assert first.returncode == 0
        arch.retarget(group_max_seals=5, group_max_records=450)
        second = arch.start()
        ids += publish(stack, tmp_path, topic, 3000, seed=12)
        wait_until("all 6000 archived", lambda: arch.rows() == 6000, timeout=120, interval=0.5)
        log = open(second.log_path).read()
        assert "last manifest found by listing" in log, log[-3000:]
        arch.stop_all()
        arch.assert_exact(ids)
    finally:
        arch.stop_all()
        sealers.stop_all()


def test_an_archiver_started_while_s3_is_down_waits_and_then_archives(stack, tmp_path):
    """Restarted during an S3 outage (as the chaos run's SIGKILLs do), the archiver used to exit 1 at
    its start-up bucket check; it now says what it waits for and starts once S3 answers."""
    topic = stack.create_topic(2, seals=True)
    sealers = Sealers(stack, tmp_path, topic)
    sealers.start()
    proxy = Proxy(int(stack.s3.rsplit(":", 1)[1]))
    arch = Archivers(stack, tmp_path, sealers, topic, endpoint=f"http://127.0.0.1:{proxy.port}")
    try:
        proxy.down()
        p = arch.start()
        wait_until("the archiver to say it waits for S3",
                   lambda: "waiting for S3 before starting" in open(p.log_path).read(), timeout=30, interval=0.2)
        assert p.poll() is None, open(p.log_path).read()[-2000:]
        proxy.restore()
        wait_until("the archiver to start", lambda: "archiver starting" in open(p.log_path).read(), timeout=30,
                   interval=0.2)
        ids = publish(stack, tmp_path, topic, 2000, seed=21)
        wait_until("the events archived", lambda: arch.rows() == 2000, timeout=120, interval=0.5)
        assert p.poll() is None
        arch.stop_all()
        arch.assert_exact(ids)
    finally:
        arch.stop_all()
        sealers.stop_all()


def test_the_range_finished_on_the_way_out_is_committed(stack, tmp_path):
    """SIGTERM while a range is still being stored (S3 holds its PUT until reading has stopped):
    the uploader finishes it, and its offset commit, sent after the loop's last one and left to
    the consumer's close, reaches the group before the archiver exits."""
    from confluent_kafka import Consumer, TopicPartition

    topic = stack.create_topic(1, seals=True)
    sealers = Sealers(stack, tmp_path, topic, max_records=50, max_interval_ms=300)
    sealers.start()
    proxy = Proxy(int(stack.s3.rsplit(":", 1)[1]))
    arch = Archivers(stack, tmp_path, sealers, topic, endpoint=f"http://127.0.0.1:{proxy.port}")
    proc = arch.start()
    log = lambda: open(proc.log_path).read()  # noqa: E731
    group = Consumer({"bootstrap.servers": stack.kafka, "group.id": arch.settings["group_id"], "log_level": 0})
    seals = TopicPartition(f"{topic}.seals", 0)

    def committed():
        return group.committed([seals], timeout=10)[0].offset

    try:
        wait_until("the archiver to resume its partition", lambda: "archiver resumed" in log(), timeout=60)
        proxy.hold()
        ids = publish(stack, tmp_path, topic, 200, seed=11)
        wait_until("the archiver's PUT to reach S3", lambda: proxy.held() > 0, timeout=60)
        # Nothing after the held range can be committed yet: the uploader finishes in order.
        before = committed()
        proc.send_signal(signal.SIGTERM)
        wait_until("the archiver to stop reading", lambda: "waiting for the uploader" in log(), timeout=30)
        proxy.release()
        assert proc.wait(60) == 0, log()[-4000:]
        after = committed()
        assert after > before, f"the last range's commit was lost: committed {before} before, {after} after"
        assert arch.rows() == 200
        arch.assert_exact(ids)
    finally:
        proxy.release()
        group.close()
        arch.stop_all()
        sealers.stop_all()
