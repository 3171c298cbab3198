"""Broker failover on a three-node Apache Kafka cluster (KRaft; topics at replication factor 3,
min.insync.replicas=2), while events stream through gateway -> sealers -> archivers
(scripts/chaos.py --scenario failover, 60,000 events):

1. the leader of the busiest events partition is SIGKILLed and brought back, then the leader of a
   seals partition;
2. all three nodes restart cleanly (SIGTERM: controlled shutdown), one at a time, each back in
   every ISR before the next.

Every event acknowledged with 202 (or by the broker to the direct producer) is archived exactly
once by (partition, offset), `auditlog verify` is clean, no sealer, archiver or gateway exits, and
the gateway never answers 503 while every partition has an in-sync quorum.
Runs late (zx): it shares the three-node cluster with the chaos run."""
import json
import os
import subprocess
import sys

from conftest import ROOT

EVENTS = 60_000


def test_leader_kills_and_a_rolling_restart_lose_nothing(stack, cluster3, tmp_path):
    out = tmp_path / "report.json"
    env = dict(os.environ, AUDITLOG_BIN=stack.bin, **cluster3)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "chaos.py"), "--scenario", "failover",
                        "--events", str(EVENTS), "--json", str(out), "--workdir", str(tmp_path / "run"), "--seed", "11",
                        "--min-load-seconds", "150", "--leader-kill-at", "10", "--seals-leader-kill-at", "30",
                        "--rolling-restart-at", "50"],
                       capture_output=True, text=True, env=env, timeout=1200)
    print(r.stdout)
    assert out.exists(), f"no report; exit {r.returncode}\n{r.stderr[-4000:]}"
    rep = json.loads(out.read_text())
    assert rep["brokers"] == 3 and rep["scenario"] == "failover"
    # the accounting: every acknowledged event archived exactly once
    assert rep["acknowledged"] == EVENTS and rep["never_acknowledged"] == 0
    assert rep["missing"] == 0
    assert rep["archive_duplicates"] == 0
    assert rep["duplicate_event_ids_unexplained"] == 0
    assert rep["rows_archived"] == rep["records_in_kafka"] >= EVENTS
    assert rep["verify_exit"] == 0, rep["verify_findings"]
    assert rep["verify_findings"]["records"] == rep["rows_archived"]
    # nothing of the pipeline died, and 503 only without an in-sync quorum
    assert rep["unexpected_exits"] == []
    assert rep["http_503_with_quorum"] == [], (rep["http_503_with_quorum"], rep["quorum_lost_windows"])
    assert rep["kills"] == {}, "the failover scenario touches no pipeline process"
    assert rep["ok"] is True and r.returncode == 0
    # the faults really happened, in order, while the load ran
    events = [(e["event"], e.get("node")) for e in rep["timeline"]]
    kills = [e for e in rep["timeline"] if e["event"] == "broker SIGKILL"]
    assert len(kills) == 2 and ".seals[" not in kills[0]["leads"] and ".seals[" in kills[1]["leads"]
    assert [n for what, n in events if what == "rolling restart: stop"] == [1, 2, 3]
    assert [n for what, n in events if what == "rolling restart: back"] == [1, 2, 3]
    load_done = next(e["t"] for e in rep["timeline"] if e["event"] == "load done")
    assert next(e["t"] for e in rep["timeline"] if e["event"] == "rolling restart: back" and e["node"] == 3) < load_done
    assert all(x["archived_s"] is not None for x in rep["recoveries"]), rep["recoveries"]
