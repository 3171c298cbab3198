"""Drives scripts/bench-verify: builds an archive with publish → seal →
archive, then times `auditlog verify` and the naive check (boto3 download of
every object with as many threads as verify's concurrency, then sha256sum)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from bench_sealer import record
from botocore.config import Config

CONCURRENCY = 16


def s3_client(url):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=CONCURRENCY))


def naive_check(s3, bucket, keys, work):
    """The naive integrity check: download every key (CONCURRENCY threads), then sha256sum the files.
    Returns (bytes, seconds)."""
    d = tempfile.mkdtemp(prefix="naive", dir=work)
    t0 = time.monotonic()

    def fetch(ik):
        i, k = ik
        path = f"{d}/{i}"
        s3.download_file(bucket, k, path)
        return path
    with ThreadPoolExecutor(CONCURRENCY) as ex:
        paths = list(ex.map(fetch, enumerate(keys)))
    subprocess.run(["sha256sum", *paths], check=True, stdout=subprocess.DEVNULL)
    secs = time.monotonic() - t0
    size = sum(os.path.getsize(p) for p in paths)
    for p in paths:
        os.remove(p)
    return size, secs


def stack_env():
    return dict(line.split("=", 1) for line in open(".stack/env").read().split() if "=" in line)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=6)
    a = p.parse_args()
    env = stack_env()
    kafka = env['AUDITLOG_STACK_BOOTSTRAP']
    s3url = f"http://127.0.0.1:{env['AUDITLOG_STACK_S3_PORT']}"
    bucket = env.get("AUDITLOG_STACK_BUCKET", "audit-archive")
    run = f"bench-verify-{uuid.uuid4().hex[:8]}"
    topic, prefix = f"{run}.events", f"{run}/"
    work = tempfile.mkdtemp(prefix=run)
    penv = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AUDITLOG_LOG="warn")
    sh = lambda *args, **kw: subprocess.run([a.bin, *args], check=True, env=penv, **kw)  # noqa: E731
    for k in ("sealer", "archiver"):
        sh("keygen", "--out", f"{work}/{k}.key", stdout=subprocess.DEVNULL)
    cfg = f"{work}/bench.toml"
    open(cfg, "w").write(f"""[kafka]
bootstrap_servers = "{kafka}"
events_topic = "{topic}"
partitions = {a.partitions}
[s3]
endpoint = "{s3url}"
bucket = "{bucket}"
force_path_style = true
[sealer]
key_file = "{work}/sealer.key"
group_id = "{run}-sealer"
max_records = 10000
metrics_listen = ""
heartbeat_interval_ms = 1000
[archiver]
key_file = "{work}/archiver.key"
seal_keys = ["{work}/sealer.pub"]
group_id = "{run}-archiver"
prefix = "{prefix}"
retention_days = 1
metrics_listen = ""
group_max_age_ms = 2000
""")
    sh("--config", cfg, "topics", "create", stdout=subprocess.DEVNULL)
    print(f"building an archive of {a.events} events ({a.partitions} partitions) with publish → seal → archive …", flush=True)
    procs = [subprocess.Popen([a.bin, "--config", cfg, cmd], env=penv, stdout=open(f"{work}/{cmd}.log", "w"),
                              stderr=subprocess.STDOUT) for cmd in ("seal", "archive")]
    events = subprocess.run([a.bin, "sample", "--count", str(a.events)], check=True, capture_output=True).stdout
    subprocess.run([a.bin, "--config", cfg, "publish", "-"], input=events, check=True, env=penv, stdout=subprocess.DEVNULL)
    s3 = s3_client(s3url)
    deadline = time.monotonic() + 900
    rows_seen = {}
    while True:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "manifests/"):
            for o in page.get("Contents", []):
                if o["Key"] not in rows_seen:
                    m = json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
                    rows_seen[o["Key"]] = sum(x["rows"] for x in m["objects"])
        if sum(rows_seen.values()) >= a.events:
            break
        if time.monotonic() > deadline or any(pr.poll() is not None for pr in procs):
            sys.exit(f"the archive did not fill (logs in {work})")
        time.sleep(1)
    for pr in procs:
        pr.terminate()
        pr.wait(30)

    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]

    def naive():
        return naive_check(s3, bucket, keys, work)

    rss = []

    def ours():
        t0 = time.monotonic()
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen([a.bin, "--config", cfg, "verify", "--format", "json", "--concurrency", str(CONCURRENCY)],
                                    env=penv, stdout=out, stderr=subprocess.DEVNULL, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, KiB
            proc.returncode = os.waitstatus_to_exitcode(status)
            secs = time.monotonic() - t0
            out.seek(0)
            text = out.read()
        if proc.returncode != 0:
            sys.exit(f"verify exited {proc.returncode}: {text[-2000:]}")
        rss.append(usage.ru_maxrss / 1024)
        return json.loads(text)["bytes"], secs

    results = {"naive": [], "verify": []}
    for _ in range(2):  # interleaved, best of two each
        results["verify"].append(ours())
        results["naive"].append(naive())
    mib = lambda b, s: b / s / 2**20  # noqa: E731
    best = {k: max(v, key=lambda bs: mib(*bs)) for k, v in results.items()}
    print(f"\narchive: {len(keys)} objects and manifests, {best['naive'][0] / 2**20:.1f} MiB, {a.events} events")
    print(f"{'check':<48} {'MiB':>8} {'seconds':>8} {'MiB/s':>8}")
    for name, label in (("verify", "auditlog verify (everything, --concurrency 16)"),
                        ("naive", "naive: download (16 threads) + sha256sum")):
        b, s = best[name]
        print(f"{label:<48} {b / 2**20:8.1f} {s:8.2f} {mib(b, s):8.1f}")
    ratio = mib(*best["verify"]) / mib(*best["naive"])
    print(f"\nratio verify / naive = {ratio:.2f}  (goal >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(f"verify peak RSS {max(rss):.0f} MiB")
    record("verify", f"{mib(*best['verify']):.1f} MiB/s", f"{mib(*best['naive']):.1f} MiB/s (download + sha256sum)",
           ratio, ">= 0.5", ratio >= 0.5, max(rss))


if __name__ == "__main__":
    main()
