"""`auditlog verify` against real archives built by the pipeline (broker and
moto S3), each tampered through the S3 API in one way, and the independent
Python verifier (archivecheck.py) run on the same archive must agree.

One sealer run feeds several archivers at once, each with its own group and
prefix, so every test gets an identical, untouched archive of its own.
"""
import datetime as dt
import io
import json
import os
import subprocess
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from archivecheck import checkpoint_message, load_registry, manifest_digest, manifest_message, read_rows
from archivecheck import verify as py_verify
from canonicalcheck import MARKER, canonical_json
from chaincheck import digest, key_id, link, load_secret, merkle_root, sha
from chaincheck import sign as sign_seal
from conftest import Sealers, make_event, stop_processes, wait_until
from test_archiver import s3client

BUCKET = "audit-archive"
RETENTION_DAYS = 1
EVENTS = 600
SCENARIOS = ["clean", "edit", "remove", "swap", "append", "delete_version", "manifest_gap", "two_manifests",
             "tail", "unreferenced", "unknown_key", "old_key", "retention", "offset_gap", "fork", "html",
             "ckpt_gap", "ckpt_forged", "derived", "canonical_resigned", "format1"]


class Archives:
    def __init__(self, stack, tmp, sealers, topic):
        self.stack, self.tmp, self.sealers, self.topic = stack, tmp, sealers, topic
        self.s3 = s3client(stack)
        self.run_id = uuid.uuid4().hex[:8]
        self.archiver_key = tmp / "archiver.key"
        assert stack.run("keygen", "--out", str(self.archiver_key)).returncode == 0
        self.registry = tmp / "keys.toml"
        self.registry.write_text(
            f'[[keys]]\nfile = "{sealers.public.name}"\nrole = "sealer"\n\n'
            f'[[keys]]\nfile = "{self.archiver_key.with_suffix(".pub").name}"\nrole = "archiver"\n')
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")

    def prefix(self, scenario):
        return f"v-{self.run_id}/{scenario}/"

    def config(self, scenario):
        return self.stack.write_config(
            self.tmp / f"{scenario}.toml", self.topic,
            s3={"endpoint": self.stack.s3, "bucket": BUCKET, "force_path_style": True},
            archiver={"key_file": str(self.archiver_key), "seal_keys": [str(self.sealers.public)],
                      "prefix": self.prefix(scenario), "retention_days": RETENTION_DAYS,
                      "group_id": f"verify-{self.run_id}-{scenario}", "metrics_listen": "",
                      "checkpoint_interval_secs": 2, "checkpoint_idle_secs": 2, "group_max_seals": 3, "group_max_age_ms": 2000,
                      # The archive as it was before kafka_value_canonical: every value stored.
                      **({"store_every_value": True} if scenario == "format1" else {})})

    def rows_archived(self, scenario):
        total = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix(scenario) + "manifests/"):
            for o in page.get("Contents", []):
                m = json.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
                total += sum(x["rows"] for x in m["objects"])
        return total

    def verify(self, scenario, *extra, keys=None):
        """Runs both verifiers; returns (exit code, Rust findings) after asserting they agree."""
        args = ["verify", "--format", "json", "--keys", str(keys or self.registry), *extra]
        r = subprocess.run([self.stack.bin, "--config", str(self.config(scenario)), *args],
                           capture_output=True, text=True, timeout=300, env=self.env)
        assert r.returncode in (0, 1), r.stderr
        report = json.loads(r.stdout)
        ours = {(f["kind"], f.get("key")) for f in report["findings"]}
        state = None
        if "--state" in extra:
            path = extra[extra.index("--state") + 1]
            if os.path.exists(path):
                state = json.load(open(path))["partitions"]
        theirs, _ = py_verify(self.s3, BUCKET, self.prefix(scenario), load_registry(keys or self.registry),
                              RETENTION_DAYS, state=state)
        assert ours == theirs, f"auditlog verify and the independent verifier disagree:\n ours={sorted(ours, key=str)}\n theirs={sorted(theirs, key=str)}"
        assert (r.returncode == 0) == (not ours)
        return r.returncode, report

    # --- reading and tampering through the S3 API -------------------------------------------
    def manifests(self, scenario):
        """{partition: [(key, manifest)]} in offset order."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix(scenario) + "manifests/"):
            for o in page.get("Contents", []):
                m = json.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
                out.setdefault(m["seals"][0]["partition"], []).append((o["Key"], m))
        for ms in out.values():
            ms.sort(key=lambda km: km[1]["seals"][0]["first_offset"])
        return out

    def checkpoints(self, scenario):
        """[(key, checkpoint)] in seq order."""
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix(scenario) + "checkpoints/"):
            for o in page.get("Contents", []):
                out.append((o["Key"], json.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())))
        return sorted(out, key=lambda kc: kc[1]["seq"])

    def longest(self, scenario):
        return max(self.manifests(scenario).values(), key=len)

    def put_new_version(self, key, body):
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]

    def rewrite_rows(self, key, change):
        table = pq.read_table(io.BytesIO(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
        rows = change(table.to_pylist())
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out)
        self.put_new_version(key, out.getvalue())

    def destroy(self, key):
        """Shortens each version's retention, then deletes it (moto allows what S3 would refuse)."""
        soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        for v in self.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []):
            if v["Key"] != key:
                continue
            self.s3.put_object_retention(Bucket=BUCKET, Key=key, VersionId=v["VersionId"],
                                         Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon},
                                         BypassGovernanceRetention=True)
            self.s3.delete_object(Bucket=BUCKET, Key=key, VersionId=v["VersionId"], BypassGovernanceRetention=True)
        assert not [v for v in self.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) if v["Key"] == key]

    def put_locked(self, key, body, sealed_at_ms):
        until = dt.datetime.fromtimestamp(-(-sealed_at_ms // 1000) + RETENTION_DAYS * 86400, dt.timezone.utc)
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body, ObjectLockMode="COMPLIANCE",
                                  ObjectLockRetainUntilDate=until)["VersionId"]

    def sign_manifest(self, m, secret_path):
        secret = load_secret(secret_path)
        m["key_id"] = key_id(secret.public_key().public_bytes_raw()).hex()
        m["sig"] = secret.sign(manifest_message(m)).hex()
        return m


@pytest.fixture(scope="module")
def archives(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify")
    topic = stack.create_topic(2, seals=True)
    sealers = Sealers(stack, tmp, topic, max_records=20)
    sealers.start()
    a = Archives(stack, tmp, sealers, topic)
    procs = []
    try:
        for s in SCENARIOS:
            log = open(tmp / f"archiver-{s}.log", "w")
            procs.append(subprocess.Popen([stack.bin, "--config", str(a.config(s)), "archive"],
                                          stdout=log, stderr=subprocess.STDOUT, env=a.env))
            procs[-1].log_path = log.name
        events = [make_event(f"tenant-{i % 7}", i) for i in range(EVENTS)]
        src = tmp / "events.ndjson"
        src.write_text("".join(json.dumps(e) + "\n" for e in events))
        r = stack.run("publish", str(src), config=stack.write_config(tmp / "pub.toml", topic))
        assert r.returncode == 0, r.stderr
        for s in SCENARIOS:
            wait_until(f"{EVENTS} rows archived under {s}", lambda s=s: a.rows_archived(s) == EVENTS, timeout=180, interval=1.0)
        for s in SCENARIOS:
            # Three: the gap scenario removes the middle one. With nothing left to archive they
            # come every checkpoint_idle_secs (2 s here), not on every interval.
            wait_until(f"three checkpoints under {s}", lambda s=s: len(a.checkpoints(s)) >= 3, timeout=60, interval=0.5)
        assert all(p.poll() is None for p in procs), "an archiver exited"
    finally:
        try:
            stop_processes(procs, "archivers")
        finally:
            sealers.stop_all()
    assert len(a.longest("clean")) >= 5, "too few manifests for the gap scenarios"
    assert any(len(m["seals"]) > 1 for _, m in a.longest("clean")), "ranges of several seals are what is checked"
    return a


def kinds(report):
    return {f["kind"] for f in report["findings"]}


def test_clean_archive_has_zero_findings(archives):
    code, report = archives.verify("clean")
    assert code == 0 and report["findings"] == []
    parts = report["partitions"]
    assert sum(p["records"] for p in parts.values()) == EVENTS
    assert all(p["manifests_missing"] == 0 and p["objects_missing"] == 0 for p in parts.values())


def test_checkpoints_are_chained_locked_and_name_every_partitions_last_manifest(archives):
    """The leader's checkpoints: dense seqs, each naming its predecessor's digest, COMPLIANCE-locked
    for the retention, and the newest (written when the archiver stopped) names each partition's
    last manifest."""
    cps = archives.checkpoints("clean")
    assert len(cps) >= 3, "checkpoints while archiving, then every 2 s idle"
    assert [c["seq"] for _, c in cps] == list(range(len(cps)))
    assert cps[0][1]["prev_checkpoint"] is None
    for (_, a), (_, b) in zip(cps, cps[1:]):
        assert b["prev_checkpoint"] == sha(checkpoint_message(a)).hex()
    key, newest = cps[-1]
    for partition, ms in archives.manifests("clean").items():
        last_key, last = ms[-1]
        entry = newest["partitions"][f"{archives.topic}/{partition}"]
        assert (entry["seq"], entry["digest"], entry["key"]) == (last["seq"], manifest_digest(last), last_key[len(archives.prefix("clean")):])
    head = archives.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert int(head["ObjectLockRetainUntilDate"].timestamp()) == -(-newest["written_at_ms"] // 1000) + RETENTION_DAYS * 86400
    _, report = archives.verify("clean")
    assert report["checkpoints"]["newest_key"] == key and report["checkpoints"]["present"] == len(cps)


def test_a_missing_checkpoint_breaks_their_chain(archives):
    cps = archives.checkpoints("ckpt_gap")
    archives.destroy(cps[1][0])
    code, report = archives.verify("ckpt_gap")
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {("checkpoint_chain_broken", cps[2][0])}


def test_a_checkpoint_forged_with_another_key_is_reported_and_not_trusted(archives, tmp_path):
    """A rogue checkpoint claiming less than the archive holds is named, and the newest *sound*
    checkpoint is still the one the archive is held to."""
    assert archives.stack.run("keygen", "--out", str(tmp_path / "rogue.key")).returncode == 0
    cps = archives.checkpoints("ckpt_forged")
    key, newest = cps[-1]
    forged = dict(newest, seq=newest["seq"] + 1, prev_checkpoint=sha(checkpoint_message(newest)).hex(), partitions={})
    secret = load_secret(tmp_path / "rogue.key")
    forged["key_id"] = key_id(secret.public_key().public_bytes_raw()).hex()
    forged["sig"] = secret.sign(checkpoint_message(forged)).hex()
    rogue = key.rsplit("/", 1)[0] + f"/{forged['seq']:020}.json"
    archives.put_locked(rogue, json.dumps(forged).encode(), forged["written_at_ms"])
    code, report = archives.verify("ckpt_forged")
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("unknown_key", rogue), ("checkpoint_chain_broken", rogue)}
    assert report["checkpoints"]["newest_key"] == key


def _events_key(m):
    return next(o["key"] for o in m["objects"] if o["table"] == "events")


def edit_source(row):
    """Edits a canonical row (docs/FORMAT.md §1a) in place: its value is its columns, so changing
    `source` is changing the record's bytes."""
    assert row[MARKER] is True and row["kafka_value"] is None, "the publish path writes canonical rows"
    row["source"] = row["source"].replace("pytest", "pwned!")
    assert row["source"] == "pwned!"


def test_1_edited_row_is_record_altered(archives):
    key = _events_key(archives.longest("edit")[1][1])

    def edit(rows):
        edit_source(rows[3])
        return rows
    archives.rewrite_rows(key, edit)
    code, report = archives.verify("edit")
    assert code == 1 and {"record_altered", "object_replaced", "checksum_mismatch"} <= kinds(report)


def test_2_removed_row_is_record_missing(archives):
    key = _events_key(archives.longest("remove")[1][1])
    archives.rewrite_rows(key, lambda rows: rows[:5] + rows[6:])
    code, report = archives.verify("remove")
    missing = [f for f in report["findings"] if f["kind"] == "record_missing"]
    assert code == 1 and len(missing) == 1 and "1 row(s) missing" in missing[0]["detail"]


def test_3_swapped_rows_are_out_of_order(archives):
    key = _events_key(archives.longest("swap")[1][1])
    archives.rewrite_rows(key, lambda rows: rows[:2] + [rows[3], rows[2]] + rows[4:])
    code, report = archives.verify("swap")
    assert code == 1 and "records_out_of_order" in kinds(report)
    assert "record_altered" not in kinds(report), "the rows themselves are intact"


def test_4_appended_row_is_record_injected(archives):
    key = _events_key(archives.longest("append")[1][1])

    def append(rows):
        extra = dict(rows[-1])
        extra["kafka_offset"] += 1
        return rows + [extra]
    archives.rewrite_rows(key, append)
    code, report = archives.verify("append")
    assert code == 1 and "record_injected" in kinds(report)


def test_5_deleted_locked_version_is_object_missing(archives):
    key = _events_key(archives.longest("delete_version")[2][1])
    archives.destroy(key)
    code, report = archives.verify("delete_version")
    assert code == 1 and ("object_missing", key) in {(f["kind"], f.get("key")) for f in report["findings"]}


def test_6_a_removed_manifest_and_two_consecutive_ones_are_all_reported(archives):
    ms = archives.longest("manifest_gap")
    archives.destroy(ms[2][0])
    code, report = archives.verify("manifest_gap")
    gaps = [f for f in report["findings"] if f["kind"] == "manifest_missing"]
    assert code == 1 and len(gaps) == 1 and "1 manifest(s)" in gaps[0]["detail"]
    assert "unreferenced_object" in kinds(report), "its objects are now orphans"

    ms = archives.longest("two_manifests")
    archives.destroy(ms[2][0])
    archives.destroy(ms[3][0])
    code, report = archives.verify("two_manifests")
    gaps = [f for f in report["findings"] if f["kind"] == "manifest_missing"]
    assert code == 1 and len(gaps) == 1 and "2 manifest(s)" in gaps[0]["detail"]
    s2, s3 = ms[2][1]["seals"][0], ms[3][1]["seals"][-1]
    assert gaps[0]["offsets"] == [s2["first_offset"], s3["last_offset"]]
    part = report["partitions"][f"{archives.topic}/{s2['partition']}"]
    assert part["manifests_missing"] == 2


def test_7_tail_truncation_is_caught_with_state(archives):
    state = archives.tmp / "verify-state.json"
    code, _ = archives.verify("tail", "--state", str(state))
    assert code == 0 and state.exists()
    saved = state.read_text()
    ms = archives.longest("tail")
    for key, m in ms[-2:]:
        archives.destroy(key)
        for o in m["objects"]:
            archives.destroy(o["key"])
    newest = archives.checkpoints("tail")[-1][0]
    code, report = archives.verify("tail")
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {("tail_truncated", newest)}, \
        "the newest checkpoint, not any state of the verifier's, shows the cut tail"
    code, report = archives.verify("tail", "--state", str(state))
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("tail_truncated", None), ("tail_truncated", newest)}
    assert state.read_text() == saved, "state is written only after a clean run"


def test_8_unreferenced_parquet_object_is_reported(archives):
    key = archives.prefix("unreferenced") + f"events/topic={archives.topic}/dt=2026-11-26/hour=00/partition=0000/99999999999999999999.parquet"
    archives.put_new_version(key, b"PAR1 not really")
    code, report = archives.verify("unreferenced")
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {("unreferenced_object", key)}


def test_9_manifest_resigned_with_unknown_key_is_reported(archives, tmp_path):
    assert archives.stack.run("keygen", "--out", str(tmp_path / "rogue.key")).returncode == 0
    key, m = archives.longest("unknown_key")[1]
    m["written_at_ms"] += 1
    archives.sign_manifest(m, tmp_path / "rogue.key")
    archives.put_new_version(key, json.dumps(m).encode())
    code, report = archives.verify("unknown_key")
    assert code == 1 and ("unknown_key", key) in {(f["kind"], f.get("key")) for f in report["findings"]}


def test_10_forged_manifest_signed_by_a_retired_key_is_reported(archives, tmp_path):
    old = tmp_path / "old.key"
    assert archives.stack.run("keygen", "--out", str(old)).returncode == 0
    keys = tmp_path / "keys.toml"
    keys.write_text(archives.registry.read_text().replace('file = "', f'file = "{archives.tmp}/') +
                    f'\n[[keys]]\nfile = "{old.with_suffix(".pub")}"\nrole = "archiver"\n'
                    'not_before = "2020-01-01T00:00:00Z"\nnot_after = "2021-01-01T00:00:00Z"\n')
    ms = archives.longest("old_key")
    key, m = ms[-1]
    m["prev_manifest"] = manifest_digest(ms[-2][1])  # a recomputed, well-linked chain
    m["written_at_ms"] = int(time.time() * 1000)
    archives.sign_manifest(m, old)
    archives.destroy(key)
    archives.put_locked(key, json.dumps(m).encode(), m["seals"][-1]["sealed_at_ms"])
    code, report = archives.verify("old_key", keys=keys)
    newest = archives.checkpoints("old_key")[-1][0]
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("key_outside_window", key), ("history_rewritten", newest)}


