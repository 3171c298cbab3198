"""`auditlog archive` against the real broker and S3 server (moto), read back
by boto3, pyarrow and duckdb."""
import datetime as dt
import json
import os
import subprocess
import uuid

import boto3
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from botocore.config import Config
from conftest import duckdb_httpfs, make_event, wait_until

RETENTION_DAYS = 3


def s3client(stack):
    return boto3.client("s3", endpoint_url=stack.s3, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))


def start_archiver(stack, tmp_path, topic, sealers, bucket, prefix, sealer=None, **settings):
    """Starts `auditlog archive` with its own key and group; `settings` add to or override [archiver],
    `sealer` sets [sealer] (its `max_bytes` bounds a range)."""
    key = tmp_path / "archiver.key"
    if not key.exists():
        assert stack.run("keygen", "--out", str(key)).returncode == 0
    cfg = stack.write_config(
        tmp_path / "archiver.toml", topic,
        s3={"endpoint": stack.s3, "bucket": bucket, "force_path_style": True},
        archiver={"key_file": str(key), "seal_keys": [str(sealers.public)], "prefix": prefix,
                  "retention_days": RETENTION_DAYS, "group_id": f"archiver-{uuid.uuid4().hex[:8]}",
                  "metrics_listen": "", **settings},
        **({"sealer": sealer} if sealer else {}),
    )
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    log = open(tmp_path / "archiver.log", "w")
    return subprocess.Popen([stack.bin, "--config", str(cfg), "archive"], stdout=log, stderr=subprocess.STDOUT, env=env), cfg, env


def manifests(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "manifests/"):
        for o in page.get("Contents", []):
            out.append(json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()))
    return out


