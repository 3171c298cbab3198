"""Canonical values are rebuilt, not stored (docs/FORMAT.md §1a), and every record still comes back
byte for byte: events from `auditlog publish`, foreign producers' non-canonical events and dead
letters, read back with pyarrow and canonicalcheck.py against what confluent-kafka reads from the
topic. Both verifiers find the archive clean."""
import io
import json
import subprocess
import uuid

import pyarrow.parquet as pq
from archivecheck import load_registry
from archivecheck import verify as py_verify
from canonicalcheck import MARKER, record_value
from conftest import make_event, wait_until
from test_archiver import manifests, s3client, start_archiver

BUCKET = "audit-archive"


def foreign_values(n):
    """Records a producer other than ours might write: each is a valid event that is not canonical,
    or not an event at all (a dead letter)."""
    out = []
    for i in range(n):
        e = make_event("foreign", 10_000 + i)
        e["event_time"] = "2026-11-26T10:30:00.123456Z"
        kind = i % 6
        if kind == 0:  # spaces after separators
            out.append(json.dumps(e).encode())
        elif kind == 1:  # keys in another order
            out.append(json.dumps(dict(reversed(list(e.items()))), separators=(",", ":")).encode())
        elif kind == 2:  # no event_id: the archiver mints one, so the value is not the row
            del e["event_id"]
            out.append(json.dumps(e, separators=(",", ":")).encode())
        elif kind == 3:  # an offset in event_time, ASCII escapes
            e["event_time"] = "2026-11-26T11:30:00.123456+01:00"
            e["reason"] = "café"
            out.append(json.dumps(e, separators=(",", ":"), ensure_ascii=True).encode())
        elif kind == 4:  # not JSON
            out.append(b"\xff\x00 not json " + str(i).encode())
        else:  # JSON, not an event
            out.append(json.dumps({"hello": i}).encode())
    return out


def test_every_record_comes_back_byte_for_byte_with_canonical_values_rebuilt(stack, tmp_path, sealers_factory):
    from confluent_kafka import Producer

    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic)
    sealers.start()
    prefix = f"cv-{uuid.uuid4().hex[:8]}/"
    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix)
    s3 = s3client(stack)
    try:
        events = [make_event(f"tenant-{i % 3}", i) for i in range(300)]
        src = tmp_path / "events.ndjson"
        src.write_text("".join(json.dumps(e) + "\n" for e in events))
        r = stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic))
        assert r.returncode == 0, r.stderr
        prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0})
        for v in foreign_values(60):
            prod.produce(topic, v, key=b"foreign", partition=0)
        prod.produce(topic, None, key=b"tombstone", partition=0)
        assert prod.flush(30) == 0
        total = 361
        rows = lambda: sum(o["rows"] for m in manifests(s3, BUCKET, prefix) for o in m["objects"])  # noqa: E731
        wait_until(f"{total} rows archived", lambda: rows() == total or archiver.poll() is not None,
                   timeout=120, interval=0.5)
        assert archiver.poll() is None, (tmp_path / "archiver.log").read_text()[-2000:]
    finally:
        archiver.terminate()
        archiver.wait(30)

    sent = {m.offset(): m.value() for m in stack.read_all(topic)}
    assert len(sent) == total
    got, canonical = {}, {}
    for m in manifests(s3, BUCKET, prefix):
        for o in m["objects"]:
            table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=o["key"])["Body"].read()))
            assert (MARKER in table.column_names) == (o["table"] == "events"), o["key"]
            for row in table.to_pylist():
                got[row["kafka_offset"]] = record_value(row)
                canonical[row["kafka_offset"]] = row.get(MARKER, False)
                if row.get(MARKER):
                    assert row["kafka_value"] is None, row["kafka_offset"]
    assert got == sent, [o for o in sent if got.get(o) != sent[o]][:5]
    # What `publish` wrote is canonical; what the foreign producer wrote never is.
    published = {o for o, v in sent.items() if v is not None and b'"source":"pytest"' in v and b"foreign" not in v}
    assert len(published) == 300
    assert {o for o, c in canonical.items() if c} == published

    registry = tmp_path / "keys.toml"
    registry.write_text(f'[[keys]]\nfile = "{sealers.public}"\nrole = "sealer"\n\n'
                        f'[[keys]]\nfile = "{tmp_path / "archiver.pub"}"\nrole = "archiver"\n')
    r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json", "--keys", str(registry)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["findings"] == []
    theirs, _ = py_verify(s3, BUCKET, prefix, load_registry(registry), 3)
    assert theirs == set()