def test_11_governance_mode_and_short_retention_are_reported(archives):
    ms = archives.longest("retention")
    gov, short = _events_key(ms[0][1]), _events_key(ms[1][1])
    versions = {v["Key"]: v["VersionId"] for v in archives.s3.list_object_versions(Bucket=BUCKET, Prefix=archives.prefix("retention"))["Versions"]}
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    archives.s3.put_object_retention(Bucket=BUCKET, Key=gov, VersionId=versions[gov],
                                      Retention={"Mode": "GOVERNANCE", "RetainUntilDate": far}, BypassGovernanceRetention=True)
    archives.s3.put_object_retention(Bucket=BUCKET, Key=short, VersionId=versions[short],
                                      Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon}, BypassGovernanceRetention=True)
    code, report = archives.verify("retention")
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("retention_not_compliance", gov), ("retention_too_short", short)}


def test_12_offset_gap_between_consecutive_seals_is_reported(archives):
    """A forger with both secret keys drops the first record of the last range
    and re-links every manifest; the gap in offsets gives it away, and so does
    the locked checkpoint that saw the real last manifest."""
    ms = archives.longest("offset_gap")
    (old_key, m), prev = ms[-1], ms[-2][1]
    obj = m["objects"][0]
    table = pq.read_table(io.BytesIO(archives.s3.get_object(Bucket=BUCKET, Key=obj["key"], VersionId=obj["version_id"])["Body"].read()))
    rows = table.to_pylist()[1:]
    new_table = pa.Table.from_pylist(rows, schema=table.schema)
    buf = io.BytesIO()
    pq.write_table(new_table, buf)
    body = buf.getvalue()
    seals = reseal(m["seals"], read_rows(body), load_secret(archives.sealers.key))
    first = seals[0]["first_offset"]
    new_obj = obj["key"].rsplit("/", 1)[0] + f"/{first:020}.parquet"
    vid = archives.put_locked(new_obj, body, seals[-1]["sealed_at_ms"])
    forged = dict(m, seals=seals, objects=[dict(obj, key=new_obj, version_id=vid, sha256=sha(body).hex(), rows=len(rows), bytes=len(body))],
                  prev_manifest=manifest_digest(prev))
    archives.sign_manifest(forged, archives.archiver_key)
    new_key = old_key.rsplit("/", 1)[0] + f"/{first:020}.json"
    archives.put_locked(new_key, json.dumps(forged).encode(), seals[-1]["sealed_at_ms"])
    archives.destroy(old_key)
    archives.destroy(obj["key"])
    code, report = archives.verify("offset_gap")
    gap = m["seals"][0]["first_offset"]
    newest = archives.checkpoints("offset_gap")[-1][0]
    # The checkpoint saw the real last manifest: the forger would also need to rewrite locked checkpoints.
    assert code == 1 and sorted((f["kind"], f.get("offsets") or f.get("key")) for f in report["findings"]) == [
        ("history_rewritten", newest), ("offset_gap", [gap, gap])]


