"""The one Kafka adapter's promises, seen from the commands: a property librdkafka refuses is a
config error (exit 2) naming it, for every command that talks to Kafka; `seal` and `archive` say
the same thing about a missing topic and an unreachable broker; the gateway names a missing topic
instead of calling the broker unreachable."""
import subprocess
import uuid

import requests
from conftest import free_port, make_event, wait_until
from test_archiver import start_archiver


def last_line(text):
    return text.strip().splitlines()[-1] if text.strip() else ""


def test_a_property_librdkafka_refuses_is_a_config_error_naming_it(stack, tmp_path, sealers_factory):
    sealers = sealers_factory("audit.events", properties={"linger.msx": "5"})
    for args in (["config"], ["topics", "describe"], ["publish", "-"], ["seal"]):
        r = stack.run(*args, config=sealers.config, timeout=60, input="")
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert "config field kafka.properties.linger.msx = \"5\": librdkafka refuses it" in last_line(r.stderr), (args, r.stderr)
    secret = sealers_factory("audit.events", properties={"sasl.password": "hunter2", "ssl.key.password": "x",
                                                          "socket.timeout.ms": "soon"})
    r = stack.run("config", config=secret.config, timeout=60)
    assert r.returncode == 2 and "kafka.properties.socket.timeout.ms = \"soon\"" in r.stderr, r.stderr
    assert "hunter2" not in r.stderr + r.stdout


def run_archiver(stack, tmp_path, topic, sealers, cfg_edit=None):
    running, cfg, env = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", f"adapter-{uuid.uuid4().hex[:6]}/")
    running.terminate()  # only its config and environment are wanted here
    running.wait(60)
    if cfg_edit:
        cfg.write_text(cfg_edit(cfg.read_text()))
    return subprocess.run([stack.bin, "--config", str(cfg), "archive"], capture_output=True, text=True, env=env, timeout=120)


def test_seal_and_archive_say_the_same_about_a_missing_topic(stack, tmp_path, sealers_factory):
    topic = f"no.such.{uuid.uuid4().hex[:8]}"
    sealers = sealers_factory(topic)
    want = f"topic {topic} does not exist (create it with `auditlog topics create`)"
    r = stack.run("seal", config=sealers.config, timeout=120)
    assert r.returncode == 1 and want in last_line(r.stderr), r.stderr[-2000:]
    r = run_archiver(stack, tmp_path, topic, sealers)
    assert r.returncode == 1 and want in last_line(r.stderr), r.stderr[-2000:]


def test_seal_and_archive_say_the_same_about_an_unreachable_broker(stack, tmp_path, sealers_factory):
    port = free_port()  # nothing listens there
    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic, kafka={"request_timeout_ms": 3000})
    sealers.config.write_text(sealers.config.read_text().replace(stack.kafka, f"127.0.0.1:{port}"))
    want = f"Kafka brokers 127.0.0.1:{port} unreachable within"
    r = stack.run("seal", config=sealers.config, timeout=120)
    assert r.returncode == 1 and want in last_line(r.stderr), r.stderr[-2000:]
    r = run_archiver(stack, tmp_path, topic, sealers, lambda t: t.replace(stack.kafka, f"127.0.0.1:{port}"))
    assert r.returncode == 1 and want in last_line(r.stderr), r.stderr[-2000:]


def test_the_gateway_names_a_missing_topic(stack, tmp_path):
    topic = f"no.such.{uuid.uuid4().hex[:8]}"
    port = free_port()
    cfg = stack.write_config(tmp_path / "gateway.toml", topic,
                             ingest={"listen": f"127.0.0.1:{port}", "readiness_interval_ms": 200},
                             kafka={"request_timeout_ms": 2000})
    log = open(tmp_path / "gateway.log", "w")
    proc = subprocess.Popen([stack.bin, "--config", str(cfg), "ingest"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def answer():
            try:
                return requests.get(url + "/readyz", timeout=2)
            except requests.ConnectionError:
                return None
        # (a 503 Response is falsy, so its JSON body is what the wait returns)
        ready = wait_until("the gateway's first probe", lambda: (a := answer()) is not None and a.status_code == 503
                           and a.json().get("error") == "topic_missing" and a.json(), timeout=30)
        assert topic in ready["message"], ready
        r = requests.post(url + "/v1/events", json=make_event("acme", 1), timeout=10)
        assert r.status_code == 503 and r.json()["error"] == "topic_missing", r.text
        assert f"topic {topic} does not exist" in r.json()["message"]
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
