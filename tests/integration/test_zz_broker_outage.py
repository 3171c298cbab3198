"""The gateway with the broker stopped and restarted (runs last: it stops the
shared broker)."""
import subprocess
import time

import requests
from conftest import ROOT, make_event, wait_until


def stack_cmd(*args):
    r = subprocess.run([str(ROOT / "scripts" / "stack"), *args], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr


def test_broker_down_gives_503_and_recovers_without_restart(stack, gateway_factory):
    topic = stack.create_topic()
    gw = gateway_factory(topic)
    assert gw.post(make_event("acme", 1)).status_code == 202
    stack_cmd("broker-stop")
    try:
        wait_until("/readyz to answer 503", lambda: requests.get(gw.url + "/readyz", timeout=5).status_code == 503, timeout=60)
        started = time.monotonic()
        r = gw.post(make_event("acme", 2), timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "1"
        assert time.monotonic() - started < 10, "POST hung while the broker was down"
        assert gw.proc.poll() is None, "gateway crashed"
    finally:
        stack_cmd("broker-start")
    wait_until("/readyz to answer 200", lambda: requests.get(gw.url + "/readyz", timeout=5).status_code == 200, timeout=90)
    r = wait_until("a POST to succeed", lambda: (lambda r: r if r.status_code == 202 else None)(gw.post(make_event("acme", 3))), timeout=60)
    assert r.json()["accepted"] == 1
    ids = [m.value() for m in stack.read_all(topic)]
    assert len(ids) == 2