def resign_with_rows(archives, scenario, change):
    """A dishonest (or buggy) archiver holding the real key rewrites the last events object of the
    longest partition with `change(rows)` applied and signs a manifest for it; returns
    (object key, rows as written, verify's exit code and report)."""
    key, m = archives.longest(scenario)[-1]
    obj = _events_key(m)
    table = pq.read_table(io.BytesIO(archives.s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read()))
    rows = table.to_pylist()
    assert len(rows) >= 2
    change(rows)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buf)
    body = buf.getvalue()
    sealed = m["seals"][-1]["sealed_at_ms"]
    archives.destroy(obj)
    vid = archives.put_locked(obj, body, sealed)
    o = next(o for o in m["objects"] if o["key"] == obj)
    o.update(version_id=vid, sha256=sha(body).hex(), bytes=len(body))
    archives.sign_manifest(m, archives.archiver_key)
    archives.destroy(key)
    archives.put_locked(key, json.dumps(m).encode(), sealed)
    code, report = archives.verify(scenario)
    return obj, rows, code, report


def test_13_a_row_whose_columns_lie_about_its_kafka_value_is_derived_mismatch(archives):
    """The row keeps its exact value in `kafka_value` (as a foreign producer's would) while its
    `tenant` says something else. The chained bytes are untouched, so the chain checks out;
    re-deriving the columns shows it (and the locked checkpoint that saw the real manifest)."""
    def lie(rows):
        rows[1]["kafka_value"] = canonical_json(rows[1])
        rows[1][MARKER] = False
        rows[1]["tenant"] = "someone-else"
    obj, rows, code, report = resign_with_rows(archives, "derived", lie)
    newest = archives.checkpoints("derived")[-1][0]
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("derived_mismatch", obj), ("history_rewritten", newest)}
    found = next(f for f in report["findings"] if f["kind"] == "derived_mismatch")
    assert "tenant" in found["detail"] and found["offsets"] == [rows[1]["kafka_offset"]] * 2, found


