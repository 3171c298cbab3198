"""Issue 22: the contracts a person relies on. `auditlog config` never prints a secret and shows what
is in effect; exit codes follow the README on every path (a closed or full stdout included); paths in
the config follow the config file; the gateway's small mismatches. Each test checks the behaviour and
the message."""
import json
import os
import socket
import subprocess
import time

import requests
from conftest import make_event

SECRETS = ["hunter2-file", "hunter3-jaas", "hunter4-env", "hunter5-oauth"]


def run(stack, cfg, *args, env=None, cwd=None):
    return subprocess.run([stack.bin, "--config", str(cfg), *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})), cwd=cwd)


# --- 3. secrets and the exit-code contract ---------------------------------------------------------

def test_config_redacts_secret_properties_from_the_file_and_the_environment(stack, tmp_path):
    cfg = stack.write_config(tmp_path / "c.toml", "t", **{"kafka.properties": {
        "sasl.username": "auditlog", "sasl.password": SECRETS[0],
        "sasl.oauthbearer.config": f"principal=auditlog scope=audit extension_token={SECRETS[1]}"}})
    r = run(stack, cfg, "config", env={"AUDITLOG_KAFKA__PROPERTIES__SSL_KEY_PASSWORD": SECRETS[2],
                                       "AUDITLOG_KAFKA__PROPERTIES__SSL_KEYSTORE_PASSWORD": SECRETS[3]})
    assert r.returncode == 0, r.stderr
    for secret in SECRETS:
        assert secret not in r.stdout and secret not in r.stderr, secret
    props = json.loads(r.stdout)["kafka"]["properties"]
    for name in ("sasl.password", "sasl.oauthbearer.config", "ssl.key.password", "ssl.keystore.password"):
        assert props[name] == "<redacted>", (name, props)
    assert props["sasl.username"] == "auditlog"
    # Java's sasl.jaas.config is refused by librdkafka's parser (exit 2, the property named), and the
    # refusal does not echo its secret either.
    java = stack.write_config(tmp_path / "java.toml", "t", **{"kafka.properties": {
        "sasl.jaas.config": f'org.apache.kafka.common.security.scram.ScramLoginModule required password="{SECRETS[1]}";'}})
    r = run(stack, java, "config")
    assert r.returncode == 2 and "kafka.properties.sasl.jaas.config = <redacted>: librdkafka refuses it" in r.stderr, r.stderr
    assert SECRETS[1] not in r.stdout + r.stderr


def test_config_shows_forced_properties_with_the_value_in_effect(stack, tmp_path):
    cfg = stack.write_config(tmp_path / "c.toml", "t", **{"kafka.properties": {
        "acks": "1", "enable.idempotence": "false", "linger.ms": "7"}})
    r = run(stack, cfg, "config")
    assert r.returncode == 0, r.stderr
    props = json.loads(r.stdout)["kafka"]["properties"]
    assert props["acks"] == "all" and props["enable.idempotence"] == "true" and props["linger.ms"] == "7", props
    assert ('note: kafka.properties "acks" = "1" is overridden for the producers: "all" is in effect '
            "(forced after [kafka.properties]; delivery guarantees depend on it)") in r.stderr, r.stderr
    assert 'kafka.properties "enable.idempotence" = "false" is overridden for the producers: "true" is in effect' in r.stderr


