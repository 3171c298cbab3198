"""scripts/chaos: the whole pipeline under faults, with exact accounting.

Runs on a local stack (scripts/stack up; scripts/chaos starts a three-node
Apache Kafka cluster of its own): ingest x2 behind HAProxy (active health
checks on /readyz), sealers x3, archivers x3 (reaching S3 through a proxy that
can take it away). N events go half through the load balancer and half
straight to Kafka.

Scenario `chaos` (the default): the script SIGKILLs a random sealer or archiver
every --kill-interval seconds and restarts it, kills one ingest instance
(restarted later), takes S3 away for --s3-outage seconds, and on three nodes
SIGKILLs the leader of the busiest events partition (restarted after
--broker-down seconds) and cleanly stops the active KRaft controller (a
controller failover; restarted at once). On one node it stops and restarts
the broker instead.

Scenario `failover` (three nodes): no process of the pipeline is touched; the
leader of the busiest events partition is SIGKILLed and brought back, then the
leader of a seals partition, then all three nodes restart cleanly one at a
time (each back in every ISR before the next).

Then it waits (bounded) for the pipeline to drain, runs `auditlog verify`,
reads the archive back with pyarrow and prints the report. Exit 0 only if
every event was acknowledged and archived, nothing is missing, no Kafka record
is archived twice, every duplicate event id was re-sent by a client, no
sealer, archiver or gateway exited on its own, no HTTP 503 came while every
partition had an in-sync quorum, and verify is clean.
"""
import argparse
import hashlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from chaos_load import Ledger, Monitor, OutsideProducer, Pacer, http_sender