def test_13b_a_canonical_rows_column_edited_and_resigned_is_record_altered(archives):
    """The same forger edits `tenant` of a row whose value is rebuilt from its columns (FORMAT.md
    §1a): the object's checksum and manifest signature are valid, but the rebuilt bytes no longer
    hash to the sealed chain."""
    def edit(rows):
        assert rows[1][MARKER] is True and rows[1]["kafka_value"] is None
        rows[1]["tenant"] = "someone-else"
    obj, rows, code, report = resign_with_rows(archives, "canonical_resigned", edit)
    newest = archives.checkpoints("canonical_resigned")[-1][0]
    assert code == 1 and {(f["kind"], f.get("key")) for f in report["findings"]} == {
        ("record_altered", obj), ("history_rewritten", newest)}, report["findings"]


def test_an_archive_written_with_every_value_stored_still_verifies(archives):
    """`archiver.store_every_value` writes events objects as before kafka_value_canonical (format 1):
    no marker column, every value stored; both verifiers find it clean, as they find the default."""
    _, m = archives.longest("format1")[0]
    body = archives.s3.get_object(Bucket=BUCKET, Key=_events_key(m))["Body"].read()
    f = pq.ParquetFile(io.BytesIO(body))
    assert MARKER not in f.schema_arrow.names
    assert f.metadata.metadata[b"auditlog.format"] == b"1"
    assert None not in f.read(columns=["kafka_value"]).column("kafka_value").to_pylist()
    _, m = archives.longest("clean")[0]
    f = pq.ParquetFile(io.BytesIO(archives.s3.get_object(Bucket=BUCKET, Key=_events_key(m))["Body"].read()))
    assert f.metadata.metadata[b"auditlog.format"] == b"2"
    assert f.read(columns=[MARKER]).column(MARKER).to_pylist() == [True] * f.metadata.num_rows
    code, report = archives.verify("format1")
    assert code == 0 and report["findings"] == []


