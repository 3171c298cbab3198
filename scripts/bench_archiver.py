"""Drives scripts/bench-archiver: the archiver beside a plain counting consumer
of the same events topic, same run. The topic is produced and sealed first
(not measured); then the baseline counts it and the archiver archives it from
a fresh group. CPU is utime+stime from /proc; RSS is the peak (VmHWM)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from bench_sealer import (LogTail, bootstrap, count_baseline, cpu_seconds, free_port, metric, peak_rss_mib, produce,
                          record)
from confluent_kafka.admin import AdminClient, NewTopic
from s3front import keepalive_front


def start_until(cmd, env, port, name, target, log, deadline_s=900):
    """Starts `cmd`; returns the running process once metric `name` reaches `target`."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    while metric(port, name) < target:
        if proc.poll() is not None or time.monotonic() - t0 > deadline_s:
            sys.exit(f"{cmd[-1]} stopped before {target}; log: {log}")
        time.sleep(0.1)
    return proc


def run_until(cmd, env, port, name, target, log, deadline_s=900):
    """Starts `cmd`; returns (wall, t10, t90, cpu, peak RSS) once its log shows `target` records
    archived, then checks metric `name` agrees. Progress comes from the "range archived" log
    lines, not from /metrics: a scrape every 50 ms is work no real scraper asks of it (it cost
    the sealer a sixth of its CPU)."""
    import re

    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    archived = re.compile(r" range archived .*first_offset=(\d+) last_offset=(\d+) ")
    done, t10, t90, cpu, rss = 0, None, None, 0.0, 0.0
    tail = LogTail(log)
    while done < target:
        if proc.poll() is not None or time.monotonic() - t0 > deadline_s:
            sys.exit(f"{cmd[-1]} stopped at {done} of {target}; log: {log}")
        time.sleep(0.05)
        done += sum(int(m.group(2)) - int(m.group(1)) + 1 for m in map(archived.search, tail.lines()) if m)
        if t10 is None and done >= target // 10:
            t10 = (time.monotonic() - t0, done)
        if t90 is None and done >= target - target // 10:
            t90 = (time.monotonic() - t0, done)
        cpu, rss = cpu_seconds(proc.pid), max(rss, peak_rss_mib(proc.pid))
    wall = time.monotonic() - t0
    counted = metric(port, name)
    proc.terminate()
    proc.wait(30)
    if counted != done:
        sys.exit(f"the log says {done} rows were archived but /metrics says {counted:.0f}; log: {log}")
    return wall, t10, t90, cpu, rss


def listed(s3, bucket, prefix):
    """Every object under `prefix` (boto3's listing entries)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    return [o for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]


def stored_log(s3, bucket, prefix):
    """The transparency logs' objects under `prefix`: (count, bytes)."""
    objs = listed(s3, bucket, prefix + "tlog/")
    return len(objs), sum(o["Size"] for o in objs)


