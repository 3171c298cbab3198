"""Issue 22, "operator-proof": what a person sees when they mistype, misconfigure or mix up keys.

Each test asserts the behaviour (exit code, what is written) and the message. One small archive
(sealer + archiver on a fresh topic and prefix) is built once for the module.
"""
import datetime as dt
import json
import os
import re
import subprocess
import uuid

import pytest
from conftest import Sealers, make_event, wait_until
from test_archiver import manifests, s3client, start_archiver

BUCKET = "audit-archive"
EVENTS = 40
EPOCH_MS = re.compile(r"\b1\d{12}\b")  # a 13-digit epoch-milliseconds number (2001–2286)


class Archive:
    def __init__(self, stack, tmp):
        self.stack, self.tmp = stack, tmp
        self.topic = stack.create_topic(2, seals=True)
        self.prefix = f"op-{uuid.uuid4().hex[:8]}/archive/"
        self.sealers = Sealers(stack, tmp, self.topic)
        self.sealers.start()
        archiver, self.config, self.env = start_archiver(stack, tmp, self.topic, self.sealers, BUCKET, self.prefix)
        try:
            src = tmp / "events.ndjson"
            src.write_text("".join(json.dumps(make_event(f"t{i % 3}", i)) + "\n" for i in range(EVENTS)))
            r = stack.run("publish", str(src), config=stack.write_config(tmp / "pub.toml", self.topic))
            assert r.returncode == 0, r.stderr
            s3 = s3client(stack)
            rows = lambda: sum(o["rows"] for m in manifests(s3, BUCKET, self.prefix) for o in m["objects"])  # noqa: E731
            wait_until(f"{EVENTS} rows archived", lambda: rows() == EVENTS, timeout=120, interval=1.0)
        finally:
            archiver.terminate()
            archiver.wait(timeout=60)
            self.sealers.stop_all()

    def verify(self, *args, config=None):
        return subprocess.run([self.stack.bin, "--config", str(config or self.config), "verify", *args],
                              capture_output=True, text=True, timeout=300, env=self.env)


@pytest.fixture(scope="module")
def archive(stack, tmp_path_factory):
    return Archive(stack, tmp_path_factory.mktemp("operator-proof"))


def assert_nothing_verified(r, *why):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "error: nothing verified: " in r.stderr, r.stderr
    assert "an empty selection is never clean; pass --allow-empty" in r.stderr, r.stderr
    for w in why:
        assert w in r.stderr, (w, r.stderr)
    assert "No findings" not in r.stdout and "complete and untouched" not in r.stdout, r.stdout


def test_the_archive_itself_verifies_clean(archive):
    r = archive.verify()
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "No findings: the archive is complete and untouched." in r.stdout


def test_a_closed_or_full_stdout_exits_2_with_a_message_not_a_panic(archive):
    """`verify | head -0` and `verify >/dev/full`: the report was not delivered, so no verdict (exit 2)."""
    cmd = f"'{archive.stack.bin}' --config '{archive.config}' verify --format html"
    for shell in (cmd + ' | head -0; echo "rc=${PIPESTATUS[0]}"', cmd + ' >/dev/full; echo "rc=$?"'):
        r = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=300, env=archive.env)
        assert r.stdout.strip().endswith("rc=2"), (shell, r.stdout, r.stderr)
        assert "error: cannot write to standard output" in r.stderr and "the report was not delivered" in r.stderr, r.stderr
        assert "panicked" not in r.stderr


def test_a_mistyped_prefix_is_not_clean_and_names_the_prefixes_that_exist(archive):
    typo = archive.prefix.replace("archive/", "archvie/")
    r = archive.verify("--prefix", typo)
    assert_nothing_verified(r, f"no object under s3://{BUCKET}/{typo}: no such prefix", archive.prefix)
    assert f"Nothing verified: no object under s3://{BUCKET}/{typo}" in r.stdout
    assert "This is not a clean result" in r.stdout


def test_an_empty_selection_is_not_clean_in_json_and_html_either(archive):
    typo = archive.prefix + "nothing/"
    r = archive.verify("--prefix", typo, "--format", "json")
    assert r.returncode == 2, r.stderr
    report = json.loads(r.stdout)
    assert "no such prefix" in report["nothing_verified"]
    assert report["selection"]["keys_listed"] == 0
    r = archive.verify("--prefix", typo, "--format", "html")
    assert r.returncode == 2, r.stderr
    assert "NOTHING VERIFIED" in r.stdout and "CLEAN" not in r.stdout


def test_allow_empty_states_that_an_empty_archive_is_expected(archive):
    r = archive.verify("--prefix", archive.prefix + "fresh/", "--allow-empty")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Nothing verified: no object under" in r.stdout
    assert "--allow-empty: an empty selection was expected" in r.stdout
    assert "complete and untouched" not in r.stdout


def test_a_prefix_without_its_trailing_slash_is_read_as_a_directory(archive):
    r = archive.verify("--prefix", archive.prefix.rstrip("/"))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f'note: prefix "{archive.prefix.rstrip("/")}" read as "{archive.prefix}"' in r.stderr
    assert "No findings" in r.stdout


def test_a_time_window_that_selects_nothing_says_so_with_rfc3339_times(archive):
    r = archive.verify("--since", "2099-01-01T00:00:00Z")
    assert_nothing_verified(r, "the time window [2099-01-01T00:00:00Z, +∞) selects none of the",
                           "manifest(s) of the selection; they were sealed from 20")
    assert not EPOCH_MS.search(r.stderr + r.stdout), r.stderr


def test_a_topic_filter_that_matches_nothing_lists_the_topics_archived(archive):
    r = archive.verify("--topic", "audit.evnets")
    assert_nothing_verified(r, "none of topic(s) audit.evnets; topics archived there: " + archive.topic)


def test_a_bucket_without_object_lock_is_named(archive, stack):
    s3 = s3client(stack)
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    cfg = archive.tmp / "plain.toml"
    cfg.write_text(archive.config.read_text().replace(f'"bucket" = "{BUCKET}"', f'"bucket" = "{bucket}"'))
    assert bucket in cfg.read_text()
    r = archive.verify(config=cfg)
    assert_nothing_verified(r, f"no object under s3://{bucket}/{archive.prefix}",
                           "and the bucket is not an archive bucket:", "Object Lock")


def test_findings_print_keys_and_rfc3339_times_never_minus_one_or_epoch_ms(archive, stack):
    """Runs last in this module: it tampers with the archive (a stray object, a shortened lock)."""
    s3 = s3client(stack)
    stray = archive.prefix + "stray.bin"
    s3.put_object(Bucket=BUCKET, Key=stray, Body=b"not ours")
    key = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=archive.prefix + "events/")["Contents"])[0]
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    version = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    s3.put_object_retention(Bucket=BUCKET, Key=key, VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon})
    r = archive.verify()
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"whole archive: no manifest names it (1 version(s)) [{stray}]" in r.stdout, r.stdout
    line = next(l for l in r.stdout.splitlines() if "retention_too_short" in l)
    assert re.search(r"retained until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, policy requires at least \d{4}-", line), line
    assert "/-1" not in r.stdout and not EPOCH_MS.search(r.stdout), r.stdout
    html = archive.verify("--format", "html").stdout
    assert "<td>whole archive</td>" in html and "/-1" not in html
    assert not EPOCH_MS.search(html.split("<svg", 1)[0] + html.split("</svg>", 1)[-1])