def test_fork_two_seals_for_one_head_is_reported(archives):
    """A rival seal for the same predecessor (as a paused sealer could have
    produced) written as a new version of the manifest key."""
    ms = archives.longest("fork")
    key, m = ms[2]
    s = m["seals"][-1]
    obj = m["objects"][0]
    table = pq.read_table(io.BytesIO(archives.s3.get_object(Bucket=BUCKET, Key=obj["key"], VersionId=obj["version_id"])["Body"].read()))
    leaves = [digest(*r) for r in read_rows_of(table) if s["first_offset"] <= r[0] <= s["last_offset"]][:-1]
    head = bytes.fromhex(s["prev_head"])
    for d in leaves:
        head = link(head, d)
    rival = dict(s, last_offset=s["last_offset"] - 1, count=s["count"] - 1, head=head.hex(), merkle_root=merkle_root(leaves).hex())
    sign_seal(rival, load_secret(archives.sealers.key))
    forged = archives.sign_manifest(dict(m, seals=m["seals"][:-1] + [rival]), archives.archiver_key)
    archives.put_locked(key, json.dumps(forged).encode(), rival["sealed_at_ms"])
    code, report = archives.verify("fork")
    assert code == 1 and ("fork", key) in {(f["kind"], f.get("key")) for f in report["findings"]}


