"""Incremental `auditlog verify --state` (issue 20): after a clean run, the next run reads in full
only what is new, checks the rest by listing, and still catches every change to what it verified
before. Requests are counted at an HTTP proxy in front of moto, so "downloads none of the old
objects" is what the S3 server saw, not what the verifier says of itself.

One sealer run, two batches of events; one archiver per scenario, stopped between the batches so
that each scenario's first (full) run and its state see exactly the first batch.
"""
import json
import subprocess

import pytest
from archivecheck import load_registry
from archivecheck import verify as py_verify
from conftest import Sealers, make_event, wait_until
from s3count import CountingProxy
from test_verify import BUCKET, RETENTION_DAYS, Archives, _events_key

BATCH = 300
SCENARIOS = ["grow", "new_version", "delete_version", "remove_manifest", "foreign"]


class Grown(Archives):
    def __init__(self, *args):
        super().__init__(*args)
        self.before = {}

    def config(self, scenario, endpoint=None, bucket=BUCKET):
        path = super().config(scenario)
        if endpoint is None and bucket == BUCKET:
            return path
        text = path.read_text().replace(f'"{self.stack.s3}"', f'"{endpoint or self.stack.s3}"')
        text = text.replace(f'"{BUCKET}"', f'"{bucket}"')
        other = path.with_name(f"{scenario}-{uuid_of(endpoint, bucket)}.toml")
        other.write_text(text)
        return other

    def state(self, scenario):
        return self.tmp / f"{scenario}.state.json"

    def keys(self, scenario):
        out = set()
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=self.prefix(scenario)):
            out.update(v["Key"] for v in page.get("Versions", []))
        return out

    def run(self, scenario, *extra, endpoint=None, bucket=BUCKET):
        return subprocess.run([self.stack.bin, "--config", str(self.config(scenario, endpoint, bucket)), "verify",
                               "--keys", str(self.registry), *extra],
                              capture_output=True, text=True, timeout=300, env=self.env)

    def archive_batch(self, first):
        procs = []
        try:
            for s in SCENARIOS:
                log = open(self.tmp / f"archiver-{s}-{first}.log", "w")
                procs.append(subprocess.Popen([self.stack.bin, "--config", str(self.config(s)), "archive"],
                                              stdout=log, stderr=subprocess.STDOUT, env=self.env))
            src = self.tmp / f"events-{first}.ndjson"
            src.write_text("".join(json.dumps(make_event(f"tenant-{i % 7}", i)) + "\n" for i in range(first, first + BATCH)))
            r = self.stack.run("publish", str(src), config=self.stack.write_config(self.tmp / "pub.toml", self.topic))
            assert r.returncode == 0, r.stderr
            for s in SCENARIOS:
                wait_until(f"{first + BATCH} rows archived under {s}",
                           lambda s=s: self.rows_archived(s) == first + BATCH, timeout=180, interval=1.0)
            assert all(p.poll() is None for p in procs), "an archiver exited"
        finally:
            for p in procs:
                p.terminate()  # a clean stop writes a last checkpoint
            for p in procs:
                p.wait(30)


def uuid_of(*parts):
    return str(abs(hash(parts)))


