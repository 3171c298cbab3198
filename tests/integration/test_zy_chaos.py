"""scripts/chaos in the suite (N = 200,000): the whole pipeline under faults.

On the three-node cluster: ingest x2 behind HAProxy, sealers x3 and archivers
x3; half the events go through the load balancer, half straight to Kafka,
while a sealer or archiver is SIGKILLed every 20 s, one gateway is killed, S3
is away for 30 s, the leader of the busiest events partition is SIGKILLed
(back after 10 s) and the active controller is stopped (a controller
failover). The report must show every event acknowledged and archived, no
Kafka record archived twice, every duplicate event id explained by a client
re-send, and a clean `auditlog verify`.

Runs late (zy): it shares the three-node cluster with the failover test.
"""
import json
import os
import subprocess
import sys

from conftest import ROOT

EVENTS = 200_000


def test_chaos_run_loses_nothing_and_verifies_clean(stack, cluster3, tmp_path):
    out = tmp_path / "report.json"
    env = dict(os.environ, AUDITLOG_BIN=stack.bin, **cluster3)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "chaos.py"), "--events", str(EVENTS), "--json", str(out),
                        "--workdir", str(tmp_path / "run"), "--seed", "7"],
                       capture_output=True, text=True, env=env, timeout=1500)
    print(r.stdout)
    assert out.exists(), f"no report; exit {r.returncode}\n{r.stderr[-4000:]}"
    rep = json.loads(out.read_text())
    # the accounting
    assert rep["events_sent"] == EVENTS
    assert rep["acknowledged"] == EVENTS and rep["never_acknowledged"] == 0
    assert rep["missing"] == 0
    assert rep["archive_duplicates"] == 0
    assert rep["duplicate_event_ids_unexplained"] == 0
    assert rep["archived_unacknowledged"] == 0
    assert rep["rows_archived"] == rep["records_in_kafka"] >= EVENTS
    assert rep["rows_archived"] - EVENTS == rep["duplicate_copies"], "every extra row is a re-sent event's second copy"
    assert rep["verify_exit"] == 0, rep["verify_findings"]
    assert rep["verify_findings"]["records"] == rep["rows_archived"]
    assert rep["ok"] is True and r.returncode == 0
    # the faults really happened while the pipeline ran
    events = [e["event"] for e in rep["timeline"]]
    assert "S3 unreachable" in events and "S3 reachable again" in events
    assert rep["brokers"] == 3
    assert "broker SIGKILL" in events and "broker back" in events
    assert "controller stop" in events and "controller moved" in events and "controller node back" in events
    moved = next(e for e in rep["timeline"] if e["event"] == "controller moved")
    stopped = next(e for e in rep["timeline"] if e["event"] == "controller stop")
    assert moved["to"] != stopped["node"], "the controller did not fail over"
    assert rep["unexpected_exits"] == []
    load_done = next(e["t"] for e in rep["timeline"] if e["event"] == "load done")
    assert next(e["t"] for e in rep["timeline"] if e["event"] == "controller stop") < load_done, "the faults ran under load"
    assert rep["kills"].get("ingest-1") == 1
    worker_kills = sum(n for role, n in rep["kills"].items() if not role.startswith("ingest"))
    assert worker_kills >= 3, rep["kills"]
    assert rep["archiver_s3_failures"] > 0, "no archiver noticed S3 was gone"
    assert all(x["archived_s"] is not None for x in rep["recoveries"]), rep["recoveries"]
