"""docs/OPERATIONS.md "Scaling out and in", step by step: a second sealer and a second archiver
started with the same config (the metrics port taken per instance as the runbook says, read from
the line each logs), the partitions-owned gauges settling to shares that add up to the partition
count, then SIGTERM to the first members and the survivors taking everything. Events published
before, between and after the moves are each archived exactly once, and `auditlog verify` is
clean."""
import io
import re
import subprocess
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from conftest import wait_until
from test_archiver import manifests, s3client, start_archiver
from test_runbook_rotation import publish
from test_sealer import metric

PARTITIONS = 2


def metrics_url(log_path):
    """The runbook's rule for several members on one host: port 0, and the port each logs."""
    m = re.search(r"serving /metrics bound=(127\.0\.0\.1:\d+)", Path(log_path).read_text())
    return m and f"http://{m.group(1)}/metrics"


def archived_rows(s3, prefix):
    """(topic, partition, offset) of every archived row, read from the Parquet objects the
    manifests name (events and dead letters alike)."""
    rows = []
    for m in manifests(s3, "audit-archive", prefix):
        for o in m["objects"]:
            body = s3.get_object(Bucket="audit-archive", Key=o["key"], VersionId=o["version_id"])["Body"].read()
            t = pq.read_table(io.BytesIO(body), columns=["kafka_topic", "kafka_partition", "kafka_offset"])
            rows += zip(*(t.column(c).to_pylist() for c in t.column_names))
    return rows


def owned(urls, name):
    values = [metric(u, name) for u in urls]
    return values if None not in values else None


def test_scaling_out_and_in_as_operations_md_describes(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(PARTITIONS, seals=True)
    sealers = sealers_factory(topic, max_interval_ms=300, heartbeat_interval_ms=1000)
    prefix = f"scale-{uuid.uuid4().hex[:8]}/"
    sealer_a = sealers.start()
    archiver_a, cfg, env = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix,
                                          metrics_listen="127.0.0.1:0")
    archiver_a.log_path = tmp_path / "archiver.log"
    s3 = s3client(stack)
    members = [sealer_a, archiver_a]
    try:
        publish(stack, topic, 0, 100)
        wait_until("the first 100 events archived", lambda: len(archived_rows(s3, prefix)) == 100, timeout=120,
                   interval=1.0)

        # Scale out: another `auditlog seal` and another `auditlog archive`, same config, same group.
        sealer_b = sealers.start()
        log_b = open(tmp_path / "archiver-b.log", "w")
        archiver_b = subprocess.Popen([stack.bin, "--config", str(cfg), "archive"], stdout=log_b,
                                      stderr=subprocess.STDOUT, env=env)
        archiver_b.log_path = log_b.name
        members += [sealer_b, archiver_b]
        arch_urls = [wait_until("each archiver to log its metrics port", lambda p=p: metrics_url(p.log_path), timeout=60)
                     for p in (archiver_a, archiver_b)]
        seal_urls = [sealer_a.metrics_url, sealer_b.metrics_url]
        for urls, name in ((seal_urls, "auditlog_sealer_partitions_owned"),
                           (arch_urls, "auditlog_archiver_partitions_owned")):
            shares = wait_until(f"{name} to settle with a share for each member", lambda urls=urls, name=name: (
                (v := owned(urls, name)) and sum(v) == PARTITIONS and min(v) >= 1 and v), timeout=90, interval=0.5)
            assert shares == [1, 1], (name, shares)
        publish(stack, topic, 100, 100)
        wait_until("200 events archived", lambda: len(archived_rows(s3, prefix)) == 200, timeout=120, interval=1.0)

        # Scale in: SIGTERM to the first members; the others take every partition.
        for p in (sealer_a, archiver_a):
            p.terminate()
            assert p.wait(60) == 0, f"a member leaves cleanly on SIGTERM (exit {p.returncode})"
        for url, name in ((sealer_b.metrics_url, "auditlog_sealer_partitions_owned"),
                          (arch_urls[1], "auditlog_archiver_partitions_owned")):
            wait_until(f"{name} of the survivor to reach {PARTITIONS}", lambda url=url, name=name:
                       metric(url, name) == PARTITIONS, timeout=90, interval=0.5)
        publish(stack, topic, 200, 100)
        rows = wait_until("all 300 events archived", lambda: (r := archived_rows(s3, prefix)) and len(r) >= 300 and r,
                          timeout=120, interval=1.0)
        assert len(rows) == len(set(rows)) == 300, "every record archived exactly once"
        assert sorted(rows) == [(topic, p, o) for p in range(PARTITIONS) for o in range(150)], "no gap, no extra"
        for p in (sealer_b, archiver_b):
            assert p.poll() is None, Path(p.log_path).read_text()[-2000:]
    finally:
        for p in members:
            if p.poll() is None:
                p.terminate()
                p.wait(60)
    r = subprocess.run([stack.bin, "--config", str(cfg), "verify"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No findings" in r.stdout, r.stdout