def test_archive_is_complete_locked_and_readable_by_pyarrow_and_duckdb(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(3, seals=True)
    sealers = sealers_factory(topic)
    sealers.start()
    prefix = f"t-{uuid.uuid4().hex[:8]}/"
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix)
    try:
        events = [make_event(f"tenant-{i % 5}", i) for i in range(3000)]
        src = tmp_path / "events.ndjson"
        src.write_text("".join(json.dumps(e) + "\n" for e in events))
        r = stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic))
        assert r.returncode == 0, r.stderr

        s3 = s3client(stack)
        rows = lambda: sum(o["rows"] for m in manifests(s3, "audit-archive", prefix) for o in m["objects"])  # noqa: E731
        wait_until("3000 rows archived", lambda: rows() == 3000, timeout=120, interval=1.0)
        assert archiver.poll() is None, "archiver exited"

        # Every object and manifest: COMPLIANCE until now + retention, one version per key.
        keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="audit-archive", Prefix=prefix)
                for o in p.get("Contents", [])]
        assert any("/manifests/" in k for k in keys) and any("/events/" in k for k in keys)
        expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=RETENTION_DAYS)
        for k in keys:
            h = s3.head_object(Bucket="audit-archive", Key=k)
            assert h["ObjectLockMode"] == "COMPLIANCE", k
            assert abs((h["ObjectLockRetainUntilDate"] - expected).total_seconds()) < 3600, (k, h["ObjectLockRetainUntilDate"])
            versions = s3.list_object_versions(Bucket="audit-archive", Prefix=k)["Versions"]
            assert len([v for v in versions if v["Key"] == k]) == 1, k

        # pyarrow straight from the S3 endpoint, Hive partitions detected.
        fs = pafs.S3FileSystem(endpoint_override=stack.s3.replace("http://", ""), scheme="http",
                               access_key="test", secret_key="test", region="us-east-1")
        dataset = ds.dataset(f"audit-archive/{prefix}events/", filesystem=fs, format="parquet", partitioning="hive")
        archive = dataset.to_table()
        assert archive.num_rows == 3000
        assert {"topic", "dt", "hour", "partition"} <= set(archive.schema.names)
        assert str(archive.schema.field("event_time").type) == "timestamp[us, tz=UTC]"
        assert sorted(archive.column("event_id").to_pylist()) == sorted(e["event_id"] for e in events)
        for p in range(3):
            offsets = archive.filter(ds.field("kafka_partition") == p).column("kafka_offset").to_pylist()
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)

        # DuckDB straight from the S3 endpoint (httpfs), Hive partitions and UTC timestamps typed.
        con = duckdb_httpfs(stack.s3)
        view = f"read_parquet('s3://audit-archive/{prefix}events/*/*/*/*/*.parquet', hive_partitioning = true)"
        counts = dict(con.execute(f"select tenant, count(*) from {view} group by tenant").fetchall())
        assert counts == {f"tenant-{i}": 600 for i in range(5)}
        types = dict(con.execute(f"select column_name, column_type from (describe select * from {view})").fetchall())
        assert types["event_time"] == "TIMESTAMP WITH TIME ZONE" and types["kafka_timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert {"topic", "dt", "hour", "partition"} <= set(types)
        per_partition = con.execute(f"select kafka_partition, count(*), count(distinct kafka_offset), min(kafka_offset), "
                                    f"max(kafka_offset) from {view} group by all order by 1").fetchall()
        ends = stack.end_offsets(topic)
        assert per_partition == [(p, ends[p], ends[p], 0, ends[p] - 1) for p in range(3)]
    finally:
        archiver.terminate()
        archiver.wait(30)


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# (sealer.max_bytes in MiB, budget in MiB): the least budget the plan accepts for ranges of 8
# such seals, 96 + 4.7 × 8 × that, rounded up (config/src/memory.rs).
@pytest.mark.parametrize("seal_mib,budget", [(1, 142), (2, 180)])
def test_full_size_ranges_keep_the_whole_archiver_within_its_memory_budget(stack, tmp_path, sealers_factory,
                                                                           seal_mib, budget):
    """`archiver.memory_budget_mib` is the process's memory, not only its records: with a backlog
    cut into ranges of the largest size the config allows (8 seals of `sealer.max_bytes`), read
    while the previous range is encoded and uploaded, the archiver's peak RSS stays within it."""
    from confluent_kafka import Producer

    topic = stack.create_topic(1, seals=True)
    # Three full ranges of ~19,000 sample events per MiB of seal, and a partial fourth.
    sample = stack.run("sample", "--count", str(64_000 * seal_mib))
    assert sample.returncode == 0, sample.stderr
    lines = sample.stdout.splitlines()
    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0, "linger.ms": 20})
    for line in lines:
        while True:
            try:
                prod.produce(topic, line.encode(), partition=0)
                break
            except BufferError:
                prod.poll(0.1)
    assert prod.flush(60) == 0
    seal_bytes = seal_mib << 20
    sealers = sealers_factory(topic, max_records=100_000, max_interval_ms=5_000, max_bytes=seal_bytes,
                              archiver={"group_max_seals": 8, "memory_budget_mib": budget})
    sealers.start()
    prefix = f"mem-{uuid.uuid4().hex[:8]}/"
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix,
                                    sealer={"max_bytes": seal_bytes}, memory_budget_mib=budget,
                                    group_max_seals=8, group_max_age_ms=600_000)
    try:
        s3 = s3client(stack)
        ms = lambda: manifests(s3, "audit-archive", prefix)  # noqa: E731
        # Three full ranges; the partial last one is held by the age rule.
        wait_until("three full ranges archived", lambda: len(ms()) >= 3, timeout=180, interval=1.0)
        assert archiver.poll() is None, (tmp_path / "archiver.log").read_text()[-3000:]
        done = ms()
        assert all(len(m["seals"]) == 8 for m in done), [len(m["seals"]) for m in done]
        biggest = max(sum(o["rows"] for o in m["objects"]) for m in done)
        peak = peak_rss_mib(archiver.pid)
        print(f"{len(done)} ranges of up to {biggest} rows; archiver peak RSS {peak:.0f} MiB, budget {budget} MiB")
        # Sample events average ~440 bytes: 8 seals cut at 1 MiB each hold ~19,000 of them.
        assert biggest >= 8 * seal_bytes // 500, f"ranges are near the 8 MiB bound ({biggest} rows)"
        assert peak <= budget, f"peak RSS {peak:.0f} MiB over the {budget} MiB budget"
    finally:
        archiver.terminate()
        archiver.wait(30)


def test_a_bucket_without_object_lock_is_refused_by_name(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic)
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    s3client(stack).create_bucket(Bucket=bucket)
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, bucket, "")
    assert archiver.wait(60) != 0
    log = (tmp_path / "archiver.log").read_text()
    assert f"bucket {bucket} cannot hold an audit archive" in log, log


