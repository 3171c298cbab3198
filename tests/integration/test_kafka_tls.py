"""Kafka over SASL_SSL (SCRAM-SHA-512 over TLS) through `kafka.properties`,
against a real broker: an Apache Kafka node of the test's own whose client
listener requires TLS and SCRAM (the user is created when its storage is
formatted), with a self-signed certificate.

`auditlog` creates the topic and publishes with the password from the
environment, verifying the broker's certificate against the configured CA;
confluent-kafka reads the events back the same way. A wrong password and a
certificate no configured CA vouches for are both refused, with a non-zero
exit and a message that says which, and the password never reaches the log."""
import json
import os
import subprocess

from conftest import make_event, self_signed_cert, wait_until
from kafkanode import KafkaNode

PASSWORD = "scram-pass-7f3a"


def test_publish_over_sasl_ssl_verifies_certificate_and_password(stack, tmp_path):
    cert, key = self_signed_cert(tmp_path, "broker")
    pem = tmp_path / "broker.pem"
    pem.write_bytes(key.read_bytes() + cert.read_bytes())
    node = KafkaNode(tmp_path / "kafka", {"INTERNAL": "PLAINTEXT", "SECURE": "SASL_SSL"}, extra="\n".join([
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.secure.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PEM", f"ssl.keystore.location={pem}"]),
        format_args=["--add-scram", f"SCRAM-SHA-512=[name=auditlog,password={PASSWORD}]"])
    tls = node.ports["SECURE"]
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
        node.wait_ready("INTERNAL")
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
        node.stop()
