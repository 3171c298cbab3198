"""Fixtures for integration tests against the real local stack.

The stack (Apache Kafka + moto) must be up (`scripts/stack up`); if it is not,
every test fails with a clear message. Nothing is skipped. Each test gets its
own topic. Every wait is bounded. The failover and chaos tests share a
three-node cluster of their own (`cluster3`), started once and stopped at the
end of the session.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))  # tcpproxy, chaos: shared with the scripts
STACK = Path(os.environ.get("AUDITLOG_STACK_DIR", ROOT / ".stack"))


def read_env():
    env_file = STACK / "env"
    if not env_file.exists():
        pytest.fail(f"{env_file} is missing: run `scripts/stack up` first (scripts/test does)")
    return dict(line.split("=", 1) for line in env_file.read_text().split() if "=" in line)


def wait_until(what, predicate, timeout=30.0, interval=0.1):
    """Polls predicate until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def stop_processes(procs, what, timeout=60.0, fail=True):
    """SIGTERMs every process still running, then waits for all of them within one `timeout`.
    Kills any left and names it, with the tail of its log (`p.log_path`, when set): it fails the
    test if `fail` (a component must stop on its own well within the 30 s most supervisors give),
    else prints it."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    stuck = []
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stuck.append(p)
    for p in stuck:
        p.kill()
        p.wait()
    if stuck:
        tails = []
        for p in stuck:
            log = getattr(p, "log_path", None)
            tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-30:]) if log else "(no log)"
            tails.append(f"--- {' '.join(map(str, p.args))}\n{tail}")
        message = f"{len(stuck)} {what} did not stop within {timeout}s of SIGTERM:\n" + "\n".join(tails)
        if fail:
            pytest.fail(message)
        print(message)


def go_build(tmp_path_factory, name):
    """Builds the Go program tests/<name> once per session (Go's build cache makes a rebuild cheap);
    returns the binary's path."""
    out = tmp_path_factory.mktemp(name) / name
    r = subprocess.run(["go", "build", "-o", str(out), "."], cwd=ROOT / "tests" / name,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(directory, name):
    """A self-signed EC certificate for localhost and 127.0.0.1: (cert, key) PEM paths."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).add_extension(san, critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Stack:
    def __init__(self):
        env = read_env()
        self.kafka = env['AUDITLOG_STACK_BOOTSTRAP']
        self.s3 = f"http://127.0.0.1:{env['AUDITLOG_STACK_S3_PORT']}"
        self.bin = os.environ.get("AUDITLOG_BIN", str(ROOT / "target" / "debug" / "auditlog"))
        if not Path(self.bin).exists():
            pytest.fail(f"{self.bin} is missing: build with `cargo build --bin auditlog`")

    def admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.kafka, "log_level": 0})

    def create_topic(self, partitions=6, seals=False):
        """A fresh events topic; with seals=True also its `.seals` topic."""
        from confluent_kafka.admin import NewTopic

        name = f"test.{uuid.uuid4().hex[:12]}"
        names = [name] + ([name + ".seals"] if seals else [])
        admin = self.admin()  # must outlive the futures
        futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
        for n in names:
            futures[n].result(30)
            wait_until(f"topic {n} in metadata", lambda n=n: len(self.admin().list_topics(n, timeout=5).topics[n].partitions) == partitions)
        return name

    def end_offsets(self, topic):
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": self.kafka, "group.id": "offsets-probe", "log_level": 0})
        try:
            parts = c.list_topics(topic, timeout=10).topics[topic].partitions
            # Right after a broker restarts, a partition may answer NOT_LEADER until its leader has
            # loaded it: retried within a bound.
            return wait_until(f"the end offsets of {topic}", lambda: {
                p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in sorted(parts)}, timeout=60)
        finally:
            c.close()

    def read_all(self, topic, timeout=120.0):
        """Every record of topic, read by confluent-kafka (an independent client)."""
        from confluent_kafka import Consumer, TopicPartition

        ends = self.end_offsets(topic)
        c = Consumer({"bootstrap.servers": self.kafka, "group.id": f"reader-{uuid.uuid4().hex}",
                      "enable.auto.commit": False, "log_level": 0})
        try:
            c.assign([TopicPartition(topic, p, 0) for p in ends])
            records = []
            pos = {p: 0 for p in ends}
            deadline = time.monotonic() + timeout
            while any(pos[p] < ends[p] for p in ends):
                if time.monotonic() > deadline:
                    pytest.fail(f"reading {topic} timed out at {pos} of {ends}")
                for m in c.consume(num_messages=1000, timeout=1.0):
                    if m.error():
                        continue
                    records.append(m)
                    pos[m.partition()] = m.offset() + 1
            return records
        finally:
            c.close()

    def write_config(self, path, topic, **sections):
        lines = ["[kafka]", f'bootstrap_servers = "{self.kafka}"', f'events_topic = "{topic}"']
        if "archiver" in sections:
            # Ranges span at most 1 s of seals here (60 s by default), so a test waits for its
            # last range about as long as for its last seal; they still hold several seals.
            sections["archiver"] = {"group_max_age_ms": 1000, **sections["archiver"]}
        for k, v in sections.pop("kafka", {}).items():
            lines.append(f"{k} = {json.dumps(v)}")
        for name, values in sections.items():
            lines.append(f"[{name}]")
            tables = {k: v for k, v in values.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
            for k, v in values.items():
                if k not in tables:
                    lines.append(f"{json.dumps(k)} = {toml_value(v)}")
            for k, items in tables.items():  # arrays of tables, e.g. [[ingest.tokens]]
                for item in items:
                    lines.append(f"[[{name}.{k}]]")
                    lines += [f"{json.dumps(ik)} = {json.dumps(iv)}" for ik, iv in item.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, *args, config=None, timeout=300, input=None):
        cmd = [self.bin] + (["--config", str(config)] if config else []) + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)


def toml_value(v):
    """A TOML value: JSON's form for strings, numbers, booleans and arrays; an inline table for a dict."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    wait_until("the broker", lambda: s.admin().list_topics(timeout=5), timeout=30)
    return s


# The three-node cluster: scripts/chaos's defaults, so a developer's `scripts/chaos` and the suite
# share one cluster directory and its cached storage layout.
CLUSTER3_ENV = {"AUDITLOG_STACK_DIR": str(STACK / "cluster3"), "AUDITLOG_STACK_BROKERS": "3",
                "AUDITLOG_STACK_KAFKA_PORT": "19192", "AUDITLOG_STACK_S3_PORT": "19100"}


def cluster3_cmd(*args, timeout=300):
    env = dict(os.environ, **CLUSTER3_ENV)
    r = subprocess.run([str(ROOT / "scripts" / "stack"), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"scripts/stack {' '.join(args)} (three nodes) failed:\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="session")
def cluster3():
    """A three-node KRaft cluster (node ids 1-3, each broker and controller) and a moto of its own,
    beside the shared stack; its directory and environment for scripts/chaos.py."""
    cluster3_cmd("up")
    yield dict(CLUSTER3_ENV)
    cluster3_cmd("down")


class Gateway:
    def __init__(self, stack, tmp_path, topic, **ingest):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ingest = {"listen": f"127.0.0.1:{self.port}", "readiness_interval_ms": 200, **ingest}
        cfg = stack.write_config(tmp_path / "gateway.toml", topic, ingest=ingest,
                                 kafka={"message_timeout_ms": 5000, "request_timeout_ms": 2000})
        self.log = open(tmp_path / "gateway.log", "w")
        self.proc = subprocess.Popen([stack.bin, "--config", str(cfg), "ingest"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("the gateway to be ready", self.ready, timeout=30)

    def ready(self):
        if self.proc.poll() is not None:
            pytest.fail(f"gateway exited with {self.proc.returncode}; log: {self.log.name}")
        return requests.get(self.url + "/readyz", timeout=2).status_code == 200

    def log_tail(self, lines=60):
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def post(self, body, content_type="application/json", timeout=30, token=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url + "/v1/events", data=data, headers=headers, timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                pytest.fail("gateway did not stop within 30s of SIGTERM")
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def gateway_factory(stack, tmp_path):
    started = []

    def make(topic, **ingest):
        g = Gateway(stack, tmp_path, topic, **ingest)
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()


def duckdb_httpfs(endpoint, secret=True):
    """A DuckDB connection reading S3 straight from `endpoint` (http://host:port) with its httpfs
    extension, loaded from the duckdb-extension-httpfs wheel instead of `INSTALL httpfs` (which
    downloads it and has no internet here), and the stack's credentials as a secret."""
    import glob

    import duckdb
    import duckdb_extension_httpfs

    ext = glob.glob(str(Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"))
    assert ext, f"no httpfs extension for DuckDB {duckdb.__version__} in duckdb-extension-httpfs"
    con = duckdb.connect()
    con.execute(f"LOAD '{ext[0]}'")
    if not secret:
        return con
    host = endpoint.replace("http://", "")
    con.execute(f"CREATE SECRET local_s3 (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', "
                f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
    return con


def make_event(tenant, seq, **over):
    e = {
        "event_id": str(uuid.uuid4()),
        "event_time": "2026-11-26T11:30:00.123456+01:00",
        "tenant": tenant,
        "source": "pytest",
        "action": "thing.do",
        "actor": {"type": "user", "id": f"u-{seq % 97}", "ip": "192.0.2.7"},
        "resource": {"type": "thing", "id": f"t-{seq}"},
        "outcome": "success",
        "trace": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        "attributes": {"seq": str(seq)},
    }
    e.update(over)
    return e


class Sealers:
    """Starts and stops `auditlog seal` processes sharing one config and key."""

    def __init__(self, stack, tmp_path, topic, kafka=None, properties=None, archiver=None, **sealer):
        self.stack = stack
        self.tmp = tmp_path
        self.topic = topic
        self.key = tmp_path / "sealer.key"
        if not self.key.exists():
            r = stack.run("keygen", "--out", str(self.key))
            assert r.returncode == 0, r.stderr
        self.public = self.key.with_suffix(".pub")
        self.metrics_port = free_port()
        settings = {"key_file": str(self.key), "group_id": f"sealer-{uuid.uuid4().hex[:8]}",
                    "max_records": 5000, "max_interval_ms": 500, "heartbeat_interval_ms": 2000, **sealer}
        # Short sessions so a dead or paused member's partitions move quickly.
        props = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000", **(properties or {})}
        # `archiver` settings matter to a sealer only through the shared config check (the
        # memory plan reads sealer.max_bytes and archiver.group_max_seals together).
        self.config = stack.write_config(tmp_path / "sealer.toml", topic, sealer=settings, kafka=kafka or {},
                                         **{"kafka.properties": props}, **({"archiver": archiver} if archiver else {}))
        self.procs = []

    def start(self, metrics=False):
        n = len(self.procs)
        env = dict(os.environ, AUDITLOG_LOG="info,sealer=debug")
        port = self.metrics_port if metrics else free_port()
        env["AUDITLOG_SEALER__METRICS_LISTEN"] = f"127.0.0.1:{port}"
        log = open(self.tmp / f"sealer-{n}.log", "w")
        p = subprocess.Popen([self.stack.bin, "--config", str(self.config), "seal"], stdout=log, stderr=subprocess.STDOUT, env=env)
        p.log_path = log.name
        p.metrics_url = f"http://127.0.0.1:{port}/metrics"
        self.procs.append(p)
        return p

    def log(self, p):
        return Path(p.log_path).read_text()

    def publics(self):
        from chaincheck import key_id, load_public

        pub = load_public(self.public)
        return {key_id(pub).hex(): pub}

    def stop_all(self):
        # Not a failure here: a sealer stopping while its broker is down waits for its last
        # seal up to message.timeout.ms, and tests stop sealers in every state.
        stop_processes(self.procs, "sealers", timeout=30.0, fail=False)


@pytest.fixture
def sealers_factory(stack, tmp_path):
    made = []

    def make(topic, kafka=None, properties=None, archiver=None, **sealer):
        s = Sealers(stack, tmp_path, topic, kafka=kafka, properties=properties, archiver=archiver, **sealer)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop_all()
