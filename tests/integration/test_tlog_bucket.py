"""Each archived (topic, partition) is a C2SP transparency log in the bucket (docs/FORMAT.md §11.11),
checked by an independent Go program on golang.org/x/mod/sumdb (tests/tlogcheck): signatures under the
vkeys `auditlog archive --print-log-vkey` prints (one per log, named by its origin), tree hashes from the tiles, consistency between
successive checkpoints, and inclusion of record digests computed here from the events read back from
Kafka. The archiver is stopped (SIGTERM) and started again halfway; the log goes on consistently."""
import json
import signal
import subprocess
import uuid

import pytest
from chaincheck import digest, read_partition
from conftest import go_build, make_event, wait_until
from test_archiver import s3client, start_archiver

BUCKET = "audit-archive"


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory):
    """The Go checker, built once."""
    return go_build(tmp_path_factory, "tlogcheck")


def keys_under(s3, prefix):
    return [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            for o in p.get("Contents", [])]


def newest_size(s3, log_dir):
    sizes = [int(k.rsplit("/", 1)[1]) for k in keys_under(s3, log_dir + "checkpoint/")]
    return max(sizes, default=0)


def log_vkeys(stack, cfg):
    """`auditlog archive --print-log-vkey`: one vkey per partition log, its key name the log's origin."""
    r = stack.run("archive", "--print-log-vkey", config=cfg)
    assert r.returncode == 0, r.stderr
    return {line.split("+", 1)[0]: line for line in r.stdout.split()}


def publish(stack, tmp_path, topic, first, n):
    src = tmp_path / f"events-{first}.ndjson"
    src.write_text("".join(json.dumps(make_event(f"tenant-{i % 16}", i)) + "\n" for i in range(first, first + n)))
    r = stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic))
    assert r.returncode == 0, r.stderr


def test_each_partition_is_a_tlog_that_x_mod_verifies_across_an_archiver_restart(stack, tmp_path, sealers_factory,
                                                                                    tlogcheck):
    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic, max_records=200)
    sealers.start()
    prefix = f"tl-{uuid.uuid4().hex[:8]}/"
    settings = {"transparency_log": True, "group_id": f"archiver-{uuid.uuid4().hex[:8]}",
                "group_max_records": 400, "group_max_seals": 2, "group_max_age_ms": 1000}
    s3 = s3client(stack)
    dirs = {p: f"{prefix}tlog/{topic}/{p}/" for p in range(2)}

    def logged_everything():
        ends = stack.end_offsets(topic)
        return all(newest_size(s3, dirs[p]) == ends[p] for p in range(2))

    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
    try:
        publish(stack, tmp_path, topic, 0, 1500)
        assert all(n > 0 for n in stack.end_offsets(topic).values()), "both partitions hold events"
        wait_until("the first 1500 events logged", logged_everything, timeout=180, interval=1.0)
        archiver.send_signal(signal.SIGTERM)
        assert archiver.wait(60) == 0
        first_log = (tmp_path / "archiver.log").read_text()
        (tmp_path / "archiver-1.log").write_text(first_log)
        sizes_before = {p: newest_size(s3, dirs[p]) for p in range(2)}

        publish(stack, tmp_path, topic, 1500, 1500)
        archiver, cfg, _ = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
        wait_until("all 3000 events logged", logged_everything, timeout=180, interval=1.0)
        assert archiver.poll() is None, "archiver exited"
        second_log = (tmp_path / "archiver.log").read_text()
        assert "transparency log resumed" in second_log, second_log[-3000:]
    finally:
        archiver.terminate()
        archiver.wait(30)
        sealers.stop_all()

    vkeys = log_vkeys(stack, cfg)
    origin_prefix = f"auditlog.local/{BUCKET}/{prefix.rstrip('/')}"
    assert {f"{origin_prefix}/{topic}/{p}" for p in range(2)} <= set(vkeys), vkeys

    for p in range(2):
        keys = keys_under(s3, dirs[p])
        local = tmp_path / f"log-{p}"
        for k in keys:
            path = local / k[len(dirs[p]):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
        # Create-only under the partition's retention, one version a key.
        for k in keys[:3] + keys[-3:]:
            h = s3.head_object(Bucket=BUCKET, Key=k)
            assert h["ObjectLockMode"] == "COMPLIANCE", k
            assert len([v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=k)["Versions"] if v["Key"] == k]) == 1

        _, _, records = read_partition(stack.kafka, topic, p)
        leaves = [digest(*rec).hex() for rec in records]
        (local / "leaves.json").write_text(json.dumps(leaves))
        out = subprocess.run([str(tlogcheck), "-dir", str(local), "-vkey", vkeys[f"{origin_prefix}/{topic}/{p}"],
                              "-origin", f"{origin_prefix}/{topic}/{p}",
                              "-leaves", str(local / "leaves.json")], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)
        assert summary["size"] == len(leaves) == len(records)
        assert summary["leaves_checked"] == len(leaves) and summary["inclusion_proofs"] >= 4
        # Several ranges each side of the restart, and the log went on from where it stood.
        assert summary["checkpoints"] >= 4, summary
        assert sizes_before[p] in summary["sizes"] and 0 < sizes_before[p] < summary["size"], (sizes_before, summary)
        assert summary["sizes"] == sorted(set(summary["sizes"]))

    # auditlog verify holds both logs to the archive (§8 step 9), clean as written ...
    def verify():
        r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json"], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout)

    report = verify()
    assert report["findings"] == [], report["findings"]
    assert report["logs"]["logs"] == 2 and report["logs"]["leaves"] == 3000, report["logs"]
    # ... then names a checkpoint that is not one, and a rewritten tile (a new version of a locked key).
    bogus = f"{dirs[0]}checkpoint/{10**12:020}"
    s3.put_object(Bucket=BUCKET, Key=bogus, Body=b"not a signed note\n")
    assert {(f["kind"], f.get("key")) for f in verify()["findings"]} == {("log_checkpoint_bad", bogus)}
    tile = f"{dirs[1]}tile/0/000"
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=tile)["Body"].read())
    data[5] ^= 1
    s3.put_object(Bucket=BUCKET, Key=tile, Body=bytes(data))
    kinds = {(f["kind"], f["partition"]) for f in verify()["findings"]}
    assert {("extra_version", 1), ("log_leaf_mismatch", 1), ("log_root_mismatch", 1)} <= kinds, kinds
    # (The new version carries no lock: retention_missing too.)
    assert {k for k, p in kinds if p == 1} <= {"extra_version", "log_leaf_mismatch", "log_root_mismatch",
                                              "log_tile_altered", "retention_missing"}, kinds
