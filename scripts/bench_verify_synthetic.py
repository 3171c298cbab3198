"""Drives `scripts/bench-verify --synthetic N`: builds an archive of N events
straight into S3 with the archiver's own encoder, signer and layout (the
`synthetic_archive` example; no Kafka), then times `auditlog verify` three
ways: a full run (first run with a fresh --state), an incremental run after
1% growth, and a --deep run. Requests and bytes are counted at an HTTP proxy
in front of S3 (scripts/s3count.py); peak RSS is the verify process's own
(wait4).

--objects small (default): 1,000 records per seal, 5 seals per events object
(5,000 events, ~0.26 MiB): many small objects, so many versions to list.
--objects default: the archiver's own defaults, `sealer.max_records` 10,000 and
`archiver.group_max_seals` 8 (80,000 events, ~4.2 MiB per object), which a busy
partition fills before `archiver.group_max_age_ms`.

Each run gets a bucket of its own (Object Lock on): moto's ListObjectVersions
deep-copies every version in the bucket, data included, whatever the prefix,
so in the stack's shared bucket it would time every archive the tests and
earlier benches left there.

Beside the deep run it measures two floors in the same run: the SHA-256 a
deep run cannot avoid (`sha_floor` over the grown archive's records: what
docs/FORMAT.md hashes per record) and the S3 server's own CPU, read from
/proc for moto's process, during the naive check and the deep run."""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections import Counter

from bench_verify import naive_check, s3_client
from s3count import CountingProxy

# Records per seal and seals per range (one events object and one manifest) for synthetic_archive.rs.
SHAPES = {"small": (1_000, 5), "default": (10_000, 8)}


def stack_env():
    return dict(line.split("=", 1) for line in open(".stack/env").read().split() if "=" in line)