def reseal(seals, rows, secret):
    """A forger's run over `rows` (offset order): the same seals, each re-made over the rows in
    its range (the first from the first row on), chained from the first seal's prev_head, re-signed."""
    out, head = [], bytes.fromhex(seals[0]["prev_head"])
    for i, s in enumerate(seals):
        lo = rows[0][0] if i == 0 else s["first_offset"]
        mine = [r for r in rows if lo <= r[0] <= s["last_offset"]]
        leaves = [digest(*r) for r in mine]
        new = dict(s, first_offset=lo, count=len(mine), prev_head=head.hex(), merkle_root=merkle_root(leaves).hex())
        for d in leaves:
            head = link(head, d)
        new["head"] = head.hex()
        sign_seal(new, secret)
        out.append(new)
    return out


def read_rows_of(table):
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return read_rows(buf.getvalue())


def test_prove_and_verify_proof_hold_offline_and_fail_after_any_change(archives, tmp_path):
    import random

    _, m = archives.longest("clean")[1]
    table = pq.read_table(io.BytesIO(archives.s3.get_object(Bucket=BUCKET, Key=_events_key(m))["Body"].read()))
    row = table.to_pylist()[7]
    cfg = archives.config("clean")
    by_id, by_offset = tmp_path / "by-id.json", tmp_path / "by-offset.json"
    r = subprocess.run([archives.stack.bin, "--config", str(cfg), "prove", "--event-id", row["event_id"], "--out", str(by_id)],
                       capture_output=True, text=True, env=archives.env, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([archives.stack.bin, "--config", str(cfg), "prove", "--topic", archives.topic,
                        "--partition", str(row["kafka_partition"]), "--offset", str(row["kafka_offset"]), "--out", str(by_offset)],
                       capture_output=True, text=True, env=archives.env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert by_id.read_bytes() == by_offset.read_bytes()
    proof = json.loads(by_id.read_text())
    assert proof["record"]["offset"] == row["kafka_offset"] and proof["event"]["event_id"] == row["event_id"]

    def check(path):
        # Offline: no config, no broker, no bucket; only the key registry.
        return subprocess.run([archives.stack.bin, "verify-proof", str(path), "--keys", str(archives.registry)],
                              capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]})
    ok = check(by_id)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = by_id.read_bytes()
    rng = random.Random(7)
    for i in rng.sample(range(len(text)), 60):
        bad = bytearray(text)
        bad[i] ^= 0x01
        tampered = tmp_path / "tampered.json"
        tampered.write_bytes(bytes(bad))
        r = check(tampered)
        assert r.returncode == 1, (i, chr(text[i]), r.stdout, r.stderr)

    r = subprocess.run([archives.stack.bin, "--config", str(cfg), "prove", "--event-id", str(uuid.uuid4())],
                       capture_output=True, text=True, env=archives.env, timeout=120)
    assert r.returncode == 2 and "no archived event has event_id" in r.stderr