def test_a_full_or_closed_stdout_is_an_error_not_a_panic(stack, tmp_path):
    cfg = stack.write_config(tmp_path / "c.toml", "t")
    with open("/dev/full", "w") as full:
        r = subprocess.run([stack.bin, "--config", str(cfg), "config"], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "error: cannot write to standard output: No space left on device" in r.stderr, r.stderr
    assert "panicked" not in r.stderr
    r = subprocess.run(["bash", "-c", f"'{stack.bin}' sample --count 100000 | head -0; echo \"${{PIPESTATUS[0]}}\""],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "1" and "panicked" not in r.stderr, (r.stdout, r.stderr)


def test_key_file_problems_exit_2_naming_the_file(stack, tmp_path):
    missing = tmp_path / "nope.key"
    cfg = stack.write_config(tmp_path / "c.toml", "t", sealer={"key_file": str(missing), "metrics_listen": ""})
    r = run(stack, cfg, "seal")
    assert r.returncode == 2 and f"key file {missing}: No such file or directory" in r.stderr, (r.returncode, r.stderr)
    assert stack.run("keygen", "--out", str(tmp_path / "loose.key")).returncode == 0
    (tmp_path / "loose.key").chmod(0o644)
    cfg = stack.write_config(tmp_path / "l.toml", "t", sealer={"key_file": str(tmp_path / "loose.key"), "metrics_listen": ""})
    r = run(stack, cfg, "seal")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "mode 644 lets group or others read the secret key; run chmod 600" in r.stderr


def test_a_busy_metrics_port_exits_2_naming_the_field(stack, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert stack.run("keygen", "--out", str(tmp_path / "s.key")).returncode == 0
        cfg = stack.write_config(tmp_path / "c.toml", "t", sealer={"key_file": str(tmp_path / "s.key"),
                                                                   "metrics_listen": f"127.0.0.1:{port}"})
        r = run(stack, cfg, "seal")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"config field sealer.metrics_listen: cannot listen on 127.0.0.1:{port} for metrics" in r.stderr, r.stderr


def test_a_retention_no_put_could_carry_is_refused_at_config_check(stack, tmp_path):
    """An error that cannot heal (a retain-until date beyond what S3's date headers carry) is a
    configuration error before anything connects, not a PUT retried forever."""
    for field, value in (("retention_days", 3_000_000), ("retention_days_by_topic", {"t": 40_000}),
                         ("retention_days_by_action", {"admin.": 36_501})):
        cfg = stack.write_config(tmp_path / "c.toml", "t", archiver={field: value})
        for args in (["config"], ["archive"]):
            r = run(stack, cfg, *args)
            assert r.returncode == 2, (field, args, r.returncode, r.stderr)
            assert f"archiver.{field}" in r.stderr and "36500 days (100 years)" in r.stderr, r.stderr
    cfg = stack.write_config(tmp_path / "c.toml", "t", archiver={"retention_days": 36_500})
    assert run(stack, cfg, "config").returncode == 0, "100 years is accepted"


def test_several_sealers_share_one_config_with_metrics_port_0(stack, sealers_factory, tmp_path):
    """Port 0: each instance on the host gets a free metrics port and logs it; both serve /metrics."""
    import re
    import urllib.request

    from conftest import wait_until

    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic, metrics_listen="127.0.0.1:0")
    procs, logs = [], []
    for i in range(2):
        logs.append(tmp_path / f"port0-sealer-{i}.log")
        with open(logs[-1], "w") as out:
            procs.append(subprocess.Popen([stack.bin, "--config", str(sealers.config), "seal"], stdout=out,
                                          stderr=subprocess.STDOUT, env=dict(os.environ, AUDITLOG_LOG="info")))
    try:
        ports = []
        for log in logs:
            def bound(log=log):
                m = re.search(r"serving /metrics.*?bound=127\.0\.0\.1:(\d+)|bound=127\.0\.0\.1:(\d+).*?serving /metrics",
                              log.read_text())
                return m and int(m.group(1) or m.group(2))
            ports.append(wait_until("the sealer to log its metrics port", bound, timeout=30))
        assert len(set(ports)) == 2, ports
        for port in ports:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            assert "auditlog_" in body, body[:500]
        assert all(p.poll() is None for p in procs), [log.read_text()[-1000:] for log in logs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


# --- 4. config-relative paths ----------------------------------------------------------------------

def test_key_paths_resolve_against_the_config_file_not_the_working_directory(stack, tmp_path):
    conf = tmp_path / "etc"
    (conf / "keys").mkdir(parents=True)
    for name in ("sealer", "archiver"):
        assert stack.run("keygen", "--out", str(conf / "keys" / f"{name}.key")).returncode == 0
    cfg = stack.write_config(conf / "auditlog.toml", "t",
                             archiver={"key_file": "keys/archiver.key", "seal_keys": ["keys/sealer.pub"]},
                             sealer={"key_file": "keys/sealer.key", "trusted_keys": [str(conf / "keys" / "archiver.pub")]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run(stack, cfg, "config", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["sealer"]["key_file"] == str(conf / "keys" / "sealer.key")
    assert shown["archiver"]["seal_keys"] == [str(conf / "keys" / "sealer.pub")]
    assert shown["sealer"]["trusted_keys"] == [str(conf / "keys" / "archiver.pub")]  # absolute: unchanged
    # verify-proof takes its keys from the config: they load from another working directory.
    proof = elsewhere / "proof.json"
    proof.write_text("{}")
    r = run(stack, cfg, "verify-proof", str(proof), cwd=elsewhere)
    assert r.returncode == 1 and "is not a proof" in r.stdout, (r.returncode, r.stdout, r.stderr)
    # A value from the environment stays relative to the working directory, as a default does.
    r = run(stack, cfg, "config", cwd=elsewhere, env={"AUDITLOG_SEALER__KEY_FILE": "here.key"})
    shown = json.loads(r.stdout)
    assert shown["sealer"]["key_file"] == "here.key" and shown["ingest"]["tls_cert_file"] == ""


# --- 5. the small mismatches ------------------------------------------------------------------------

def test_a_request_without_content_type_is_415_and_publishes_nothing(stack, gateway_factory):
    topic = stack.create_topic(1)
    gw = gateway_factory(topic)
    r = requests.post(gw.url + "/v1/events", data=json.dumps(make_event("acme", 1)), timeout=30)
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["error"] == "unsupported_media_type"
    assert body["message"].startswith("no Content-Type: send application/json"), body
    assert gw.post(make_event("acme", 2)).status_code == 202
    assert sum(stack.end_offsets(topic).values()) == 1, "only the request with a Content-Type was published"


def test_a_body_over_the_limit_gets_a_json_413(stack, gateway_factory):
    topic = stack.create_topic(1)
    gw = gateway_factory(topic, max_body_bytes=65536)
    r = gw.post([make_event("acme", i) for i in range(400)])
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert r.json() == {"error": "body_too_large",
                        "message": "the body is over ingest.max_body_bytes (65536 bytes); split it into several requests"}
    assert sum(stack.end_offsets(topic).values()) == 0


def test_topics_describe_includes_the_seals_topic(stack, tmp_path):
    name = "test.describe-" + str(time.time_ns())
    cfg = stack.write_config(tmp_path / "c.toml", name)
    r = stack.run("topics", "describe", config=cfg)
    assert r.returncode == 1 and f"topic {name} does not exist" in r.stderr, r.stderr
    assert stack.run("topics", "create", "--partitions", "2", config=cfg).returncode == 0
    r = stack.run("topics", "describe", config=cfg)
    assert r.returncode == 0, r.stderr
    assert f"topic {name} (2 partitions" in r.stdout and f"topic {name}.seals (2 partitions" in r.stdout, r.stdout
    info = json.loads(stack.run("topics", "describe", "--json", config=cfg).stdout)
    assert [p["partition"] for p in info["partitions"]] == [0, 1]
    assert info["seals"]["topic"] == f"{name}.seals" and len(info["seals"]["partitions"]) == 2
    lone = stack.create_topic(1)  # no seals topic
    r = stack.run("topics", "describe", config=stack.write_config(tmp_path / "lone.toml", lone))
    assert r.returncode == 0, r.stderr
    assert f"seals topic {lone}.seals does not exist: create it with `auditlog topics create`" in r.stdout, r.stdout