def test_missing_aws_credentials_are_named_not_dumped(stack, tmp_path, sealers_factory):
    """No credentials anywhere in the default chain: the archiver exits non-zero with one line
    that says so, instead of the SDK's pages of debug output."""
    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic)
    running, cfg, env = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", "")
    running.terminate()  # only its config and environment are wanted here
    running.wait(30)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(var, None)
    env["HOME"] = str(tmp_path)  # no ~/.aws
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    r = subprocess.run([stack.bin, "--config", str(cfg), "archive"], capture_output=True, text=True, env=env, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and "no AWS credentials" in last and "s3://audit-archive/" in last, r.stderr[-2000:]
    assert len(last) < 300, last


def cut_ranges(seals, max_records, max_seals, max_age_ms):
    """docs/FORMAT.md §6a, written from the document: canonical seals in order → (closed ranges, open range)."""
    closed, run = [], []
    for s in seals:
        if run and s["sealed_at_ms"] - run[0]["sealed_at_ms"] >= max_age_ms:
            closed.append(run)
            run = []
        if s["kind"] != "data":
            continue
        run.append(s)
        if sum(x["count"] for x in run) >= max_records or len(run) >= max_seals:
            closed.append(run)
            run = []
    return closed, run


def test_consecutive_seals_become_one_object_cut_by_the_documented_rule(stack, tmp_path, sealers_factory):
    """Each manifest covers a run of seals, and the runs are exactly those the §6a rule cuts from
    the canonical seals (recomputed here from the seals topic, read by confluent-kafka): by
    records, by seals, and by seal time, a quiet partition's last run closed by a heartbeat.
    Each run is one Parquet object with one row group and the seals in its metadata."""
    import io

    import pyarrow.parquet as pq
    from chaincheck import canonical, read_partition

    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic, max_records=100, max_interval_ms=300, heartbeat_interval_ms=700)
    sealers.start()
    targets = {"group_max_records": 250, "group_max_seals": 4, "group_max_age_ms": 1500}
    prefix = f"g-{uuid.uuid4().hex[:8]}/"
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix, **targets)
    s3 = s3client(stack)
    rows = lambda: sum(o["rows"] for m in manifests(s3, "audit-archive", prefix) for o in m["objects"])  # noqa: E731
    try:
        published = 0
        # A burst (runs cut by records or seals), archived in full, which takes a heartbeat
        # 1.5 s after its last run began; then a trickle whose one run only time can close.
        for wave, n in enumerate([1200, 8]):
            events = [make_event("tenant-g", published + i) for i in range(n)]
            src = tmp_path / f"wave-{wave}.ndjson"
            src.write_text("".join(json.dumps(e) + "\n" for e in events))
            assert stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic)).returncode == 0
            published += n
            wait_until(f"{published} rows archived", lambda p=published: rows() == p, timeout=120, interval=0.5)
    finally:
        archiver.terminate()
        archiver.wait(30)
    _, _, raw = read_partition(stack.kafka, topic + ".seals", 0)
    accepted, _ = canonical(topic, 0, [(r[0], json.loads(r[3])) for r in raw], sealers.publics())
    closed, _ = cut_ranges([s for _, s in accepted], targets["group_max_records"], targets["group_max_seals"],
                           targets["group_max_age_ms"])
    ms = sorted(manifests(s3, "audit-archive", prefix), key=lambda m: m["seals"][0]["first_offset"])
    ident = lambda run: [(s["seq"], s["sig"]) for s in run]  # noqa: E731
    assert [ident(m["seals"]) for m in ms] == [ident(r) for r in closed[:len(ms)]]
    assert sum(r[-1]["last_offset"] - r[0]["first_offset"] + 1 for r in closed[:len(ms)]) == published
    assert any(len(m["seals"]) > 1 for m in ms), "some ranges hold several seals"
    full = [m for m in ms if sum(s["count"] for s in m["seals"]) >= targets["group_max_records"]
            or len(m["seals"]) == targets["group_max_seals"]]
    assert full, "the burst's runs close by records or seals"
    last = ms[-1]["seals"]
    assert len(last) == 1 and last[0]["count"] == 8, "the trickle's run, closed by time (a heartbeat)"
    for m in ms:
        obj = next(o for o in m["objects"] if o["table"] == "events")
        body = s3.get_object(Bucket="audit-archive", Key=obj["key"], VersionId=obj["version_id"])["Body"].read()
        meta = pq.ParquetFile(io.BytesIO(body)).metadata
        assert meta.num_row_groups == 1 and meta.num_rows == sum(s["count"] for s in m["seals"])
        kv = {k.decode(): v.decode() for k, v in meta.metadata.items()}
        assert [s["sig"] for s in json.loads(kv["auditlog.seals"])] == [s["sig"] for s in m["seals"]]
        assert int(kv["auditlog.first_offset"]) == m["seals"][0]["first_offset"]
        assert int(kv["auditlog.last_offset"]) == m["seals"][-1]["last_offset"]