def server_cpu():
    """CPU seconds the stack's S3 server (moto, pid in .stack/moto.pid) has used so far."""
    pid = open(".stack/moto.pid").read().strip()
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor(bins, records, objects, events, deep, naive_rate):
    """What bounds a deep run from below on this machine, measured beside it. Two costs the naive
    check never pays: the SHA-256 of every record's digest message, link and Merkle node
    (docs/FORMAT.md §3-4; sha_floor) and reading the events objects to Arrow with the same parquet
    crate (decode_floor, all columns, no check). Plus the server's own CPU while it served the run."""
    sha_bin, decode_bin = bins
    out = subprocess.run([sha_bin, records], check=True, capture_output=True, text=True).stdout
    per_1m = float(re.search(r"^SHA_FLOOR_S_PER_1M=(\S+)$", out, re.M).group(1))
    sha = per_1m * events / 1e6
    dec = subprocess.run([decode_bin, *objects], check=True, capture_output=True, text=True).stdout
    decode = float(re.search(r"^DECODE_FLOOR_S=(\S+)$", dec, re.M).group(1))
    cores = os.cpu_count() or 1
    wall, cpu, size, _, server = deep
    best = (sha + decode + server) / cores
    need = size / (0.9 * naive_rate)
    print(f"deep run's floor: SHA-256 {sha:.2f} CPU s ({per_1m:.2f} s per 1M records; "
          f"{out.splitlines()[0].split(', ', 1)[1].split(' (')[0]}) + Parquet decode {decode:.2f} CPU s "
          f"= {(sha + decode) / cpu:.0%} of the deep run's CPU {cpu:.2f} s")
    print(f"best deep wall on {cores} cores: (floor {sha + decode:.2f} + server CPU {server:.2f}) / {cores} "
          f"= {best:.2f} s; 0.9x naive needs <= {need:.2f} s "
          f"({'reachable' if best <= need else 'out of reach at the floor'})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--example", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--objects", choices=sorted(SHAPES), default="small")
    p.add_argument("--floor-bins", required=True, nargs=2, help="chain/examples/sha_floor, verify/examples/decode_floor")
    a = p.parse_args()
    seal, per_range = SHAPES[a.objects]
    span = seal * per_range
    print(f"objects: {a.objects}, {seal} records per seal, {per_range} seals ({span} events) per object")
    events = max(span, -(-a.events // span) * span)
    if events != a.events:
        print(f"note: {a.events} events rounded up to {events}, a whole number of ranges, so growth appends")
    grown = events + max(1, events // 100)
    s3url = f"http://127.0.0.1:{stack_env()['AUDITLOG_STACK_S3_PORT']}"
    bucket = f"bench-verify-{uuid.uuid4().hex[:8]}"
    s3_client(s3url).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    prefix = "bench-synthetic/"
    work = tempfile.mkdtemp(prefix="bench-synthetic-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AUDITLOG_LOG="warn")
    base_ms = int(time.time() * 1000)
    proxy = CountingProxy(s3url)
    open(f"{work}/keys.toml", "w").write(
        '[[keys]]\nfile = "sealer.pub"\nrole = "sealer"\n\n[[keys]]\nfile = "archiver.pub"\nrole = "archiver"\n')
    open(f"{work}/verify.toml", "w").write(f"""[kafka]
bootstrap_servers = "127.0.0.1:1"
events_topic = "audit.events"
[s3]
endpoint = "{proxy.url}"
bucket = "{bucket}"
force_path_style = true
[archiver]
key_file = "{work}/archiver.key"
seal_keys = ["{work}/sealer.pub"]
prefix = "{prefix}"
retention_days = 1
""")

    def build(n, records=None):
        subprocess.run([a.example, s3url, bucket, prefix, str(n), str(base_ms), work, str(seal), str(per_range)],
                       check=True, env=dict(env, SYNTHETIC_RECORDS=records) if records else env)

    # The same config straight to S3, without the counting proxy (which caps every run near 25-30 MiB/s).
    open(f"{work}/direct.toml", "w").write(open(f"{work}/verify.toml").read().replace(proxy.url, s3url))

    def verify(label, *extra, config="verify.toml"):
        proxy.take()
        proxy.take_seconds()
        server = server_cpu()
        out = open(f"{work}/{label}.json", "w")
        t0 = time.monotonic()
        child = subprocess.Popen([a.bin, "--config", f"{work}/{config}", "verify", "--keys", f"{work}/keys.toml",
                                  "--state", f"{work}/state.json", "--format", "json", *extra],
                                 stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - t0
        server = server_cpu() - server
        out.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{label}: verify exited {os.waitstatus_to_exitcode(status)}: {child.stderr.read().decode()}")
        report = json.load(open(f"{work}/{label}.json"))
        log = proxy.take()
        # Not through the proxy (direct.toml): the report's own count of bytes read.
        downloaded = sum(size for method, key, _, size in log if method == "GET" and key) or report["bytes"]
        by = Counter("LIST" if method == "GET" and not key else method for method, key, _, _ in log)
        cov = report["coverage"]
        mib = downloaded / 1048576
        cpu = usage.ru_utime + usage.ru_stime
        print(f"{label:<12} {wall:7.2f} s  CPU {cpu:6.2f} s  {mib / wall:7.1f} MiB/s  peak RSS {usage.ru_maxrss / 1024:6.1f} MiB  "
              f"requests {sum(by.values()):5d} ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))})  "
              f"downloaded {mib:7.1f} MiB  objects full {cov['objects_full']}, by listing {cov['objects_listed']}")
        listing = sum(secs for method, key, secs in proxy.take_seconds() if method == "GET" and not key)
        if log:
            print(f"{'':<12} of which the server's version listing {listing:.3f} s; the server's CPU {server:.2f} s")
        else:
            print(f"{'':<12} the server's CPU {server:.2f} s")
        return wall, cpu, downloaded, listing, server

    try:
        t = time.monotonic()
        build(events)
        print(f"built {events} events under s3://{bucket}/{prefix} in {time.monotonic() - t:.1f} s")
        full = verify("full")
        build(grown, records=f"{work}/records.tsv")
        print(f"grown by {grown - events} events (1%)")
        inc = verify("incremental")
        deep = verify("deep", "--deep")
        # The naive check of the same objects through the same proxy, as issue 20 measures a full run
        # against: download everything and sha256sum it. `--deep` reads every object of this grown
        # archive, as a full run does.
        s3 = s3_client(proxy.url)
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]

        def naive(label, client):
            proxy.take()
            server = server_cpu()
            size, secs = naive_check(client, bucket, keys, work)
            server = server_cpu() - server
            proxy.take()
            print(f"{label:<12} {secs:7.2f} s  {size / secs / 1048576:7.1f} MiB/s  (download, {len(keys)} objects, "
                  f"16 threads, then sha256sum); the server's CPU {server:.2f} s")
            return size / secs

        def compare(label, ours, theirs):
            ratio = (ours[2] / ours[0]) / theirs
            print(f"{label}: full (--deep) / naive MiB/s {ratio:.2f} (goal >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})")
        compare("through the proxy", deep, naive("naive", s3))
        direct = verify("deep direct", "--deep", config="direct.toml")
        naive_rate = naive("naive direct", s3_client(s3url))
        compare("straight to S3", direct, naive_rate)
        objects = []
        for i, k in enumerate(k for k in keys if k.endswith(".parquet") and "/events/" in k):
            objects.append(f"{work}/events-{i}.parquet")
            s3.download_file(bucket, k, objects[-1])
        floor(a.floor_bins, f"{work}/records.tsv", objects, grown, direct, naive_rate)
        # Issue 20's goal: an incremental run after 1% growth <= 5% of the full run's wall time and bytes.
        # Its wall time is mostly S3's: the listing of every version (one LIST per 1,000), which moto
        # answers far slower than S3; its CPU shows what the verifier itself spends.
        ratios = [inc[i] / full[i] if full[i] else 0.0 for i in range(3)]
        print(f"incremental / full: wall {ratios[0]:.3f}, CPU {ratios[1]:.3f}, bytes {ratios[2]:.3f} "
              f"(goal <= 0.05: wall {'met' if ratios[0] <= 0.05 else 'NOT met'}, "
              f"bytes {'met' if ratios[2] <= 0.05 else 'NOT met'})")
        # Not a goal, a diagnosis: the same ratio with the server's time answering the one version
        # listing taken out of both runs (what the verifier and the new objects cost).
        print(f"incremental / full, the server's listing time taken out of both: "
              f"{(inc[0] - inc[3]) / (full[0] - full[3]):.3f} (listing {inc[3]:.3f} s of the incremental's "
              f"{inc[0]:.2f} s)")
    finally:
        proxy.close()


if __name__ == "__main__":
    main()