def test_time_topic_and_partition_filters_narrow_the_run(archives):
    ms = archives.longest("clean")
    partition = ms[0][1]["seals"][0]["partition"]
    since_ms = ms[2][1]["seals"][-1]["sealed_at_ms"]
    since = dt.datetime.fromtimestamp(since_ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")

    def run(*extra):
        r = subprocess.run([archives.stack.bin, "--config", str(archives.config("clean")), "verify", "--format", "json",
                            "--keys", str(archives.registry), *extra], capture_output=True, text=True, env=archives.env, timeout=120)
        assert r.returncode in (0, 1), r.stderr
        return r.returncode, json.loads(r.stdout)

    code, full = run()
    assert code == 0
    code, one = run("--partition", str(partition))
    assert code == 0 and list(one["partitions"]) == [f"{archives.topic}/{partition}"]
    code, later = run("--partition", str(partition), "--since", since)
    expected = sum(1 for _, m in ms if m["seals"][-1]["sealed_at_ms"] >= since_ms)
    assert code == 0 and later["partitions"][f"{archives.topic}/{partition}"]["manifests"] == expected < len(ms)
    # A window that selects nothing is never clean (exit 2, issue 22) unless --allow-empty says it is expected.
    r = subprocess.run([archives.stack.bin, "--config", str(archives.config("clean")), "verify", "--format", "json",
                        "--keys", str(archives.registry), "--until", "2000-01-01T00:00:00Z"],
                       capture_output=True, text=True, env=archives.env, timeout=120)
    assert r.returncode == 2 and "the time window [-∞, 2000-01-01T00:00:00Z) selects none" in r.stderr, r.stderr
    code, none = run("--until", "2000-01-01T00:00:00Z", "--allow-empty")
    assert code == 0 and none["partitions"] == {} and "selects none" in none["nothing_verified"]
    r = subprocess.run([archives.stack.bin, "--config", str(archives.config("clean")), "verify", "--since", "yesterday"],
                       capture_output=True, text=True, env=archives.env)
    assert r.returncode == 2 and "RFC 3339" in r.stderr


def test_html_report_renders_in_headless_chromium(archives, tmp_path):
    """The one-page report: verdict, coverage per partition with a red range
    and a hatched gap, and the findings, as Chromium renders it."""
    ms = archives.longest("html")
    key = _events_key(ms[1][1])

    def edit(rows):
        edit_source(rows[0])
        return rows
    archives.rewrite_rows(key, edit)
    archives.destroy(ms[3][0])
    archives.destroy(ms[4][0])
    r = subprocess.run([archives.stack.bin, "--config", str(archives.config("html")), "verify", "--format", "html",
                        "--keys", str(archives.registry)], capture_output=True, text=True, env=archives.env, timeout=300)
    assert r.returncode == 1, r.stderr
    page = tmp_path / "report.html"
    page.write_text(r.stdout)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="coverage"' in html and "FINDING(S)" in html
    manifests_left = sum(len(v) for v in archives.manifests("html").values())
    assert html.count('class="range ') == manifests_left
    assert html.count('class="range bad"') >= 1 and html.count('class="gap"') == 1
    assert "record_altered" in html and "manifest_missing" in html
    shot = tmp_path / "report.png"
    s = subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1000,900", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert s.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, s.stderr[-2000:]


def test_metrics_file_reports_a_clean_run_for_the_textfile_collector(archives, tmp_path):
    prom = tmp_path / "auditlog_verify.prom"
    r = subprocess.run([archives.stack.bin, "--config", str(archives.config("clean")), "verify", "--keys",
                        str(archives.registry), "--metrics-file", str(prom)], capture_output=True, text=True,
                       env=archives.env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    text = prom.read_text()
    assert "auditlog_verify_clean 1\n" in text
    assert 'auditlog_verify_findings{kind="all"} 0\n' in text
    assert f"auditlog_verify_records {EVENTS}\n" in text
