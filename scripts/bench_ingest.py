"""Drives the ingest row of scripts/bench: `auditlog ingest` (HTTP, 4 client
threads posting batches of 500) beside a plain librdkafka producer
(ingest/examples/produce.rs) of the same events to the same broker, same run.
Prints events/s, request latency p50/p99 and the CPU seconds per million
events of each process (/proc utime+stime)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
from bench_sealer import bootstrap, cpu_seconds, free_port, peak_rss_mib, record
from confluent_kafka.admin import AdminClient, NewTopic


def topic(kafka, partitions):
    name = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka, "log_level": 0})  # must outlive the futures
    for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
        f.result(30)
    return name


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--produce-bin", required=True)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=6)
    a = p.parse_args()
    kafka = bootstrap()
    work = tempfile.mkdtemp(prefix="bench-ingest")
    src = os.path.join(work, "events.ndjson")
    with open(src, "wb") as f:
        f.write(subprocess.run([a.bin, "sample", "--count", str(a.events)], check=True, capture_output=True).stdout)
    lines = open(src, "rb").read().splitlines()

    # Baseline: the plain producer.
    t = topic(kafka, a.partitions)
    proc = subprocess.Popen([a.produce_bin, kafka, t, src], stdout=subprocess.PIPE, text=True)
    cpu = 0.0
    while proc.poll() is None:
        cpu = cpu_seconds(proc.pid)
        time.sleep(0.05)
    base = json.loads(proc.stdout.read())
    base_rate, base_cpu = a.events / base["seconds"], cpu / a.events * 1e6

    # The gateway.
    t = topic(kafka, a.partitions)
    port = free_port()
    cfg = os.path.join(work, "gw.toml")
    open(cfg, "w").write(f'[kafka]\nbootstrap_servers = "{kafka}"\nevents_topic = "{t}"\n'
                         f'[ingest]\nlisten = "127.0.0.1:{port}"\nreadiness_interval_ms = 200\n'
                         f'[telemetry]\nlog_level = "warn"\n')
    gw = subprocess.Popen([a.bin, "--config", cfg, "ingest"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            sys.exit("the gateway did not become ready")
        time.sleep(0.1)
    batches = [b"\n".join(lines[i:i + 500]) + b"\n" for i in range(0, len(lines), 500)]
    latencies, errors, lock = [], [], threading.Lock()
    cpu0 = cpu_seconds(gw.pid)

    def client(mine):
        s = requests.Session()
        for body in mine:
            t0 = time.monotonic()
            r = s.post(url + "/v1/events", data=body, headers={"Content-Type": "application/x-ndjson"}, timeout=60)
            with lock:
                latencies.append(time.monotonic() - t0)
                if r.status_code != 202:
                    errors.append(r.status_code)
    threads = [threading.Thread(target=client, args=(batches[i::4],)) for i in range(4)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t0
    gw_cpu = (cpu_seconds(gw.pid) - cpu0) / a.events * 1e6
    gw_rss = peak_rss_mib(gw.pid)
    gw.terminate()
    gw.wait(30)
    if errors:
        sys.exit(f"{len(errors)} requests failed: {sorted(set(errors))}")
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    rate = a.events / wall
    print(f"\ningest benchmark: {a.events} events, {a.partitions} partitions, batches of 500 events from 4 client threads")
    print(f"{'':34} {'events/s':>10} {'CPU s per 1M':>13} {'req p50 ms':>11} {'req p99 ms':>11}")
    print(f"{'plain librdkafka producer':34} {base_rate:>10.0f} {base_cpu:>13.2f} {'':>11} {'':>11}")
    print(f"{'auditlog ingest (HTTP, acks=all)':34} {rate:>10.0f} {gw_cpu:>13.2f} {pct(0.5):>11.1f} {pct(0.99):>11.1f}")
    print(f"ratio gateway / plain producer: rate {rate / base_rate:.2f} (goal >= 0.5: {'met' if rate / base_rate >= 0.5 else 'NOT met'})")
    print(f"gateway peak RSS {gw_rss:.0f} MiB")
    # The broker's own ceiling for producing, beside which every stage is read.
    record("broker ceiling: plain librdkafka producer (acks=all, idempotent)",
           f"{base_rate:.0f} ev/s, {base_cpu:.2f} CPU s per 1M", None, None, "–", None)
    record("HTTP ingest", f"{rate:.0f} ev/s, p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, {gw_cpu:.2f} CPU s per 1M",
           f"{base_rate:.0f} ev/s, {base_cpu:.2f} CPU s per 1M (plain producer)", rate / base_rate, ">= 0.5",
           rate / base_rate >= 0.5, gw_rss)


if __name__ == "__main__":
    main()