@pytest.fixture(scope="module")
def grown(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-inc")
    topic = stack.create_topic(2, seals=True)
    sealers = Sealers(stack, tmp, topic, max_records=20)
    sealers.start()
    a = Grown(stack, tmp, sealers, topic)
    try:
        a.archive_batch(0)
        for s in SCENARIOS:
            code, report = a.verify(s, "--state", str(a.state(s)))
            assert code == 0 and a.state(s).exists(), report["findings"]
            assert report["coverage"]["objects_listed"] == 0, "the first run reads everything"
            a.before[s] = a.keys(s)
        a.archive_batch(BATCH)
    finally:
        sealers.stop_all()
    for s in SCENARIOS:
        assert a.keys(s) > a.before[s], f"{s} grew"
    return a


def gets(log):
    """Keys read with GetObject (bucket-level GETs such as listings excluded)."""
    return [key for method, key, _, _ in log if method == "GET" and key]


def test_incremental_run_after_growth_reads_only_the_new_objects(grown):
    s = "grow"
    proxy = CountingProxy(grown.stack.s3)
    try:
        r = grown.run(s, "--state", str(grown.state(s)), "--format", "json", endpoint=proxy.url)
        log = proxy.take()
        assert r.returncode == 0, r.stdout + r.stderr
        report = json.loads(r.stdout)
        assert report["findings"] == []
        after = grown.keys(s)
        new, old = after - grown.before[s], grown.before[s]
        read = gets(log)
        assert not set(read) & old, f"old objects downloaded: {sorted(set(read) & old)}"
        assert sorted(read) == sorted(new), "every new object is read once, in full"
        assert not [e for e in log if e[0] == "HEAD"], "no HeadObject: GetObject carries the lock headers"
        cov = report["coverage"]
        new_parquet = sum(1 for k in new if k.endswith(".parquet"))
        old_parquet = sum(1 for k in old if k.endswith(".parquet"))
        assert cov["incremental"] and (cov["objects_full"], cov["objects_listed"]) == (new_parquet, old_parquet)
        assert cov["manifests_full"] == sum(1 for k in new if "/manifests/" in k)
        assert cov["manifests_listed"] == sum(1 for k in old if "/manifests/" in k)
        print(f"\nincremental run: {len(log)} requests, {len(read)} GETs of {len(after)} keys "
              f"({len(new)} new), {sum(e[3] for e in log if e[0] == 'GET' and e[1])} bytes of objects; "
              f"{new_parquet} Parquet objects read in full, {old_parquet} checked by listing")
        text = grown.run(s, "--state", str(grown.state(s)), endpoint=proxy.url)
        assert text.returncode == 0, text.stdout + text.stderr
        assert gets(proxy.take()) == [], "nothing new since: nothing is downloaded"
        assert f"0 object(s) and 0 manifest(s) re-verified in full, {new_parquet + old_parquet} object(s)" in text.stdout

        deep = grown.run(s, "--state", str(grown.state(s)), "--deep", "--format", "json", endpoint=proxy.url)
        assert deep.returncode == 0, deep.stdout + deep.stderr
        assert sorted(gets(proxy.take())) == sorted(after), "--deep reads every object once"
        assert json.loads(deep.stdout)["coverage"]["objects_listed"] == 0
    finally:
        proxy.close()
    theirs, _ = py_verify(grown.s3, BUCKET, grown.prefix(s), load_registry(grown.registry), RETENTION_DAYS)
    assert theirs == set(), "the independent verifier agrees the grown archive is clean"


def test_manifests_heavier_than_the_memory_budget_each_run_alone_and_change_nothing(grown):
    """`--memory-mib` bounds the manifests checked at once by their estimated weight (their
    objects' bytes plus 128 bytes a row, verify/src/budget.rs); one heavier than the whole budget
    runs alone. With 6 KiB (0.005 MiB) every manifest of this archive is heavier, so they are
    checked one at a time, and the run ends clean with the very report of the default budget."""
    s = "grow"
    budget = 6 * 1024  # ceil(0.005 MiB in KiB), as the CLI rounds it
    weights = [sum(o["bytes"] + 128 * o["rows"] for o in m["objects"])
               for ms in grown.manifests(s).values() for _, m in ms]
    assert len(weights) > 1 and min(weights) > budget, (weights, budget)
    reports = []
    for extra in ((), ("--memory-mib", "0.005")):
        r = grown.run(s, "--deep", "--format", "json", *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        reports.append(json.loads(r.stdout))
    assert reports[0]["findings"] == [] and reports[0]["coverage"]["manifests_full"] == len(weights)
    assert reports[1] == reports[0]
    bad = grown.run(s, "--memory-mib", "0")
    assert bad.returncode == 2 and "--memory-mib" in bad.stderr and "not a memory budget" in bad.stderr, bad.stderr


def _old_manifests(grown, s):
    return [(k, m) for k, m in grown.longest(s) if k in grown.before[s]]


def test_an_old_object_given_a_new_version_is_caught_incrementally(grown):
    s = "new_version"
    key = _events_key(_old_manifests(grown, s)[1][1])
    body = grown.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    grown.put_new_version(key, body)
    saved = grown.state(s).read_text()
    code, report = grown.verify(s, "--state", str(grown.state(s)))
    found = {(f["kind"], f.get("key")) for f in report["findings"]}
    assert code == 1 and {("extra_version", key), ("object_replaced", key)} <= found, found
    assert grown.state(s).read_text() == saved, "state is written only after a clean run"


def test_an_old_version_deleted_after_its_retention_was_shortened_is_caught_incrementally(grown):
    s = "delete_version"
    key = _events_key(_old_manifests(grown, s)[2][1])
    grown.destroy(key)
    code, report = grown.verify(s, "--state", str(grown.state(s)))
    assert code == 1 and ("object_missing", key) in {(f["kind"], f.get("key")) for f in report["findings"]}


def test_a_removed_old_manifest_is_caught_incrementally(grown):
    s = "remove_manifest"
    key = _old_manifests(grown, s)[2][0]
    grown.destroy(key)
    code, report = grown.verify(s, "--state", str(grown.state(s)))
    gaps = [f for f in report["findings"] if f["kind"] == "manifest_missing"]
    assert code == 1 and len(gaps) == 1 and "1 manifest(s)" in gaps[0]["detail"], report["findings"]
    assert "unreferenced_object" in {f["kind"] for f in report["findings"]}, "its objects are now orphans"


def test_a_state_file_of_another_prefix_or_bucket_is_refused_naming_both(grown):
    theirs = grown.state("foreign")
    saved = theirs.read_text()
    r = grown.run("grow", "--state", str(theirs))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"s3://{BUCKET}/{grown.prefix('foreign')}" in r.stderr and f"s3://{BUCKET}/{grown.prefix('grow')}" in r.stderr, r.stderr
    r = grown.run("foreign", "--state", str(theirs), bucket="another-bucket")
    assert r.returncode == 2 and f"s3://another-bucket/{grown.prefix('foreign')}" in r.stderr, r.stderr
    assert theirs.read_text() == saved


def test_a_format_1_state_keeps_its_ends_and_reads_everything_once(grown, tmp_path):
    s = "foreign"
    v2 = json.loads(grown.state(s).read_text())
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps({"v": 1, "partitions": v2["partitions"]}))
    r = grown.run(s, "--state", str(v1), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    cov = json.loads(r.stdout)["coverage"]
    assert not cov["incremental"] and cov["objects_listed"] == 0 and cov["objects_full"] > 0
    upgraded = json.loads(v1.read_text())
    assert upgraded["v"] == 2 and upgraded["archive"] == {"bucket": BUCKET, "prefix": grown.prefix(s)}
