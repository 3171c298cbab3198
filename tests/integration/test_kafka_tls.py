"""Kafka over SASL_SSL (SCRAM-SHA-512 over TLS) through `kafka.properties`,
against a real broker: a second Tansu that requires SASL authentication,
whose only advertised listener is HAProxy terminating TLS in front of it
(Tansu 0.6.0 accepts --cert but does not serve TLS itself).

`auditlog` creates the topic and publishes with the password from the
environment, verifying the broker's certificate against the configured CA;
confluent-kafka reads the events back the same way. A wrong password and a
certificate no configured CA vouches for are both refused, with a non-zero
exit and a message that says which, and the password never reaches the log."""
import json
import os
import subprocess

from conftest import free_port, make_event, read_env, self_signed_cert, wait_until

PASSWORD = "scram-pass-7f3a"


def start_tansu(tansu, data, port, advertised, *extra):
    return subprocess.Popen([tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                             "--advertised-listener-url", f"tcp://127.0.0.1:{advertised}",
                             "--storage-engine", "sqlite://tansu.db", *extra],
                            cwd=data, stdout=open(data / "tansu.log", "a"), stderr=subprocess.STDOUT)


def stop(p):
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()


def test_publish_over_sasl_ssl_verifies_certificate_and_password(stack, tmp_path):
    tansu = read_env()["AUDITLOG_TANSU_BIN"]
    plain, tls = free_port(), free_port()
    data = tmp_path / "tansu"
    data.mkdir()
    # The user is created on an open broker, which then restarts requiring SASL.
    broker = start_tansu(tansu, data, plain, plain)
    wait_until("the user created", lambda: subprocess.run(
        [tansu, "user", "create", "--broker", f"tcp://127.0.0.1:{plain}", "auditlog", PASSWORD],
        capture_output=True, timeout=20).returncode == 0, timeout=30, interval=0.5)
    stop(broker)
    cert, key = self_signed_cert(tmp_path, "broker")
    pem = tmp_path / "broker.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    (tmp_path / "haproxy.cfg").write_text(f"""defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend kafka_tls
  bind 127.0.0.1:{tls} ssl crt {pem}
  default_backend tansu
backend tansu
  server t 127.0.0.1:{plain}
""")
    procs = [start_tansu(tansu, data, plain, tls, "--authentication"),
             subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")],
                              stdout=open(tmp_path / "haproxy.log", "w"), stderr=subprocess.STDOUT)]
    topic = "sasl.events"
    secure = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "auditlog"}

    def config(ca):
        path = tmp_path / f"sasl-{ca.name if ca else 'system-cas'}.toml"
        props = {**secure, **({"ssl.ca.location": str(ca)} if ca else {})}
        text = stack.write_config(path, topic, kafka={"message_timeout_ms": 10000},
                                  **{"kafka.properties": props}).read_text()
        path.write_text(text.replace(stack.kafka, f"127.0.0.1:{tls}"))
        return path

    def auditlog(cfg, *args, password=PASSWORD):
        env = dict(os.environ, AUDITLOG_KAFKA__PROPERTIES__SASL_PASSWORD=password)
        return subprocess.run([stack.bin, "--config", str(cfg), *args], capture_output=True, text=True, timeout=120, env=env)

    try:
        good = config(cert)
        wait_until("topics created over SASL_SSL", lambda: auditlog(good, "topics", "create").returncode == 0,
                   timeout=60, interval=1.0)
        events = [make_event("acme", i) for i in range(50)]
        src = tmp_path / "events.ndjson"
        src.write_text("".join(json.dumps(e) + "\n" for e in events))
        r = auditlog(good, "publish", str(src))
        assert r.returncode == 0, r.stderr

        from confluent_kafka import Consumer

        c = Consumer({"bootstrap.servers": f"127.0.0.1:{tls}", **secure, "sasl.password": PASSWORD,
                      "ssl.ca.location": str(cert), "group.id": "sasl-reader", "auto.offset.reset": "earliest",
                      "log_level": 0})
        c.subscribe([topic])
        seen = set()
        wait_until("the events read back over SASL_SSL", lambda: seen.update(
            json.loads(m.value())["event_id"] for m in c.consume(100, timeout=1.0) if not m.error()) or len(seen) == len(events),
            timeout=60, interval=0)
        c.close()
        assert seen == {e["event_id"] for e in events}

        r = auditlog(good, "publish", str(src), password="not-the-password")
        assert r.returncode != 0, "publishing succeeded with a wrong password"
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error:") and "SASL authentication" in last, r.stderr[-2000:]
        # without ssl.ca.location: the system CAs, which do not vouch for our broker
        r = auditlog(config(None), "publish", str(src))
        assert r.returncode != 0, "publishing succeeded against a broker certificate no CA vouches for"
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error:") and "certificate verify failed" in last, r.stderr[-2000:]
        assert PASSWORD not in r.stderr
    finally:
        for p in procs:
            stop(p)