def stored(s3, bucket, prefix):
    """What the archive stored under `prefix`: (events Parquet objects, their bytes, all objects, all bytes,
    {partition: the first offset of each of its events objects})."""
    objs = listed(s3, bucket, prefix)
    parquet = [o for o in objs if o["Key"].startswith(f"{prefix}events/") and o["Key"].endswith(".parquet")]
    cuts = {}
    for o in parquet:
        p, first = o["Key"].rsplit("/partition=", 1)[1].removesuffix(".parquet").split("/")
        cuts.setdefault(int(p), []).append(int(first))
    return (len(parquet), sum(o["Size"] for o in parquet), len(objs), sum(o["Size"] for o in objs),
            {p: sorted(c) for p, c in cuts.items()})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--count-bin", required=True)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=64)
    a = p.parse_args()
    env_file = dict(line.split("=", 1) for line in open(".stack/env").read().split() if "=" in line)
    kafka = bootstrap()
    s3 = f"http://127.0.0.1:{env_file['AUDITLOG_STACK_S3_PORT']}"
    bucket = env_file.get("AUDITLOG_STACK_BUCKET", "audit-archive")
    run = f"bench-archive-{uuid.uuid4().hex[:8]}"
    topic = f"{run}.events"
    admin = AdminClient({"bootstrap.servers": kafka, "log_level": 0})
    for f in admin.create_topics([NewTopic(t, num_partitions=a.partitions, replication_factor=1)
                                  for t in (topic, topic + ".seals")]).values():
        f.result(30)
    size = produce(kafka, topic, a.bin, a.events, a.partitions)
    tmp = tempfile.mkdtemp(prefix=run)
    for k in ("sealer", "archiver"):
        subprocess.run([a.bin, "keygen", "--out", f"{tmp}/{k}.key"], check=True, capture_output=True)
    sport, aport = free_port(), free_port()
    def config(name, endpoint, log, prefix):
        cfg = f"{tmp}/{name}.toml"
        open(cfg, "w").write(f"""[kafka]
bootstrap_servers = "{kafka}"
events_topic = "{topic}"
[s3]
endpoint = "{endpoint}"
bucket = "{bucket}"
force_path_style = true
[sealer]
key_file = "{tmp}/sealer.key"
group_id = "{run}-sealer"
metrics_listen = "127.0.0.1:{sport}"
heartbeat_interval_ms = 1000
[archiver]
key_file = "{tmp}/archiver.key"
seal_keys = ["{tmp}/sealer.pub"]
group_id = "{prefix}-archiver"
prefix = "{prefix}/"
retention_days = 1
metrics_listen = "127.0.0.1:{aport}"
# Throughput, not the time rule: every range here is sealed before the archiver starts, so
# with the default 60 s a quiet partition's last range would wait for seal time to pass.
group_max_age_ms = {os.environ.get("BENCH_GROUP_MAX_AGE_MS", "1000")}
# The second run also writes each partition's transparency log (FORMAT.md §11.11).
transparency_log = {"true" if log else "false"}
""")
        return cfg
    cfg = config("bench", s3, False, run)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AUDITLOG_LOG=os.environ.get("AUDITLOG_LOG", "warn,archiver::upload=info"))
    print(f"sealing {a.events} events first (not measured)…", file=sys.stderr)
    # The sealer keeps running (its heartbeats close each partition's last range, FORMAT.md §6a).
    sealer = start_until([a.bin, "--config", cfg, "seal"], env, sport, "auditlog_sealer_records_sealed_total", a.events,
                         f"{tmp}/seal.log")

    base_rate, base_steady, base_cpu = count_baseline(a.count_bin, kafka, topic, a.events)
    prefix = os.environ.get("BENCH_ARCHIVE_PREFIX", "").split()  # e.g. "perf record -g -o /tmp/archive.perf"
    pairs = int(os.environ.get("BENCH_LOG_PAIRS", "3"))
    with keepalive_front(s3) as (front, how):
        # Without, then with the transparency logs (issue 21: their tiles and checkpoints may add at most
        # 10% CPU per event), A B A B so that a drift of the machine's speed hits both alike; each run
        # archives the same events from a fresh group into a prefix of its own.
        runs = {False: [], True: []}
        for i in range(pairs):
            for log in (False, True):
                name = f"{run}{'-log' if log else ''}{'-' + str(i) if i else ''}"
                runs[log].append(run_until(
                    prefix + [a.bin, "--config", config(f"archive-{name}", front, log, name), "archive"], env, aport,
                    "auditlog_archiver_rows_written_total", a.events, f"{tmp}/archive-{name}.log"))
    wall, t10, t90, cpu, rss = runs[False][0]
    log_run = runs[True][0]
    rate = a.events / wall
    steady = (t90[1] - t10[1]) / (t90[0] - t10[0])
    cpu_m = cpu / a.events * 1e6
    mib_in = a.events * size / 2**20
    print()
    print(f"archiver benchmark: {a.events} events of {size:.0f} bytes ({mib_in:.1f} MiB), {a.partitions} partitions, "
          "Apache Kafka (KRaft, the stack's nodes) + moto, dev profile")
    print(f"{'':28} {'steady ev/s':>12} {'end-to-end ev/s':>16} {'MiB/s in':>9} {'CPU s per 1M':>13} {'peak RSS MiB':>13}")
    print(f"{'plain counting consumer':28} {base_steady:>12.0f} {base_rate:>16.0f} {base_rate * size / 2**20:>9.1f} {base_cpu:>13.2f} {'':>13}")
    print(f"{'auditlog archive':28} {steady:>12.0f} {rate:>16.0f} {rate * size / 2**20:>9.1f} {cpu_m:>13.2f} {rss:>13.0f}")
    raw = round(a.events * size)  # the Kafka values' bytes: the NDJSON without its newlines
    n_pq, pq_bytes, n_all, all_bytes, cuts = stored(s3, bucket, f"{run}/")
    print(f"archive stored {pq_bytes / a.events:.1f} bytes per event in {n_pq} events Parquet objects "
          f"({a.events / max(n_pq, 1):.0f} rows each; raw NDJSON / stored = {raw / max(pq_bytes, 1):.2f}); "
          f"{all_bytes / a.events:.1f} with the {n_all - n_pq} manifests, checkpoints and logs")
    sr = steady / base_steady
    print(f"{'ratio (archiver / plain)':28} {sr:>12.2f} {rate / base_rate:>16.2f}")
    cpu_off = [r[3] / a.events * 1e6 for r in runs[False]]
    cpu_on = [r[3] / a.events * 1e6 for r in runs[True]]
    log_cpu_m = sum(cpu_on) / len(cpu_on)
    log_ratio = sum(cpu_on) / sum(cpu_off)
    print(f"CPU s per 1M, {pairs} pair(s) A B: without logs {', '.join(f'{c:.2f}' for c in cpu_off)}; "
          f"with logs {', '.join(f'{c:.2f}' for c in cpu_on)}")
    n_log, log_bytes = stored_log(s3, bucket, f"{run}-log/")
    print(f"with transparency logs: {log_cpu_m:.2f} CPU s per 1M ({log_ratio:.2f}x without them, goal <= 1.10 -> "
          f"{'met' if log_ratio <= 1.10 else 'NOT met'}), {a.events / log_run[0]:.0f} ev/s end to end, "
          f"peak RSS {log_run[4]:.0f} MiB; {n_log} tiles and checkpoints, {log_bytes / a.events:.1f} bytes per event")
    print(f"S3 endpoint of both archiver runs: {how}")
    print(f"goals: steady rate ratio >= 0.95 -> {'met' if sr >= 0.95 else 'NOT met'}; "
          f"CPU <= 5 s per 1M -> {'met' if cpu_m <= 5 else 'NOT met'}; "
          f"RSS <= 256 MiB with {a.partitions} partitions -> {'met' if rss <= 256 else 'NOT met'}")
    measured = f"{steady:.0f} ev/s, {steady * size / 2**20:.1f} MiB/s"
    record("archiver: rate", measured, f"{base_steady:.0f} ev/s (plain consumer)", sr, ">= 0.95", sr >= 0.95, rss)
    record("archiver: CPU", f"{cpu_m:.2f} s per 1M", f"{base_cpu:.2f} s per 1M", cpu_m / base_cpu, "<= 5 s per 1M",
           cpu_m <= 5, rss)
    record("archiver: transparency log CPU", f"{log_cpu_m:.2f} s per 1M",
           f"{sum(cpu_off) / len(cpu_off):.2f} s per 1M without",
           log_ratio, "<= 1.10", log_ratio <= 1.10, log_run[4])
    record(f"archiver: RSS, {a.partitions} partitions", f"{rss:.0f} MiB", "", None, "<= 256 MiB", rss <= 256, rss)
    sealer.terminate()
    sealer.wait(30)
    if os.environ.get("BENCH_ARCHIVER_STATE"):  # for scripts/baseline_archiver.py --compare (issue 23)
        json.dump({"topic": topic, "events": a.events, "partitions": a.partitions, "raw_bytes": raw,
                   "ours": {"cpu": cpu, "rss": rss, "objects": n_pq, "parquet_bytes": pq_bytes,
                            "all_objects": n_all, "all_bytes": all_bytes, "cuts": cuts}},
                  open(os.environ["BENCH_ARCHIVER_STATE"], "w"))


if __name__ == "__main__":
    main()
