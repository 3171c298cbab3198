"""The HTTP gateway against the real broker, read back by confluent-kafka."""
import json
import random
import subprocess
from collections import defaultdict

import requests
from conftest import free_port, make_event, self_signed_cert, wait_until


def ndjson(events):
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_10k_events_mixed_requests_come_back_exactly_once_in_tenant_order(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic)
    rng = random.Random(42)
    tenants = [f"tenant-{i}" for i in range(13)]
    seq = defaultdict(int)
    sent = []

    def next_events(n):
        out = []
        for _ in range(n):
            t = rng.choice(tenants)
            seq[t] += 1
            out.append(make_event(t, seq[t]))
        return out

    kinds = {"single": 0, "array": 0, "ndjson": 0}
    while len(sent) < 10_000:
        kind = rng.choice(["single", "array", "ndjson"])
        n = 1 if kind == "single" else min(rng.randint(50, 700), 10_000 - len(sent))
        batch = next_events(n)
        if kind == "single":
            r = gw.post(batch[0])
        elif kind == "array":
            r = gw.post(batch)
        else:
            r = gw.post(ndjson(batch), "application/x-ndjson")
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["accepted"] == n
        assert [a["event_id"] for a in body["events"]] == [e["event_id"] for e in batch]
        sent.extend(batch)
        kinds[kind] += 1
    assert all(kinds.values()), kinds

    records = stack.read_all(topic)
    got = [json.loads(m.value()) for m in records]
    ids = [g["event_id"] for g in got]
    assert len(ids) == len(set(ids)), "an event came back twice"
    assert sorted(ids) == sorted(e["event_id"] for e in sent)

    by_id = {e["event_id"]: e for e in sent}
    for m, g in zip(records, got):
        e = by_id[g["event_id"]]
        assert m.key() == e["tenant"].encode()
        assert g["event_time"] == "2026-11-26T10:30:00.123456Z"
        for field in ("tenant", "source", "action", "actor", "resource", "outcome", "trace", "attributes"):
            assert g[field] == e[field], field

    # Per tenant: one partition, and offsets follow the order sent.
    partitions = defaultdict(set)
    seqs = defaultdict(list)
    for m, g in sorted(zip(records, got), key=lambda x: (x[0].partition(), x[0].offset())):
        partitions[g["tenant"]].add(m.partition())
        seqs[g["tenant"]].append(int(g["attributes"]["seq"]))
    assert all(len(p) == 1 for p in partitions.values()), partitions
    for t, s in seqs.items():
        assert s == list(range(1, seq[t] + 1)), t


def test_one_invalid_event_publishes_nothing_and_names_it(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic)
    before = stack.end_offsets(topic)
    batch = [make_event("acme", i) for i in range(50)]
    batch[17]["actor"]["ip"] = "not-an-ip"
    r = gw.post(batch)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors == [{"index": 17, "field": "actor.ip", "rule": "ip_address",
                       "message": "must be an IPv4 or IPv6 address"}]

    lines = ndjson(batch[:3]) + '{"broken json\n' + ndjson(batch[3:5])
    r = gw.post(lines, "application/x-ndjson")
    assert r.status_code == 400, r.text
    assert [(e["index"], e["line"], e["rule"]) for e in r.json()["errors"]] == [(3, 4, "json_syntax")]
    assert stack.end_offsets(topic) == before


def test_generated_event_ids_are_uuid_v7_and_returned(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic)
    e = make_event("acme", 1)
    del e["event_id"]
    r = gw.post(e)
    assert r.status_code == 202, r.text
    ack = r.json()["events"][0]
    assert ack["event_id"][14] == "7"
    [m] = stack.read_all(topic)
    assert json.loads(m.value())["event_id"] == ack["event_id"]
    assert (m.partition(), m.offset()) == (ack["partition"], ack["offset"])


def test_batch_over_the_event_bound_is_413_and_publishes_nothing(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic, max_in_flight_events=10, max_batch_events=10)
    r = gw.post([make_event("acme", i) for i in range(11)])
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "too_many_events"
    assert sum(stack.end_offsets(topic).values()) == 0
    r = gw.post([make_event("acme", i) for i in range(10)])
    assert r.status_code == 202, r.text