def test_an_event_class_keeps_its_whole_range_locked_longer_and_both_verifiers_hold_it_to_that(stack, tmp_path, sealers_factory):
    """retention_days_by_action: a range holding an `admin.*` event is locked for the class's 5 days
    (objects and manifest alike), other ranges for the topic's 1 day, each exactly seal time + retention
    (HeadObject). Shortening one such object to 2 days, still more than the topic's 1, is reported by
    `auditlog verify` and by the independent verifier."""
    import io

    import pyarrow.parquet as pq
    from archivecheck import load_registry
    from archivecheck import verify as py_verify

    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic)
    sealers.start()
    prefix = f"c-{uuid.uuid4().hex[:8]}/"
    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix, retention_days=1,
                                        retention_days_by_action={"admin.": 5})
    key = tmp_path / "archiver.key"
    s3 = s3client(stack)
    rows = lambda: sum(o["rows"] for m in manifests(s3, "audit-archive", prefix) for o in m["objects"])  # noqa: E731
    try:
        # Two waves, each archived before the next: only the second holds an admin event (one tenant,
        # so one partition), so some ranges have the class and some do not.
        published = 0
        for wave, admin in enumerate([False, True]):
            events = [make_event(f"tenant-{i % 4}", published + i) for i in range(200)]
            if admin:
                events[8]["action"] = "admin.grant"
            src = tmp_path / f"wave-{wave}.ndjson"
            src.write_text("".join(json.dumps(e) + "\n" for e in events))
            assert stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic)).returncode == 0
            published += len(events)
            wait_until(f"{published} rows archived", lambda p=published: rows() == p or archiver.poll() is not None,
                       timeout=120, interval=0.5)
            assert archiver.poll() is None, (tmp_path / "archiver.log").read_text()[-2000:]
    finally:
        archiver.terminate()
        archiver.wait(30)

    classes = {True: 0, False: 0}
    locked_5 = None
    for m in manifests(s3, "audit-archive", prefix):
        events_obj = next(o for o in m["objects"] if o["table"] == "events")
        body = s3.get_object(Bucket="audit-archive", Key=events_obj["key"])["Body"].read()
        admin = any(a.startswith("admin.") for a in pq.read_table(io.BytesIO(body), columns=["action"]).column("action").to_pylist())
        classes[admin] += 1
        until = -(-m["seals"][-1]["sealed_at_ms"] // 1000) + (5 if admin else 1) * 86400
        first = m["seals"][0]
        mkey = f"{prefix}manifests/topic={topic}/partition={first['partition']:04}/{first['first_offset']:020}.json"
        for k in [mkey] + [o["key"] for o in m["objects"]]:
            h = s3.head_object(Bucket="audit-archive", Key=k)
            assert h["ObjectLockMode"] == "COMPLIANCE" and int(h["ObjectLockRetainUntilDate"].timestamp()) == until, (k, admin)
        if admin:
            locked_5 = events_obj
    assert classes[True] == 1 and classes[False] >= 1, classes

    registry = tmp_path / "keys.toml"
    registry.write_text(f'[[keys]]\nfile = "{sealers.public}"\nrole = "sealer"\n\n'
                        f'[[keys]]\nfile = "{key.with_suffix(".pub")}"\nrole = "archiver"\n')

    def both():
        r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json", "--keys", str(registry)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode in (0, 1), r.stderr
        ours = {(f["kind"], f.get("key")) for f in json.loads(r.stdout)["findings"]}
        theirs, _ = py_verify(s3, "audit-archive", prefix, load_registry(registry), 1, retention_by_action={"admin.": 5})
        assert ours == theirs, (ours, theirs)
        return ours

    assert both() == set()
    s3.put_object_retention(Bucket="audit-archive", Key=locked_5["key"], VersionId=locked_5["version_id"],
                            Retention={"Mode": "COMPLIANCE",
                                       "RetainUntilDate": dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)},
                            BypassGovernanceRetention=True)
    assert both() == {("retention_too_short", locked_5["key"])}
