"""docs/ANALYSTS.md, run as written against an archive the pipeline wrote:
the DuckDB (straight from S3 with httpfs, and over pyarrow) and pyarrow blocks
are extracted from the document and executed; only the endpoint is substituted, and the key
prefix is set where each block says to set it. httpfs is loaded by the document's offline block
(from its PyPI wheel) instead of `INSTALL httpfs; LOAD httpfs;` (which downloads it; no internet
here)."""
import datetime as dt
import json
import re
import uuid
from pathlib import Path

from conftest import make_event, wait_until
from test_archiver import manifests, s3client, start_archiver

DOC = (Path(__file__).parents[2] / "docs" / "ANALYSTS.md").read_text()
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def block(name):
    m = re.search(rf"```(?:sql|python) name={re.escape(name)}\n(.*?)```", DOC, re.S)
    assert m, f"no block named {name} in docs/ANALYSTS.md"
    return m.group(1)


def ts(delta):
    return (dt.datetime.now(dt.timezone.utc) + delta).isoformat().replace("+00:00", "Z")


def events():
    h = dt.timedelta(hours=1)
    out = []
    for i, (action, ago) in enumerate([("invoice.view", 3 * h), ("invoice.update", 2 * h), ("invoice.delete", h)]):
        out.append(make_event("acme", i, action=action, event_time=ts(-ago),
                              actor={"type": "user", "id": "u-42"}, resource={"type": "invoice", "id": "inv-9"}))
    # Near misses: another invoice, another actor, and the same pair ten days ago.
    out.append(make_event("acme", 10, actor={"type": "user", "id": "u-42"}, resource={"type": "invoice", "id": "inv-8"}, event_time=ts(-h)))
    out.append(make_event("acme", 11, actor={"type": "user", "id": "u-43"}, resource={"type": "invoice", "id": "inv-9"}, event_time=ts(-h)))
    out.append(make_event("acme", 12, actor={"type": "user", "id": "u-42"}, resource={"type": "invoice", "id": "inv-9"},
                          action="invoice.print", event_time=ts(-10 * 24 * h)))
    for span in range(1, 5):
        out.append(make_event(f"tenant-{span % 2}", 20 + span, source=f"svc-{span}", action=f"step.{span}",
                              trace=f"00-{TRACE}-{span:016x}-01", event_time=ts(-h + span * dt.timedelta(seconds=1))))
    for i in range(6):
        out.append(make_event("globex" if i < 4 else "acme", 30 + i, outcome="failure", reason="denied",
                              action="login" if i % 2 == 0 else "export", event_time=ts(-h)))
    return out


def test_analyst_queries_run_as_written_against_a_real_archive(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic)
    sealers.start()
    prefix = f"a-{uuid.uuid4().hex[:8]}/"
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", prefix)
    try:
        evs = events()
        resent = make_event("initech", 50, action="noop", event_time=ts(-dt.timedelta(hours=1)))
        evs.append(resent)
        src = tmp_path / "events.ndjson"
        # the last event twice, as a client re-sending after a lost answer would
        src.write_text("".join(json.dumps(e) + "\n" for e in evs + [resent]))
        r = stack.run("publish", str(src), config=stack.write_config(tmp_path / "pub.toml", topic))
        assert r.returncode == 0, r.stderr
        s3 = s3client(stack)
        wait_until("all rows archived", lambda: sum(o["rows"] for m in manifests(s3, "audit-archive", prefix)
                                                    for o in m["objects"]) == len(evs) + 1, timeout=120, interval=1.0)
    finally:
        archiver.terminate()
        archiver.wait(30)

    host = stack.s3.replace("http://", "")

    def localise(code):
        """The endpoint, and the prefix set where each block says to set it."""
        code = code.replace("127.0.0.1:19000", host)
        assert 'PREFIX = ""' in code or "SET VARIABLE prefix = ''" in code, "each block sets the prefix"
        for blank, ours in (('PREFIX = ""', f'PREFIX = "{prefix}"'), ("SET VARIABLE prefix = ''", f"SET VARIABLE prefix = '{prefix}'")):
            code = code.replace(blank, ours)
        return code

    ns = {}
    exec(localise(block("duckdb-over-pyarrow")), ns)  # noqa: S102 - the document's own code
    over_pyarrow = ns["con"]
    ns = {}
    exec(block("duckdb-httpfs-offline"), ns)  # noqa: S102 - the offline route, as written
    httpfs = ns["con"]
    first, rest = localise(block("duckdb-httpfs")).split("\n", 1)
    assert first == "INSTALL httpfs; LOAD httpfs;", first
    httpfs.execute(rest)
    for con in (over_pyarrow, httpfs):
        check_queries(con, evs)

    ns = {}
    exec(localise(block("pyarrow-trace")), ns)  # noqa: S102
    trace = ns["trace"]
    assert trace.column("action").to_pylist() == ["step.1", "step.2", "step.3", "step.4"]
    assert str(trace.schema.field("event_time").type) == "timestamp[us, tz=UTC]"


def check_queries(con, evs):
    rows = con.execute(block("actor-on-resource")).fetchall()
    assert [r[1] for r in rows] == ["invoice.view", "invoice.update", "invoice.delete"]
    assert all(r[0].tzinfo is not None for r in rows), "event_time must come back as a UTC timestamp"

    rows = con.execute(block("trace")).fetchall()
    assert [r[2] for r in rows] == ["step.1", "step.2", "step.3", "step.4"]
    assert [r[6] for r in rows] == [f"{s:016x}" for s in range(1, 5)]

    rows = con.execute(block("failures")).fetchall()
    assert rows == [("globex", "export", 2), ("globex", "login", 2), ("acme", "export", 1), ("acme", "login", 1)]

    assert con.execute(block("once-per-event")).fetchall() == [(len(evs) + 1, len(evs), len(evs))]