def test_health_and_metrics(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic)
    import requests

    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200
    assert gw.post(make_event("acme", 1)).status_code == 202
    text = requests.get(gw.url + "/metrics", timeout=5).text
    assert "auditlog_ingest_events_accepted_total 1" in text
    assert 'auditlog_ingest_requests_total{status="202"} 1' in text
    assert "auditlog_ingest_broker_ready 1" in text


def test_bearer_tokens_401_403_and_nothing_published_for_a_foreign_tenant(stack, gateway_factory):
    import hashlib

    topic = stack.create_topic(3)
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    gw = gateway_factory(topic, tokens=[{"name": "billing", "sha256": sha("tok-billing"), "tenants": ["acme"]},
                                        {"name": "ops", "sha256": sha("tok-ops"), "tenants": ["*"]}])
    before = stack.end_offsets(topic)
    r = gw.post(make_event("acme", 1))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer") and r.json()["error"] == "missing_token"
    r = gw.post(make_event("acme", 1), token="tok-wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    batch = [make_event("acme", 1), make_event("globex", 2), make_event("acme", 3)]
    r = gw.post(batch, token="tok-billing")
    assert r.status_code == 403, r.text
    assert r.json()["errors"] == [{"index": 1, "tenant": "globex"}]
    assert stack.end_offsets(topic) == before, "a refused request published something"

    assert gw.post([batch[0], batch[2]], token="tok-billing").status_code == 202
    assert gw.post(batch[1], token="tok-ops").status_code == 202
    metrics = requests.get(gw.url + "/metrics", timeout=5).text
    for reason in ("missing_token", "invalid_token", "forbidden_tenant"):
        assert f'auditlog_ingest_auth_failures_total{{reason="{reason}"}} 1' in metrics, reason
    log = open(gw.log.name).read()
    assert "tok-billing" not in log and "tok-wrong" not in log and "tok-ops" not in log, "a token reached the log"


def test_slow_loris_client_is_cut_off_while_others_are_served(stack, gateway_factory):
    import socket
    import time

    topic = stack.create_topic(1)
    gw = gateway_factory(topic, header_timeout_ms=1000)
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(0.3)
    started, closed = time.monotonic(), False
    while time.monotonic() - started < 10:
        try:
            s.sendall(b"X")  # one header byte at a time, never finishing
            if s.recv(4096) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
    elapsed = time.monotonic() - started
    assert closed, "the slow client was never cut off"
    assert elapsed < 5, f"cut off only after {elapsed:.1f} s with a 1 s header timeout"
    assert gw.post(make_event("acme", 1)).status_code == 202, "the gateway stopped serving others"


def test_tls_gateway_serves_https_only(stack, gateway_factory, tmp_path):
    cert_path, key_path = self_signed_cert(tmp_path, "gw")
    topic = stack.create_topic(1)
    port = free_port()
    cfg = stack.write_config(tmp_path / "tls.toml", topic, ingest={
        "listen": f"127.0.0.1:{port}", "readiness_interval_ms": 200,
        "tls_cert_file": str(cert_path), "tls_key_file": str(key_path)})
    log = open(tmp_path / "tls-gateway.log", "w")
    proc = subprocess.Popen([stack.bin, "--config", str(cfg), "ingest"], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"https://localhost:{port}"
        wait_until("the TLS gateway", lambda: requests.get(url + "/readyz", verify=str(cert_path), timeout=2).status_code == 200,
                   timeout=30)
        r = requests.post(url + "/v1/events", json=make_event("acme", 1), verify=str(cert_path), timeout=30)
        assert r.status_code == 202, r.text
        try:
            plain = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert plain.status_code != 200, "plain HTTP was served on the TLS port"
        except requests.exceptions.RequestException:
            pass  # refused at the TLS layer, as it should be
    finally:
        proc.terminate()
        proc.wait(30)
