"""Verification split across machines (issue 20): `verify --partition` shards over a tampered archive
(a row edited in one partition, a stray object in another's folder, a stray key of no partition),
their JSON reports merged by `auditlog verify-merge` into the verdict a single run gives: the same
findings and exit code. A missing shard is refused with exit 2 and a message that says what to add
(the other refusals are unit tests of verify/src/merge.rs)."""
import io
import json
import subprocess
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import make_event, wait_until
from test_archiver import manifests, s3client, start_archiver

BUCKET = "audit-archive"
PARTITIONS = 4


def test_shards_merge_into_the_single_run_verdict(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(PARTITIONS, seals=True)
    sealers = sealers_factory(topic)
    sealers.start()
    prefix = f"shards-{uuid.uuid4().hex[:8]}/"
    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix)
    s3 = s3client(stack)
    try:
        src = tmp_path / "events.ndjson"
        src.write_text("".join(json.dumps(make_event(f"tenant-{i % 11}", i)) + "\n" for i in range(400)))
        assert stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic)).returncode == 0
        wait_until("400 rows archived", lambda: sum(o["rows"] for m in manifests(s3, BUCKET, prefix)
                                                    for o in m["objects"]) == 400, timeout=120, interval=1.0)
    finally:
        archiver.terminate()
        archiver.wait(60)

    # Tamper: a row of partition 2 edited, a stray object in partition 3's folder, a stray key of no partition.
    m2 = next(m for m in manifests(s3, BUCKET, prefix) if m["seals"][0]["partition"] == 2)
    key = next(o["key"] for o in m2["objects"] if o["table"] == "events")
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    rows = table.to_pylist()
    rows[0]["tenant"] += "!"  # a canonical row: its value is its columns (FORMAT.md §1a)
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out)
    s3.put_object(Bucket=BUCKET, Key=key, Body=out.getvalue())
    stray3 = f"{prefix}events/topic={topic}/dt=2026-11-26/hour=00/partition=0003/99999999999999999999.parquet"
    s3.put_object(Bucket=BUCKET, Key=stray3, Body=b"PAR1 not really")
    stray = f"{prefix}stray.bin"
    s3.put_object(Bucket=BUCKET, Key=stray, Body=b"?")

    def verify(*extra, out=None):
        r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json", *extra],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        if out:
            out.write_text(r.stdout)
        return r.returncode, json.loads(r.stdout)

    def merge(*reports, fmt="json"):
        return subprocess.run([stack.bin, "verify-merge", "--format", fmt, *map(str, reports)],
                              capture_output=True, text=True, timeout=60)

    code, single = verify()
    expected = {(f["kind"], f.get("key"), f["partition"]) for f in single["findings"]}
    assert code == 1 and ("unreferenced_object", stray, -1) in expected and ("unreferenced_object", stray3, -1) in expected
    assert {k for k, _, p in expected if p == 2} >= {"record_altered", "object_replaced"}, expected

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    code_a, shard_a = verify("--partition", "0-1", out=a)
    code_b, shard_b = verify("--partitions", "2,3", out=b)
    assert (code_a, code_b) == (1, 1), "shard a holds partition 0, so it reports the stray key of no partition"
    assert stray3 not in json.dumps(shard_a["findings"]) and stray not in json.dumps(shard_b["findings"])
    r = merge(a, b)
    assert r.returncode == 1, r.stderr
    merged = json.loads(r.stdout)
    assert {(f["kind"], f.get("key"), f["partition"]) for f in merged["findings"]} == expected
    assert merged["partitions"] == single["partitions"] and merged["unreferenced"] == single["unreferenced"]
    text = merge(a, b, fmt="text")
    assert text.returncode == 1 and "finding(s):" in text.stdout and stray in text.stdout

    # A shard missing: no verdict, and the message names what to add.
    r = merge(a)
    assert r.returncode == 2 and f"no shard verified {topic}/2, {topic}/3" in r.stderr, r.stderr
    r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--partition", "3-1"], capture_output=True, text=True)
    assert r.returncode == 2 and "a range runs from a partition up to one at least as high" in r.stderr, r.stderr