ROOT = Path(__file__).resolve().parents[1]
STACK = Path(os.environ.get("AUDITLOG_STACK_DIR", ROOT / ".stack"))
BUCKET = os.environ.get("AUDITLOG_STACK_BUCKET", "audit-archive")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Role:
    """One long-running process that can be SIGKILLed and restarted."""

    def __init__(self, name, cmd, env, logdir):
        self.name, self.cmd, self.env, self.logdir = name, cmd, env, logdir
        self.proc = None
        self.kills = 0
        self.expect_exit = False

    def start(self):
        # The new process first, then the flag: the main loop's check_roles runs beside the
        # one-off faults' thread, and must never see the killed process with expect_exit unset
        # (it called a deliberate SIGKILL "exited on its own" and started a second copy).
        log = open(self.logdir / f"{self.name}.log", "a")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        self.expect_exit = False

    def kill(self):
        self.expect_exit = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self):
        self.expect_exit = True
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Chaos:
    def __init__(self, args):
        self.args = args
        env = dict(line.split("=", 1) for line in (STACK / "env").read_text().split() if "=" in line)
        self.kafka = env['AUDITLOG_STACK_BOOTSTRAP']
        self.brokers = int(env.get("AUDITLOG_STACK_BROKERS", "1"))
        self.rf = int(env.get("AUDITLOG_STACK_REPLICATION_FACTOR", "1"))
        if args.scenario == "failover" and self.brokers < 3:
            raise SystemExit("error: the failover scenario needs a three-node cluster (AUDITLOG_STACK_BROKERS=3)")
        self.s3_port = int(env["AUDITLOG_STACK_S3_PORT"])
        self.bin = os.environ.get("AUDITLOG_BIN", str(ROOT / "target" / "debug" / "auditlog"))
        self.run_id = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.topic = f"chaos.{self.run_id}"
        self.dir = Path(args.workdir or STACK / "chaos" / self.run_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        AWS_DEFAULT_REGION="us-east-1", AUDITLOG_LOG="info")
        self.timeline = []
        self.roles = {}
        self.unexpected_exits = []
        self.t0 = None

    def log(self, what, **extra):
        t = round(time.monotonic() - self.t0, 1) if self.t0 else 0.0
        self.timeline.append({"t": t, "event": what, **extra})
        print(f"[{t:7.1f}s] {what}" + (f" {extra}" if extra else ""), file=sys.stderr, flush=True)

    def auditlog(self, *args, env=None, timeout=600):
        return subprocess.run([self.bin, "--config", str(self.config), *args], capture_output=True, text=True,
                              env=env or self.env, timeout=timeout)

    # ---------------------------------------------------------------- set-up
    def setup(self):
        port_file = self.dir / "s3proxy.port"
        self.proxy = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "tcpproxy.py"), str(self.s3_port), str(port_file)])
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("error: the S3 proxy did not start")
            time.sleep(0.05)
        proxy_port = int(port_file.read_text())
        for k in ("sealer", "archiver"):
            r = subprocess.run([self.bin, "keygen", "--out", str(self.dir / f"{k}.key")], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"error: keygen failed: {r.stderr}")
        self.token = secrets.token_urlsafe(24)
        self.groups = (f"chaos-sealer-{self.run_id}", f"chaos-archiver-{self.run_id}")
        self.prefix = f"chaos/{self.run_id}/"
        self.config = self.dir / "chaos.toml"
        self.config.write_text(f"""# Written by scripts/chaos for run {self.run_id}.
[kafka]
bootstrap_servers = "{self.kafka}"
events_topic = "{self.topic}"
partitions = {self.args.partitions}
replication_factor = {self.rf}
message_timeout_ms = 30000

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[s3]
endpoint = "http://127.0.0.1:{proxy_port}"
region = "us-east-1"
bucket = "{BUCKET}"
force_path_style = true

[ingest]
readiness_interval_ms = 250

[[ingest.tokens]]
name = "chaos-load"
sha256 = "{hashlib.sha256(self.token.encode()).hexdigest()}"
tenants = ["*"]

[sealer]
key_file = "{self.dir / 'sealer.key'}"
group_id = "{self.groups[0]}"
max_records = 5000
max_interval_ms = 500
heartbeat_interval_ms = 5000
metrics_listen = ""

[archiver]
key_file = "{self.dir / 'archiver.key'}"
seal_keys = ["{self.dir / 'sealer.pub'}"]
group_id = "{self.groups[1]}"
prefix = "{self.prefix}"
retention_days = 1
metrics_listen = ""
group_max_age_ms = 5000
""")
        r = self.auditlog("topics", "create")
        if r.returncode != 0:
            raise SystemExit(f"error: creating {self.topic} failed: {r.stderr}")
        self.gw_ports = [free_port(), free_port()]
        self.lb_port = free_port()
        for i, port in enumerate(self.gw_ports):
            env = dict(self.env, AUDITLOG_INGEST__LISTEN=f"127.0.0.1:{port}")
            self.roles[f"ingest-{i}"] = Role(f"ingest-{i}", [self.bin, "--config", str(self.config), "ingest"], env, self.dir)
        for kind, cmd in (("sealer", "seal"), ("archiver", "archive")):
            for i in range(3):
                self.roles[f"{kind}-{i}"] = Role(f"{kind}-{i}", [self.bin, "--config", str(self.config), cmd], self.env, self.dir)
        for role in self.roles.values():
            role.start()
        self.start_haproxy()

    def start_haproxy(self):
        servers = "\n".join(f"  server gw{i} 127.0.0.1:{p} check" for i, p in enumerate(self.gw_ports))
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
frontend ingest
  bind 127.0.0.1:{self.lb_port}
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
{servers}
""")
        log = open(self.dir / "haproxy.log", "w")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        import requests

        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{self.lb_port}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"error: no gateway became ready behind HAProxy; logs in {self.dir}")
            time.sleep(0.2)

    # ---------------------------------------------------------------- faults
    def stack(self, *args):
        r = subprocess.run([str(ROOT / "scripts" / "stack"), *args], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, AUDITLOG_STACK_DIR=str(STACK)))
        if r.returncode != 0:
            raise SystemExit(f"error: scripts/stack {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def faults(self, load_done):
        """The fault schedule; returns when the load is done and every one-off
        fault has happened."""
        a = self.args
        rng = random.Random(a.seed)
        if a.scenario == "failover":
            one_offs = [(a.leader_kill_at, "kill events leader"), (a.leader_kill_at + a.broker_down, "restart node"),
                        (a.seals_leader_kill_at, "kill seals leader"),
                        (a.seals_leader_kill_at + a.broker_down, "restart node"),
                        (a.rolling_restart_at, "rolling restart")]
            next_kill = float("inf")
        else:
            one_offs = [(a.ingest_kill_at, "kill ingest-1"), (a.ingest_kill_at + 15, "restart ingest-1"),
                        (a.s3_outage_at, "S3 down"), (a.s3_outage_at + a.s3_outage, "S3 back")]
            if self.brokers >= 3:
                one_offs += [(a.leader_kill_at, "kill events leader"), (a.leader_kill_at + a.broker_down, "restart node"),
                             (a.controller_failover_at, "controller failover")]
            else:
                one_offs += [(a.leader_kill_at, "broker restart")]
            next_kill = a.kill_interval
        one_offs.sort()
        self.recoveries = []
        # One-off faults run in order on a thread of their own: a broker restart can take
        # 20 s on a loaded machine, and the periodic kills must not wait for it.
        errors = []

        def run_one_offs():
            try:
                for at, what in one_offs:
                    delay = at - (time.monotonic() - self.t0)
                    if delay > 0:
                        time.sleep(delay)
                    self.one_off(what)
            except BaseException as e:  # noqa: BLE001 - reported by the main loop
                errors.append(e)

        scheduled = threading.Thread(target=run_one_offs, daemon=True)
        scheduled.start()
        while True:
            now = time.monotonic() - self.t0
            self.check_roles()
            if errors:
                raise SystemExit(f"error: a fault could not be applied: {errors[0]}")
            if not scheduled.is_alive() and load_done.is_set():
                return
            if now >= next_kill and not load_done.is_set():
                victim = self.roles[rng.choice([n for n in self.roles if not n.startswith("ingest")])]
                victim.kill()
                victim.start()
                self.log("SIGKILL and restart", role=victim.name)
                self.mark_recovery(f"SIGKILL {victim.name}")
                next_kill += a.kill_interval
                continue
            time.sleep(0.2)

    def one_off(self, what):
        if what == "kill ingest-1":
            self.roles["ingest-1"].kill()
            self.log("SIGKILL", role="ingest-1")
        elif what == "restart ingest-1":
            self.roles["ingest-1"].start()
            self.log("restarted", role="ingest-1")
        elif what == "S3 down":
            self.proxy.send_signal(signal.SIGUSR1)
            self.log("S3 unreachable", seconds=self.args.s3_outage)
        elif what == "S3 back":
            self.proxy.send_signal(signal.SIGUSR2)
            self.log("S3 reachable again")
            self.mark_recovery("S3 outage")
        elif what == "broker restart":  # one node: the only broker stops cleanly and returns
            self.log("broker stop")
            self.stack("broker-stop")
            self.stack("broker-start")
            self.log("broker back")
            self.mark_recovery("broker restart")
        elif what in ("kill events leader", "kill seals leader"):
            topic = self.topic if what == "kill events leader" else self.topic + ".seals"
            partition = self.monitor.busiest()
            self.down_node = self.leader(topic, partition)
            self.log("broker SIGKILL", node=self.down_node, leads=f"{topic}[{partition}]")
            self.stack("broker-kill", str(self.down_node))
        elif what == "restart node":
            self.stack("broker-start", str(self.down_node))
            self.log("broker back", node=self.down_node)
            self.mark_recovery(f"node {self.down_node} SIGKILL")
            self.wait_in_sync()
        elif what == "controller failover":
            node = int(self.stack("controller").strip())
            self.log("controller stop", node=node)
            self.stack("broker-stop", str(node))
            self.log("controller moved", to=int(self.stack("controller").strip()))
            self.stack("broker-start", str(node))
            self.log("controller node back", node=node)
            self.mark_recovery("controller failover")
        elif what == "rolling restart":
            for node in range(1, self.brokers + 1):
                self.log("rolling restart: stop", node=node)
                self.stack("broker-stop", str(node))
                self.stack("broker-start", str(node))
                self.log("rolling restart: back", node=node)
                self.wait_in_sync()
            self.mark_recovery("rolling restart")

    def leader(self, topic, partition):
        return int(self.stack("leader", topic, str(partition)).strip())

    def wait_in_sync(self, timeout=180):
        """Waits until every replica of the run's topics is back in its ISR."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.kafka, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=5)
                parts = [p for n in (self.topic, self.topic + ".seals") for p in md.topics[n].partitions.values()]
                if all(len(p.isrs) == len(p.replicas) for p in parts):
                    self.log("every replica in sync")
                    return
            except Exception:  # noqa: BLE001 - the cluster is settling; retried until the deadline
                pass
            time.sleep(0.5)
        raise SystemExit(f"error: replicas not back in sync within {timeout}s")

    def check_roles(self):
        """A pipeline process that exited without being killed by the script is a failure."""
        for role in self.roles.values():
            if role.proc and role.proc.poll() is not None and not role.expect_exit:
                self.log("exited on its own", role=role.name, code=role.proc.returncode)
                self.unexpected_exits.append({"role": role.name, "code": role.proc.returncode})
                role.start()

    def mark_recovery(self, fault):
        self.recoveries.append((fault, time.monotonic() - self.t0))

    # ---------------------------------------------------------------- load
    def load(self, ledger):
        a = self.args
        r = subprocess.run([self.bin, "sample", "--count", str(a.events), "--seed", str(a.seed)], capture_output=True, check=True)
        http, direct = [], []
        for i, line in enumerate(r.stdout.splitlines()):
            e = json.loads(line)
            (http if i % 2 == 0 else direct).append((e["event_id"], e["tenant"].encode(), line))
        self.sent_ids = [x[0] for x in http] + [x[0] for x in direct]
        batches = [[(i, line) for i, _, line in http[k:k + a.batch]] for k in range(0, len(http), a.batch)]
        batches.reverse()
        deadline = time.monotonic() + a.timeout
        pacer_http = Pacer(len(http), a.min_load_seconds)
        pacer_kafka = Pacer(len(direct), a.min_load_seconds)
        lock = threading.Lock()
        errors = []

        def guard(fn, *args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{fn.__name__}: {e}")

        url = f"http://127.0.0.1:{self.lb_port}/v1/events"
        threads = [threading.Thread(target=guard, args=(http_sender, url, self.token, batches, ledger, pacer_http, deadline, lock))
                   for _ in range(a.http_clients)]
        self.producer = OutsideProducer(self.kafka, self.topic)
        threads.append(threading.Thread(target=guard, args=(self.producer.run, direct, ledger, pacer_kafka, deadline)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit("error: the load did not complete: " + "; ".join(errors))

    # ---------------------------------------------------------------- run
    def run(self):
        self.setup()
        self.monitor = Monitor(self.kafka, self.topic, *self.groups, min_isr=min(2, self.rf))
        ledger = Ledger()
        self.t0 = time.monotonic()
        self.log("load starts", events=self.args.events, topic=self.topic, prefix=self.prefix)
        mon = threading.Thread(target=self.monitor.run, args=(self.t0,), daemon=True)
        mon.start()
        load_done = threading.Event()

        def load():
            try:
                self.load(ledger)
            finally:
                load_done.set()
                self.log("load done", acknowledged=len(ledger.acked))

        loader = threading.Thread(target=load, daemon=True)  # dies with the script on a fatal error
        loader.start()
        self.faults(load_done)
        loader.join()
        self.log("faults done; draining")
        deadline = time.monotonic() + self.args.drain_timeout
        while not self.monitor.drained():
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        self.log("drained" if self.monitor.drained() else "drain timed out")
        time.sleep(2)  # one more monitor sample after the last commit
        self.monitor.stop.set()
        mon.join(10)
        return self.report(ledger)

    def stop(self):
        for role in self.roles.values():
            role.stop()
        for p in (getattr(self, "haproxy", None), getattr(self, "proxy", None)):
            if p and p.poll() is None:
                p.terminate()
                p.wait(10)

    # ---------------------------------------------------------------- report
    def archive_rows(self):
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{self.s3_port}", scheme="http", access_key="test",
                               secret_key="test", region="us-east-1")
        dataset = ds.dataset(f"{BUCKET}/{self.prefix}events/", filesystem=fs, format="parquet", partitioning="hive")
        t = dataset.to_table(columns=["event_id", "kafka_partition", "kafka_offset"])
        return list(zip(t.column("event_id").to_pylist(), t.column("kafka_partition").to_pylist(),
                        t.column("kafka_offset").to_pylist()))

    def report(self, ledger):
        for role in self.roles.values():
            role.stop()
        env = dict(self.env, AUDITLOG_S3__ENDPOINT=f"http://127.0.0.1:{self.s3_port}")
        v = self.auditlog("verify", "--format", "json", env=env)
        try:
            verify = json.loads(v.stdout)
        except ValueError:
            verify = {"error": (v.stdout + v.stderr)[-2000:]}
        rows = self.archive_rows()
        quorum_lost, unobserved = self.monitor.quorum_lost(), self.monitor.unobserved()
        http_503 = sorted(ledger.http_503)
        unexplained_503 = [round(t - self.t0, 1) for t in http_503
                           if not any(a - 2.0 <= t - self.t0 <= b + 2.0 for a, b in quorum_lost + unobserved)]
        per_id = Counter(r[0] for r in rows)
        positions = Counter((r[1], r[2]) for r in rows)
        dup_ids = {i for i, n in per_id.items() if n > 1}
        end = self.monitor.samples[-1][1] if self.monitor.samples else {}
        lags = [self.monitor.lag(s) for s in self.monitor.samples]
        recoveries = []
        for fault, at in self.recoveries:
            sample = next((s for s in self.monitor.samples if s[0] >= at), None)
            sealed, archived = self.monitor.recovery(at, sample[1]) if sample else (None, None)
            recoveries.append({"fault": fault, "at_s": round(at, 1), "sealed_s": sealed, "archived_s": archived})
        rep = {
            "run": self.run_id, "topic": self.topic, "prefix": self.prefix, "events_sent": len(self.sent_ids),
            "acknowledged": len(ledger.acked),
            "never_acknowledged": len(set(self.sent_ids) - ledger.acked),
            "records_in_kafka": sum(end.values()),
            "rows_archived": len(rows),
            "archive_duplicates": sum(n - 1 for n in positions.values()),
            "missing": len(ledger.acked - set(per_id)),
            "archived_unacknowledged": len(set(per_id) - ledger.acked),
            "resent_by_clients": len(ledger.resent),
            "duplicate_event_ids": len(dup_ids),
            "duplicate_copies": sum(n - 1 for n in per_id.values()),
            "duplicate_event_ids_unexplained": len(dup_ids - ledger.resent),
            "http_attempts": ledger.http_attempts, "http_failures": ledger.http_failures,
            "http_503": len(http_503), "http_503_at": [round(t - self.t0, 1) for t in http_503],
            "http_503_with_quorum": unexplained_503,
            "quorum_lost_windows": [[round(a, 1), round(b, 1)] for a, b in quorum_lost],
            "unobserved_windows": [[round(a, 1), round(b, 1)] for a, b in unobserved],
            "unexpected_exits": self.unexpected_exits, "brokers": self.brokers, "scenario": self.args.scenario,
            "verify_exit": v.returncode, "verify_findings": verify_summary(verify),
            "max_lag_sealer": max((x[0] for x in lags), default=None),
            "max_lag_archiver": max((x[1] for x in lags), default=None),
            "recoveries": recoveries,
            "archiver_s3_failures": sum((self.dir / f"{n}.log").read_text(errors="replace").count("archiving failed; retrying")
                                        for n in self.roles if n.startswith("archiver")),
            "kills": {n: r.kills for n, r in self.roles.items() if r.kills},
            "monitor_errors": self.monitor.errors,
            "elapsed_s": round(time.monotonic() - self.t0, 1),
            "timeline": self.timeline,
        }
        rep["ok"] = (rep["never_acknowledged"] == 0 and rep["missing"] == 0 and rep["archive_duplicates"] == 0
                     and rep["duplicate_event_ids_unexplained"] == 0 and rep["verify_exit"] == 0
                     and rep["rows_archived"] == rep["records_in_kafka"] and not rep["unexpected_exits"]
                     and not rep["http_503_with_quorum"])
        return rep


def verify_summary(verify):
    """The verify run in a few numbers: findings by kind, records and manifests."""
    if "error" in verify:
        return verify["error"]
    parts = verify.get("partitions", [])
    parts = parts.values() if isinstance(parts, dict) else parts
    return {"findings": dict(Counter(f.get("kind", "?") for f in verify.get("findings", []))),
            "records": sum(p.get("records", 0) for p in parts),
            "manifests": sum(p.get("manifests", 0) for p in parts)}


def print_report(rep):
    rows = [
        ("events sent", rep["events_sent"]), ("acknowledged to clients", rep["acknowledged"]),
        ("never acknowledged (must be 0)", rep["never_acknowledged"]),
        ("records in Kafka", rep["records_in_kafka"]), ("rows archived", rep["rows_archived"]),
        ("missing: acknowledged, not archived (must be 0)", rep["missing"]),
        ("duplicates in the archive: one Kafka record twice (must be 0)", rep["archive_duplicates"]),
        ("event ids re-sent by clients after an ambiguous failure", rep["resent_by_clients"]),
        ("event ids archived twice (at-least-once re-sends)", rep["duplicate_event_ids"]),
        ("  of which never re-sent by a client (must be 0)", rep["duplicate_event_ids_unexplained"]),
        ("archived but never acknowledged", rep["archived_unacknowledged"]),
        ("auditlog verify", ("clean: " if rep["verify_exit"] == 0 else f"exit {rep['verify_exit']}: ") + str(rep["verify_findings"])),
        ("archiver S3 failures logged (retried)", rep["archiver_s3_failures"]),
        ("max sealer lag (records)", rep["max_lag_sealer"]), ("max archiver lag (records)", rep["max_lag_archiver"]),
        ("HTTP requests / failed attempts", f"{rep['http_attempts']} / {rep['http_failures']}"),
        ("HTTP 503 while every partition had an in-sync quorum (must be 0)", len(rep["http_503_with_quorum"])),
        ("windows with a partition under min.insync.replicas (s)", rep["quorum_lost_windows"]),
        ("windows the monitor could not see the cluster (s)", rep["unobserved_windows"]),
        ("pipeline processes that exited on their own (must be none)", rep["unexpected_exits"]),
        ("SIGKILLs", rep["kills"]), ("elapsed", f"{rep['elapsed_s']} s"),
    ]
    print("\n== chaos report ==")
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("\nrecovery after each fault (seconds until sealed / archived everything published before it):")
    for r in rep["recoveries"]:
        print(f"  t={r['at_s']:>6}s  {r['fault']:<24} sealed {r['sealed_s']}  archived {r['archived_s']}")
    print("\nresult:", "PASS" if rep["ok"] else "FAIL")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="events to send (half HTTP, half Kafka)")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--min-load-seconds", type=float, default=90.0,
                   help="spread the load over at least this long, so every fault lands while it runs")
    p.add_argument("--kill-interval", type=float, default=20.0)
    p.add_argument("--ingest-kill-at", type=float, default=8.0)
    p.add_argument("--s3-outage-at", type=float, default=12.0)
    p.add_argument("--s3-outage", type=float, default=30.0)
    p.add_argument("--scenario", choices=("chaos", "failover"), default="chaos")
    p.add_argument("--leader-kill-at", type=float, default=45.0,
                   help="SIGKILL the busiest events partition's leader (one node: stop and restart the broker)")
    p.add_argument("--broker-down", type=float, default=10.0, help="seconds a killed node stays down")
    p.add_argument("--controller-failover-at", type=float, default=65.0)
    p.add_argument("--seals-leader-kill-at", type=float, default=35.0, help="failover scenario")
    p.add_argument("--rolling-restart-at", type=float, default=60.0, help="failover scenario")
    p.add_argument("--http-clients", type=int, default=4)
    p.add_argument("--batch", type=int, default=100, help="events per HTTP request")
    p.add_argument("--timeout", type=float, default=3600.0, help="bound on the load phase, seconds")
    p.add_argument("--drain-timeout", type=float, default=900.0)
    p.add_argument("--workdir", help="logs and configs (default .stack/chaos/<run>)")
    p.add_argument("--json", help="also write the report as JSON here")
    args = p.parse_args()
    chaos = Chaos(args)
    try:
        rep = chaos.run()
    finally:
        chaos.stop()
    print_report(rep)
    print(f"logs and configs: {chaos.dir}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2))
    sys.exit(0 if rep["ok"] else 1)


if __name__ == "__main__":
    main()
