"""Each archived (topic, partition) is a C2SP transparency log in the bucket (docs/FORMAT.md §11.11),
checked by an independent Go program on golang.org/x/mod/sumdb (tests/tlogcheck): signatures under the
vkeys `auditlog archive --print-log-vkey` prints (one per log, named by its origin), tree hashes from the tiles, consistency between
successive checkpoints, and inclusion of record digests computed here from the events read back from
Kafka. The archiver is stopped (SIGTERM) and started again halfway; the log goes on consistently.

`auditlog verify --state` verifies the logs incrementally: a clean run at the halfway point, then a run
after the growth that GETs (counted at an HTTP proxy in front of moto) only the new tiles and checkpoints
and the few partial tiles of the size the first run verified, and still catches an old tile given a new
version and an old checkpoint deleted."""
import json
import signal
import subprocess
import uuid

import pytest
from chaincheck import digest, read_partition
from conftest import go_build, make_event, wait_until
from s3count import CountingProxy
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


def tile_path(level, index, width):
    """c2sp.org/tlog-tiles: tile/<L>/<N>[.p/<W>], N in 3-digit groups, all but the last with an x."""
    groups = []
    while True:
        groups.append(index % 1000)
        index //= 1000
        if index == 0:
            break
    n = "/".join(("x" if i + 1 < len(groups) else "") + f"{g:03}" for i, g in enumerate(reversed(groups)))
    return f"tile/{level}/{n}" + (f".p/{width}" if width < 256 else "")


def partial_tiles(size):
    """The partial tiles of a tree of `size` leaves: all an incremental verify may read again."""
    out, level = [], 0
    while size >> (8 * level):
        hashes = size >> (8 * level)
        if hashes % 256:
            out.append(tile_path(level, hashes // 256, hashes % 256))
        level += 1
    return out


def test_tile_paths_match_the_spec():
    assert partial_tiles(70000) == ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert tile_path(0, 1234067, 256) == "tile/0/x001/x234/067" and partial_tiles(256) == ["tile/1/000.p/1"]


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
        # A clean run with a state file: the next one resumes the logs at these sizes.
        state = tmp_path / "verify.state.json"
        r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json", "--state", str(state)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        marks = json.loads(state.read_text())["verified"]["logs"]
        assert {k: m["size"] for k, m in marks.items()} == {f"{topic}/{p}": sizes_before[p] for p in range(2)}, marks
        old_keys = set(keys_under(s3, prefix))

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
    def verify(*extra, config=cfg):
        r = subprocess.run([stack.bin, "--config", str(config), "verify", "--format", "json", *extra],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout)

    report = verify()
    assert report["findings"] == [], report["findings"]
    assert report["logs"]["logs"] == 2 and report["logs"]["leaves"] == 3000, report["logs"]

    # ... incrementally too: the logs resumed at the sizes verified halfway, none of the old full tiles
    # nor old checkpoints downloaded (the S3 server's count, through a proxy).
    proxy = CountingProxy(stack.s3)
    counted = cfg.with_name("counted.toml")
    counted.write_text(cfg.read_text().replace(f'"{stack.s3}"', f'"{proxy.url}"'))
    try:
        def log_gets(*extra):
            report = verify(*extra, config=counted)
            got = [(key, n) for method, key, _, n in proxy.take() if method == "GET" and key and "/tlog/" in key]
            return report, got

        full, full_gets = log_gets()
        inc, inc_gets = log_gets("--state", str(state))
        # Nothing new since: only the partial tiles of each log's size, where it is resumed.
        idle, idle_gets = log_gets("--state", str(state))
    finally:
        proxy.close()
    assert idle["findings"] == [] and idle["logs"]["resumed"] == 2, idle["findings"]
    resumed_at = {p: newest_size(s3, dirs[p]) for p in range(2)}
    assert sorted(k for k, _ in idle_gets) == sorted(dirs[p] + t for p in range(2) for t in partial_tiles(resumed_at[p]))
    assert full["findings"] == [] and inc["findings"] == [], inc["findings"]
    assert inc["logs"]["resumed"] == 2 and inc["logs"]["leaves"] == 3000, inc["logs"]
    may_read_again = {dirs[p] + t for p in range(2) for t in partial_tiles(sizes_before[p])}
    old_read = {k for k, _ in inc_gets} & old_keys
    assert old_read <= may_read_again, f"old log objects downloaded: {sorted(old_read - may_read_again)}"
    new_log_keys = {k for p in range(2) for k in keys_under(s3, dirs[p])} - old_keys
    assert new_log_keys <= {k for k, _ in inc_gets}, "every new tile and checkpoint is read"
    assert len({k for k, _ in full_gets}) == len(full_gets), "a full run reads each log object once"
    print(f"\nlog objects: full run {len(full_gets)} GETs, {sum(n for _, n in full_gets)} bytes; incremental "
          f"{len(inc_gets)} GETs ({len(old_read)} old partial tiles), {sum(n for _, n in inc_gets)} bytes; "
          f"{inc['logs']['listed']} checked by listing; with nothing new {len(idle_gets)} GETs, "
          f"{sum(n for _, n in idle_gets)} bytes")

    # ... then names a checkpoint that is not one, and a rewritten tile (a new version of a locked key);
    # so does an incremental run, which reads the changed log in full.
    bogus = f"{dirs[0]}checkpoint/{10**12:020}"
    s3.put_object(Bucket=BUCKET, Key=bogus, Body=b"not a signed note\n")
    assert {(f["kind"], f.get("key")) for f in verify()["findings"]} == {("log_checkpoint_bad", bogus)}
    assert {(f["kind"], f.get("key")) for f in verify("--state", str(state))["findings"]} == {
        ("log_checkpoint_bad", bogus)}
    tile = f"{dirs[1]}tile/0/000"
    assert tile in old_keys
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=tile)["Body"].read())
    data[5] ^= 1
    s3.put_object(Bucket=BUCKET, Key=tile, Body=bytes(data))
    kinds = {(f["kind"], f["partition"]) for f in verify()["findings"]}
    assert {("extra_version", 1), ("log_leaf_mismatch", 1), ("log_root_mismatch", 1)} <= kinds, kinds
    # (The new version carries no lock: retention_missing too.)
    assert {k for k, p in kinds if p == 1} <= {"extra_version", "log_leaf_mismatch", "log_root_mismatch",
                                              "log_tile_altered", "retention_missing"}, kinds
    # The incremental run checks the old ranges by listing, so only the log can disagree with the tile.
    inc = verify("--state", str(state))
    kinds = {(f["kind"], f["partition"]) for f in inc["findings"]}
    assert {("extra_version", 1), ("log_root_mismatch", 1)} <= kinds, kinds
    assert inc["logs"]["resumed"] == 1, "partition 1's log is read in full, partition 0's resumed"
    # An old checkpoint deleted (a delete marker): its log is read in full, and the hole is named.
    gone = f"{dirs[0]}checkpoint/{sizes_before[0]:020}"
    assert gone in old_keys
    s3.delete_object(Bucket=BUCKET, Key=gone)
    found = {(f["kind"], f.get("key")) for f in verify("--state", str(state))["findings"]}
    assert ("extra_version", gone) in found and "log_size_mismatch" in {k for k, _ in found}, found
